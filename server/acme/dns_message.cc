#include "server/acme/dns_message.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace strongroom::server::acme {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kTypeOpt = 41;
constexpr int kMaxAnswers = 64;
constexpr int kMaxCnameHops = 8;
constexpr int kMaxPointerHops = 16;
constexpr size_t kMaxName = 255;

bool NameCharacter(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed DNS response: ", what));
}

// A reader over the whole message; names may point back into it.
class Reader {
 public:
  explicit Reader(absl::string_view message) : message_(message) {}

  size_t offset() const { return offset_; }

  bool U16(uint16_t* v) {
    if (message_.size() - offset_ < 2) return false;
    *v = static_cast<uint16_t>((static_cast<uint8_t>(message_[offset_]) << 8) |
                               static_cast<uint8_t>(message_[offset_ + 1]));
    offset_ += 2;
    return true;
  }

  bool U32(uint32_t* v) {
    uint16_t high, low;
    if (!U16(&high) || !U16(&low)) return false;
    *v = (static_cast<uint32_t>(high) << 16) | low;
    return true;
  }

  bool Bytes(size_t n, absl::string_view* out) {
    if (message_.size() - offset_ < n) return false;
    *out = message_.substr(offset_, n);
    offset_ += n;
    return true;
  }

  // Name reads a possibly compressed name into lower-case dotted form ("" for the root).
  absl::Status Name(std::string* out) {
    out->clear();
    size_t at = offset_;
    size_t resume = 0;  // where reading continues after the first pointer
    size_t wire_length = 0;
    int hops = 0;
    for (;;) {
      if (at >= message_.size()) return Malformed("name runs past the end");
      const uint8_t length = static_cast<uint8_t>(message_[at]);
      if ((length & 0xc0) == 0xc0) {
        if (at + 1 >= message_.size()) return Malformed("name runs past the end");
        const size_t target = (static_cast<size_t>(length & 0x3f) << 8) |
                              static_cast<uint8_t>(message_[at + 1]);
        if (target >= at || ++hops > kMaxPointerHops) {
          return Malformed("name compression pointer does not point backwards");
        }
        if (resume == 0) resume = at + 2;
        at = target;
        continue;
      }
      if ((length & 0xc0) != 0) return Malformed("unknown name label type");
      if (length == 0) {
        offset_ = resume != 0 ? resume : at + 1;
        return absl::OkStatus();
      }
      wire_length += length + 1;
      if (wire_length + 1 > kMaxName) return Malformed("name longer than 255 bytes");
      if (message_.size() - at - 1 < length) return Malformed("name runs past the end");
      const absl::string_view label = message_.substr(at + 1, length);
      for (char c : label) {
        if (c <= ' ' || c > '~' || c == '.') return Malformed("name label has unusual bytes");
      }
      if (!out->empty()) out->push_back('.');
      absl::StrAppend(out, absl::AsciiStrToLower(label));
      at += 1 + length;
    }
  }

 private:
  absl::string_view message_;
  size_t offset_ = 0;
};

struct Record {
  std::string owner;
  uint16_t type;
  absl::string_view data;
  size_t data_offset;  // for CNAME targets, which may point back into the message
};

absl::StatusOr<std::string> TxtValue(absl::string_view data) {
  std::string value;
  while (!data.empty()) {
    const size_t length = static_cast<uint8_t>(data[0]);
    if (data.size() - 1 < length) return Malformed("TXT string runs past its record");
    absl::StrAppend(&value, data.substr(1, length));
    data.remove_prefix(1 + length);
  }
  return value;
}

}  // namespace

absl::StatusOr<std::string> BuildDnsQuery(uint16_t id, absl::string_view name, DnsType type) {
  if (name.empty() || name.size() > 253) {
    return absl::InvalidArgumentError("DNS name must have 1 to 253 bytes");
  }
  std::string query;
  PutU16(&query, id);
  PutU16(&query, 0x0100);  // standard query, recursion desired
  PutU16(&query, 1);       // one question
  PutU16(&query, 0);
  PutU16(&query, 0);
  PutU16(&query, 1);  // the OPT record
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63) {
      return absl::InvalidArgumentError("DNS name labels must have 1 to 63 bytes");
    }
    for (char c : label) {
      if (!NameCharacter(c)) {
        return absl::InvalidArgumentError("DNS name has a character other than a-z 0-9 - _");
      }
    }
    query.push_back(static_cast<char>(label.size()));
    absl::StrAppend(&query, label);
  }
  query.push_back('\0');
  PutU16(&query, type);
  PutU16(&query, kClassIn);
  query.push_back('\0');  // OPT: root owner, UDP payload size, no extended flags, no data
  PutU16(&query, kTypeOpt);
  PutU16(&query, kMaxDnsMessage);
  PutU16(&query, 0);
  PutU16(&query, 0);
  PutU16(&query, 0);
  return query;
}

absl::StatusOr<std::vector<std::string>> ParseDnsResponse(absl::string_view message,
                                                          uint16_t id, absl::string_view name,
                                                          DnsType type) {
  if (message.size() > kMaxDnsMessage) {
    return Malformed(absl::StrCat("longer than ", kMaxDnsMessage, " bytes"));
  }
  if (message.size() < kHeaderSize) return Malformed("shorter than its header");
  Reader reader(message);
  uint16_t got_id, flags, questions, answers, authority, additional;
  reader.U16(&got_id);
  reader.U16(&flags);
  reader.U16(&questions);
  reader.U16(&answers);
  reader.U16(&authority);
  reader.U16(&additional);
  if (got_id != id) return absl::InvalidArgumentError("DNS response id does not match the query");
  if ((flags & 0x8000) == 0 || (flags & 0x7800) != 0) {
    return Malformed("not a response to a standard query");
  }
  if ((flags & 0x0200) != 0) return absl::UnavailableError("DNS response was truncated");
  const int rcode = flags & 0x000f;
  if (rcode == 3) return absl::NotFoundError(absl::StrCat("DNS name ", name, " does not exist"));
  if (rcode != 0) {
    return absl::UnavailableError(absl::StrCat("DNS resolver answered with error code ", rcode));
  }
  if (questions != 1) return Malformed("does not repeat the one question");
  std::string owner;
  if (absl::Status status = reader.Name(&owner); !status.ok()) return status;
  uint16_t question_type, question_class;
  if (!reader.U16(&question_type) || !reader.U16(&question_class)) {
    return Malformed("question runs past the end");
  }
  if (owner != absl::AsciiStrToLower(name) || question_type != type ||
      question_class != kClassIn) {
    return absl::InvalidArgumentError("DNS response answers another question");
  }
  if (answers > kMaxAnswers) return Malformed(absl::StrCat("more than ", kMaxAnswers, " answers"));

  std::vector<Record> records;
  for (int i = 0; i < answers; ++i) {
    Record record;
    uint16_t record_class, length;
    uint32_t ttl;
    if (absl::Status status = reader.Name(&record.owner); !status.ok()) return status;
    if (!reader.U16(&record.type) || !reader.U16(&record_class) || !reader.U32(&ttl) ||
        !reader.U16(&length)) {
      return Malformed("answer record runs past the end");
    }
    record.data_offset = reader.offset();
    if (!reader.Bytes(length, &record.data)) return Malformed("answer data runs past the end");
    if (record_class == kClassIn) records.push_back(std::move(record));
  }

  std::string current = absl::AsciiStrToLower(name);
  for (int hop = 0; hop <= kMaxCnameHops; ++hop) {
    std::vector<std::string> values;
    const Record* alias = nullptr;
    for (const Record& record : records) {
      if (record.owner != current) continue;
      if (record.type == kDnsCname) alias = &record;
      if (record.type != type) continue;
      if (type == kDnsTxt) {
        absl::StatusOr<std::string> value = TxtValue(record.data);
        if (!value.ok()) return value.status();
        values.push_back(*std::move(value));
      } else if ((type == kDnsA && record.data.size() == 4) ||
                 (type == kDnsAaaa && record.data.size() == 16)) {
        values.emplace_back(record.data);
      } else {
        return Malformed("address record of the wrong size");
      }
    }
    if (!values.empty()) return values;
    if (alias == nullptr) break;
    Reader target(message.substr(0, alias->data_offset + alias->data.size()));
    absl::string_view before;
    target.Bytes(alias->data_offset, &before);
    if (absl::Status status = target.Name(&current); !status.ok()) return status;
  }
  return absl::NotFoundError(absl::StrCat("DNS has no records of type ", type, " for ", name));
}

}  // namespace strongroom::server::acme
