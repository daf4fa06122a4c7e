#include "server/audit/internal/line_format.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "kms/crypto/mac.h"
#include "server/json_string.h"

namespace strongroom::server::audit::internal {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kCheckpointContext[] = "strongroom-audit-checkpoint";  // signed with its NUL

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

// A cursor over one line; every Parse* returns false on malformed input.
class Parser {
 public:
  explicit Parser(absl::string_view line) : line_(line) {}

  bool AtEnd() const { return pos_ == line_.size(); }
  size_t pos() const { return pos_; }
  bool Consume(char c) {
    if (pos_ < line_.size() && line_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) const { return pos_ < line_.size() && line_[pos_] == c; }

  bool ParseString(std::string* out) {
    out->clear();
    if (!Consume('"')) return false;
    while (pos_ < line_.size()) {
      uint8_t c = static_cast<uint8_t>(line_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (!ParseEscape(out)) return false;
      } else if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
      } else {
        size_t length = Utf8SequenceLength(line_, pos_);
        if (length == 0) return false;
        out->append(line_.data() + pos_, length);
        pos_ += length;
      }
    }
    return false;
  }

  // A JSON number restricted to unsigned integers that fit in 64 bits.
  bool ParseUnsigned(uint64_t* out) {
    size_t start = pos_;
    uint64_t value = 0;
    while (pos_ < line_.size() && line_[pos_] >= '0' && line_[pos_] <= '9') {
      uint64_t digit = line_[pos_] - '0';
      if (value > (UINT64_MAX - digit) / 10) return false;
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) return false;
    if (line_[start] == '0' && pos_ - start > 1) return false;  // leading zero
    *out = value;
    return true;
  }

 private:
  bool ParseHex4(uint32_t* out) {
    if (pos_ + 4 > line_.size()) return false;
    uint32_t value = 0;
    for (int k = 0; k < 4; ++k) {
      char c = line_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        value |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        value |= c - 'A' + 10;
      } else {
        return false;
      }
    }
    *out = value;
    return true;
  }

  bool ParseEscape(std::string* out) {
    ++pos_;  // the backslash
    if (pos_ >= line_.size()) return false;
    char c = line_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out->push_back(c);
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    uint32_t unit;
    if (!ParseHex4(&unit)) return false;
    if (unit >= 0xdc00 && unit <= 0xdfff) return false;  // lone low surrogate
    if (unit >= 0xd800 && unit <= 0xdbff) {
      uint32_t low;
      if (!Consume('\\') || !Consume('u') || !ParseHex4(&low)) return false;
      if (low < 0xdc00 || low > 0xdfff) return false;
      unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(unit, out);
    return true;
  }

  absl::string_view line_;
  size_t pos_ = 0;
};

}  // namespace

Sha256 Sha256Of(absl::string_view bytes) {
  Sha256 hash{};
  if (!kms::crypto::Digest(kms::crypto::HashAlgorithm::kSha256, bytes, absl::MakeSpan(hash)).ok()) {
    hash.fill(0);  // OpenSSL failed: a broken chain where it happened, never a stale hash
  }
  return hash;
}

void AppendHex(const Sha256& hash, std::string* out) {
  char hex[2 * sizeof(Sha256)];
  for (size_t i = 0; i < hash.size(); ++i) {
    hex[2 * i] = kHexDigits[hash[i] >> 4];
    hex[2 * i + 1] = kHexDigits[hash[i] & 0xf];
  }
  out->append(hex, sizeof(hex));
}

Sha256 CheckpointDigest(uint64_t seq, const Sha256& prev) {
  uint8_t message[sizeof(kCheckpointContext) + 8 + sizeof(Sha256)];
  uint8_t* p = std::copy(std::begin(kCheckpointContext), std::end(kCheckpointContext), message);
  for (int i = 0; i < 8; ++i) *p++ = static_cast<uint8_t>(seq >> (56 - 8 * i));
  std::copy(prev.begin(), prev.end(), p);
  return Sha256Of(absl::string_view(reinterpret_cast<const char*>(message), sizeof(message)));
}

void AppendStringMember(absl::string_view name, absl::string_view text, std::string* out) {
  absl::StrAppend(out, ",\"", name, "\":");
  AppendJsonString(text, out);
}

void AppendTime(absl::Time time, std::string* out) {
  absl::TimeZone::CivilInfo civil = absl::UTCTimeZone().At(time);
  int64_t micros = absl::ToInt64Microseconds(civil.subsecond);
  char text[40];
  int n = std::snprintf(text, sizeof(text), "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                        static_cast<long long>(civil.cs.year()), civil.cs.month(), civil.cs.day(),
                        civil.cs.hour(), civil.cs.minute(), civil.cs.second(),
                        static_cast<long long>(micros));
  out->append(text, n);
}

bool ParseTime(absl::string_view text, absl::Time* time) {
  std::string error;
  return text.size() == 27 &&
         absl::ParseTime("%Y-%m-%dT%H:%M:%E6SZ", text, absl::UTCTimeZone(), time, &error);
}

absl::StatusOr<std::vector<Field>> ParseLine(absl::string_view line) {
  Parser parser(line);
  std::vector<Field> fields;
  const auto malformed = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid audit line: ", what, " at byte ", parser.pos() + 1));
  };
  if (!parser.Consume('{')) return malformed("expected '{'");
  if (parser.Consume('}')) return malformed("empty object");
  do {
    Field field;
    if (!parser.ParseString(&field.name)) return malformed("bad member name");
    if (!parser.Consume(':')) return malformed("expected ':'");
    if (parser.Peek('"')) {
      if (!parser.ParseString(&field.text)) return malformed("bad string");
    } else {
      field.is_number = true;
      if (!parser.ParseUnsigned(&field.number)) return malformed("bad value");
    }
    fields.push_back(std::move(field));
  } while (parser.Consume(','));
  if (!parser.Consume('}')) return malformed("expected ',' or '}'");
  if (!parser.AtEnd()) return malformed("text after the object");
  return fields;
}

}  // namespace strongroom::server::audit::internal
