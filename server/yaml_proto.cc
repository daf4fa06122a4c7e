#include "server/yaml_proto.h"

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/emitterstyle.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/charconv.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"

namespace strongroom::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// Messages nested deeper than this are rejected (guards recursive message types).
constexpr int kMaxMessageDepth = 100;
// Longest prefix of a value quoted in an error message.
constexpr size_t kMaxQuotedBytes = 40;
// google.protobuf.Duration's documented upper bound (10,000 years).
constexpr int64_t kMaxDurationSeconds = 315576000000;
constexpr absl::string_view kDurationType = "google.protobuf.Duration";

// ---------------------------------------------------------------------------------------
// Text helpers.

// `text` as an escaped, double-quoted single-line literal holding at most kMaxQuotedBytes
// of it (cut on a UTF-8 boundary, with "..." after the closing quote when cut).
std::string Quote(absl::string_view text) {
  bool cut = false;
  if (text.size() > kMaxQuotedBytes) {
    size_t n = kMaxQuotedBytes;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    text = text.substr(0, n);
    cut = true;
  }
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(text), cut ? "\"..." : "\"");
}

// Offset of the first byte of `s` that is not part of well-formed UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF are ill-formed), or npos.
size_t FindInvalidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t code_point;
    uint32_t min_code_point;
    if ((lead & 0xE0) == 0xC0) {
      len = 2;
      code_point = lead & 0x1F;
      min_code_point = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3;
      code_point = lead & 0x0F;
      min_code_point = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      len = 4;
      code_point = lead & 0x07;
      min_code_point = 0x10000;
    } else {
      return i;
    }
    if (s.size() - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    if (code_point < min_code_point || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return absl::string_view::npos;
}

// 1-based line of byte `offset` in `text`.
int LineAt(absl::string_view text, size_t offset) {
  int line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
  }
  return line;
}

// Whether a dotted path has a component that names a secret (PIN, password, token, ...),
// in which case values are kept out of error messages.
bool SuggestsSecret(absl::string_view path) {
  const std::string lower = absl::AsciiStrToLower(path);
  for (absl::string_view phrase : {"key_material", "private_key", "privkey", "api_key"}) {
    if (absl::StrContains(lower, phrase)) return true;
  }
  for (absl::string_view word : absl::StrSplit(lower, absl::ByAnyChar("_-.[]\" "))) {
    if (word.size() > 1 && word.back() == 's') word.remove_suffix(1);
    for (absl::string_view secret : {"pin", "password", "passwd", "passphrase", "secret", "token",
                                     "credential", "psk", "apikey"}) {
      if (word == secret) return true;
    }
  }
  return false;
}

// `prefix.key`, or `prefix["key"]` when the key is not a plain identifier.
std::string JoinPath(absl::string_view prefix, absl::string_view key) {
  bool plain = !key.empty() && key.size() <= 64;
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      plain = false;
      break;
    }
  }
  if (!plain) return absl::StrCat(prefix, "[", Quote(key), "]");
  if (prefix.empty()) return std::string(key);
  return absl::StrCat(prefix, ".", key);
}

// ---------------------------------------------------------------------------------------
// Number parsing.

// Parses `[-+]?[0-9]+`. *overflow is set when the magnitude exceeds uint64.
bool ParseDecimal(absl::string_view text, bool* negative, uint64_t* magnitude, bool* overflow) {
  *negative = false;
  *magnitude = 0;
  *overflow = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    *negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (*magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      *overflow = true;
    } else {
      *magnitude = *magnitude * 10 + digit;
    }
  }
  return true;
}

// Matches an unsigned YAML 1.2 float: `(digits[.digits?] | .digits)([eE][-+]?digits)?`.
bool MatchesFloatSyntax(absl::string_view t) {
  size_t i = 0;
  size_t digits = 0;
  while (i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i]))) ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
    size_t exponent_digits = 0;
    while (i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i]))) {
      ++i, ++exponent_digits;
    }
    if (exponent_digits == 0) return false;
  }
  return i == t.size();
}

absl::string_view StripSign(absl::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  return text;
}

bool IsYamlInfinity(absl::string_view unsigned_text) {
  return unsigned_text == ".inf" || unsigned_text == ".Inf" || unsigned_text == ".INF";
}

bool IsYamlNan(absl::string_view text) {
  return text == ".nan" || text == ".NaN" || text == ".NAN";
}

// Whether `text` is some kind of number (so that an error can show the accepted range).
bool LooksNumeric(absl::string_view text) {
  const absl::string_view t = StripSign(text);
  if (MatchesFloatSyntax(t) || IsYamlInfinity(t) || IsYamlNan(text)) return true;
  return t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b');
}

// Parses a decimal integer within T's range. On failure *numeric tells whether the text
// was a number at all (a fraction, out of range, another base) rather than a word.
template <typename T>
bool ParseInteger(absl::string_view text, T* out, bool* numeric) {
  bool negative;
  uint64_t magnitude;
  bool overflow;
  if (!ParseDecimal(text, &negative, &magnitude, &overflow)) {
    *numeric = LooksNumeric(text);
    return false;
  }
  *numeric = true;
  if (overflow) return false;
  const uint64_t max = static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (!negative) {
    if (magnitude > max) return false;
    *out = static_cast<T>(magnitude);
    return true;
  }
  if (magnitude == 0) {
    *out = 0;
    return true;
  }
  if constexpr (std::is_unsigned_v<T>) {
    return false;
  } else {
    if (magnitude > max + 1) return false;
    *out = static_cast<T>(-static_cast<int64_t>(magnitude - 1) - 1);
    return true;
  }
}

// Parses a YAML 1.2 float (including .inf, -.inf and .nan) into a finite or special
// double. On failure *numeric tells whether the text was a number (out of range).
bool ParseDouble(absl::string_view text, double* out, bool* numeric) {
  *numeric = false;
  const absl::string_view t = StripSign(text);
  const bool negative = !text.empty() && text[0] == '-';
  if (IsYamlInfinity(t)) {
    *out = negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
    return true;
  }
  if (IsYamlNan(text)) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (!MatchesFloatSyntax(t)) {
    *numeric = LooksNumeric(text);
    return false;
  }
  *numeric = true;
  double value = 0;
  const absl::from_chars_result result = absl::from_chars(t.data(), t.data() + t.size(), value);
  if (result.ec != std::errc() || result.ptr != t.data() + t.size() || !std::isfinite(value)) {
    return false;
  }
  *out = negative ? -value : value;
  return true;
}

// ---------------------------------------------------------------------------------------
// YAML tree.

// One YAML node. Aliases are pointers to the anchored node, so a node can be shared.
struct Node {
  enum class Kind { kNull, kScalar, kSequence, kMapping };

  Kind kind = Kind::kNull;
  // False while a collection is still being read (an alias to it would be recursive).
  bool complete = false;
  YAML::Mark mark;
  // An explicit tag such as "tag:yaml.org,2002:str"; empty for untagged nodes.
  std::string tag;
  // The text of a scalar.
  std::string value;
  // Sequence items, or mapping keys and values alternating.
  std::vector<const Node*> children;
};

absl::string_view KindName(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull:
      return "null";
    case Node::Kind::kScalar:
      return "a scalar";
    case Node::Kind::kSequence:
      return "a sequence";
    case Node::Kind::kMapping:
      return "a mapping";
  }
  return "an unknown node";
}

// Builds a Node tree from the parser's events for one document.
class TreeBuilder : public YAML::EventHandler {
 public:
  const Node* root() const { return root_; }
  // Where an alias referred to a node that contains it, if one did.
  const std::optional<YAML::Mark>& recursive_alias() const { return recursive_alias_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node* node = NewNode(Node::Kind::kNull, mark, "", anchor);
    node->complete = true;
    Attach(node);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    if (it == anchors_.end() || !it->second->complete) {
      if (!recursive_alias_.has_value()) recursive_alias_ = mark;
      // Keep mappings' keys and values paired; the document is rejected anyway.
      Attach(NewNode(Node::Kind::kNull, mark, "", YAML::NullAnchor));
      return;
    }
    Attach(it->second);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Node* node = NewNode(Node::Kind::kScalar, mark, tag, anchor);
    node->value = value;
    node->complete = true;
    Attach(node);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(NewNode(Node::Kind::kSequence, mark, tag, anchor));
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(NewNode(Node::Kind::kMapping, mark, tag, anchor));
  }
  void OnMapEnd() override { Close(); }

 private:
  Node* NewNode(Node::Kind kind, const YAML::Mark& mark, const std::string& tag,
                YAML::anchor_t anchor) {
    Node& node = nodes_.emplace_back();
    node.kind = kind;
    node.mark = mark;
    if (tag != "?" && tag != "!") node.tag = tag;
    if (anchor != YAML::NullAnchor) anchors_[anchor] = &node;
    return &node;
  }

  void Attach(const Node* node) {
    if (!open_.empty()) {
      open_.back()->children.push_back(node);
    } else if (root_ == nullptr) {
      root_ = node;
    }
  }

  void Open(Node* node) {
    Attach(node);
    open_.push_back(node);
  }

  void Close() {
    if (open_.empty()) return;
    open_.back()->complete = true;
    open_.pop_back();
  }

  std::deque<Node> nodes_;  // Owns every node; a deque keeps their addresses stable.
  std::vector<Node*> open_;
  absl::flat_hash_map<YAML::anchor_t, Node*> anchors_;
  const Node* root_ = nullptr;
  std::optional<YAML::Mark> recursive_alias_;
};

// Records where a further document starts, ignoring its content.
class DocumentFinder : public YAML::EventHandler {
 public:
  const YAML::Mark& start() const { return start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  YAML::Mark start_;
};

// ---------------------------------------------------------------------------------------
// Tree to message.

bool IsDuration(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         field->message_type()->full_name() == kDurationType;
}

std::string EnumNames(const EnumDescriptor* type) {
  std::vector<absl::string_view> names;
  names.reserve(type->value_count());
  for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
  return absl::StrJoin(names, ", ");
}

// What a value of `field` (one element, for repeated fields) must look like.
std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return "an integer";
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "an unsigned integer";
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return "a number";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("one of ", EnumNames(field->enum_type()));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return IsDuration(field) ? "a duration such as \"90s\"" : "a mapping";
  }
  return "a value";
}

void Put(const Reflection* r, Message* m, const FieldDescriptor* f, bool add, int32_t v) {
  add ? r->AddInt32(m, f, v) : r->SetInt32(m, f, v);
}
void Put(const Reflection* r, Message* m, const FieldDescriptor* f, bool add, int64_t v) {
  add ? r->AddInt64(m, f, v) : r->SetInt64(m, f, v);
}
void Put(const Reflection* r, Message* m, const FieldDescriptor* f, bool add, uint32_t v) {
  add ? r->AddUInt32(m, f, v) : r->SetUInt32(m, f, v);
}
void Put(const Reflection* r, Message* m, const FieldDescriptor* f, bool add, uint64_t v) {
  add ? r->AddUInt64(m, f, v) : r->SetUInt64(m, f, v);
}

// The value of a map entry's key field as text, to detect keys that differ only in
// spelling ("1" and "01").
std::string MapKeyText(const Message& entry, const FieldDescriptor* key_field) {
  const Reflection* r = entry.GetReflection();
  switch (key_field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r->GetInt32(entry, key_field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(r->GetInt64(entry, key_field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(r->GetUInt32(entry, key_field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(r->GetUInt64(entry, key_field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(entry, key_field) ? "true" : "false";
    default:
      return r->GetString(entry, key_field);
  }
}

class Converter {
 public:
  Converter(absl::string_view source_name, absl::string_view text, size_t budget,
            YamlKeyLines* key_lines)
      : source_name_(source_name), text_(text), budget_(budget), key_lines_(key_lines) {
    if (absl::StartsWith(text_, "\xEF\xBB\xBF")) bom_ = 3;
  }

  absl::Status Convert(const Node* root, Message* out) {
    if (root == nullptr || root->kind == Node::Kind::kNull) return absl::OkStatus();
    if (absl::Status s = Visit(*root, ""); !s.ok()) return s;
    if (root->kind != Node::Kind::kMapping) {
      return Error(*root, "",
                   absl::StrCat("expected a mapping at the top level, got ", KindName(*root)));
    }
    return FillMessage(*root, "", out, 0);
  }

 private:
  // Fills `msg` from mapping `node` found at `path`.
  absl::Status FillMessage(const Node& node, const std::string& path, Message* msg, int depth) {
    if (depth > kMaxMessageDepth) {
      return Error(node, path,
                   absl::StrCat("messages nested more than ", kMaxMessageDepth, " levels deep"));
    }
    const Descriptor* descriptor = msg->GetDescriptor();
    absl::flat_hash_map<absl::string_view, const Node*> seen;
    absl::flat_hash_map<const OneofDescriptor*, const Node*> oneof_keys;
    for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
      const Node& key = *node.children[i];
      const Node& value = *node.children[i + 1];
      if (absl::Status s = Visit(key, path); !s.ok()) return s;
      if (key.kind != Node::Kind::kScalar) {
        return Error(key, path, absl::StrCat("expected a key, got ", KindName(key)));
      }
      const std::string key_path = JoinPath(path, key.value);
      const auto [first, inserted] = seen.emplace(key.value, &key);
      if (!inserted) {
        return Error(
            key, key_path,
            absl::StrCat("duplicate key (first set at line ", LineOf(*first->second), ")"));
      }
      const FieldDescriptor* field = descriptor->FindFieldByName(key.value);
      if (field == nullptr) return Error(key, key_path, UnknownKey(descriptor, key.value));
      if (key_lines_ != nullptr) (*key_lines_)[key_path] = LineOf(key);
      if (value.kind == Node::Kind::kNull) continue;  // Null leaves the field unset.
      if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
        const auto [other, fresh] = oneof_keys.emplace(oneof, &key);
        if (!fresh) {
          return Error(key, key_path,
                       absl::StrCat("cannot be set together with \"", other->second->value,
                                    "\" (line ", LineOf(*other->second),
                                    "); both belong to oneof \"", oneof->name(), "\""));
        }
      }
      if (absl::Status s = StoreField(value, field, key_path, msg, depth); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Stores the non-null `value` into `field` of `msg`, whatever the field's cardinality.
  absl::Status StoreField(const Node& value, const FieldDescriptor* field, const std::string& path,
                          Message* msg, int depth) {
    if (absl::Status s = Visit(value, path); !s.ok()) return s;
    if (field->is_map()) return StoreMap(value, field, path, msg, depth);
    if (!field->is_repeated()) return StoreOne(value, field, path, msg, /*add=*/false, depth);
    if (value.kind != Node::Kind::kSequence) {
      return Error(value, path, absl::StrCat("expected a sequence, got ", KindName(value)));
    }
    for (size_t i = 0; i < value.children.size(); ++i) {
      const Node& item = *value.children[i];
      const std::string item_path = absl::StrCat(path, "[", i, "]");
      if (absl::Status s = Visit(item, item_path); !s.ok()) return s;
      if (absl::Status s = StoreOne(item, field, item_path, msg, /*add=*/true, depth); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status StoreMap(const Node& value, const FieldDescriptor* field, const std::string& path,
                        Message* msg, int depth) {
    if (value.kind != Node::Kind::kMapping) {
      return Error(value, path, absl::StrCat("expected a mapping, got ", KindName(value)));
    }
    const FieldDescriptor* key_field = field->message_type()->map_key();
    const FieldDescriptor* value_field = field->message_type()->map_value();
    absl::flat_hash_map<std::string, const Node*> seen;
    for (size_t i = 0; i + 1 < value.children.size(); i += 2) {
      const Node& key = *value.children[i];
      const Node& item = *value.children[i + 1];
      if (absl::Status s = Visit(key, path); !s.ok()) return s;
      if (key.kind != Node::Kind::kScalar) {
        return Error(key, path, absl::StrCat("expected a key, got ", KindName(key)));
      }
      const std::string item_path = JoinPath(path, key.value);
      Message* entry = msg->GetReflection()->AddMessage(msg, field);
      if (absl::Status s = StoreOne(key, key_field, item_path, entry, /*add=*/false, depth);
          !s.ok()) {
        return s;
      }
      const auto [first, inserted] = seen.emplace(MapKeyText(*entry, key_field), &key);
      if (!inserted) {
        return Error(
            key, item_path,
            absl::StrCat("duplicate key (first set at line ", LineOf(*first->second), ")"));
      }
      if (absl::Status s = Visit(item, item_path); !s.ok()) return s;
      if (absl::Status s = StoreOne(item, value_field, item_path, entry, /*add=*/false, depth);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  // Sets (or, with `add`, appends) one value of `field`.
  absl::Status StoreOne(const Node& value, const FieldDescriptor* field, const std::string& path,
                        Message* msg, bool add, int depth) {
    if (value.kind == Node::Kind::kNull) {
      return Error(value, path, absl::StrCat("expected ", Expected(field), ", got null"));
    }
    const Reflection* r = msg->GetReflection();
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return StoreScalar(value, field, path, msg, add);
    }
    if (IsDuration(field)) {
      if (value.kind != Node::Kind::kScalar) {
        return Error(value, path,
                     absl::StrCat("expected ", Expected(field), ", got ", KindName(value)));
      }
      return StoreDuration(value, path,
                           add ? r->AddMessage(msg, field) : r->MutableMessage(msg, field));
    }
    if (value.kind != Node::Kind::kMapping) {
      return Error(value, path, absl::StrCat("expected a mapping, got ", KindName(value)));
    }
    return FillMessage(value, path, add ? r->AddMessage(msg, field) : r->MutableMessage(msg, field),
                       depth + 1);
  }

  absl::Status StoreScalar(const Node& value, const FieldDescriptor* field, const std::string& path,
                           Message* msg, bool add) {
    if (value.kind != Node::Kind::kScalar) {
      return Error(value, path,
                   absl::StrCat("expected ", Expected(field), ", got ", KindName(value)));
    }
    const std::string& text = value.value;
    const Reflection* r = msg->GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (field->type() == FieldDescriptor::TYPE_STRING &&
            FindInvalidUtf8(text) != absl::string_view::npos) {
          return Error(value, path, "expected a string, got invalid UTF-8");
        }
        add ? r->AddString(msg, field, text) : r->SetString(msg, field, text);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_BOOL: {
        if (text != "true" && text != "false") {
          std::string problem = absl::StrCat("expected true or false", Got(path, text));
          const std::string lower = absl::AsciiStrToLower(text);
          if (!SuggestsSecret(path)) {
            if (lower == "true" || lower == "false") {
              absl::StrAppend(&problem, " (booleans are lowercase)");
            } else if (lower == "yes" || lower == "no" || lower == "on" || lower == "off" ||
                       lower == "y" || lower == "n") {
              absl::StrAppend(&problem,
                              " (YAML 1.1 booleans such as yes/no/on/off are not "
                              "accepted)");
            }
          }
          return Error(value, path, problem);
        }
        add ? r->AddBool(msg, field, text == "true") : r->SetBool(msg, field, text == "true");
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT32:
        return StoreInteger<int32_t>(value, field, path, msg, add);
      case FieldDescriptor::CPPTYPE_INT64:
        return StoreInteger<int64_t>(value, field, path, msg, add);
      case FieldDescriptor::CPPTYPE_UINT32:
        return StoreInteger<uint32_t>(value, field, path, msg, add);
      case FieldDescriptor::CPPTYPE_UINT64:
        return StoreInteger<uint64_t>(value, field, path, msg, add);
      case FieldDescriptor::CPPTYPE_FLOAT:
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        const bool is_float = field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT;
        double number = 0;
        bool numeric = false;
        const bool ok = ParseDouble(text, &number, &numeric) &&
                        !(is_float && std::isfinite(number) && std::fabs(number) > FLT_MAX);
        if (!ok) {
          return Error(value, path,
                       absl::StrCat("expected a number",
                                    numeric ? (is_float ? " within float range (about ±3.4e38)"
                                                        : " within double range (about ±1.8e308)")
                                            : "",
                                    Got(path, text)));
        }
        if (is_float) {
          const float f = static_cast<float>(number);
          add ? r->AddFloat(msg, field, f) : r->SetFloat(msg, field, f);
        } else {
          add ? r->AddDouble(msg, field, number) : r->SetDouble(msg, field, number);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* enum_value = field->enum_type()->FindValueByName(text);
        if (enum_value == nullptr) {
          return Error(
              value, path,
              absl::StrCat("expected one of ", EnumNames(field->enum_type()), Got(path, text)));
        }
        add ? r->AddEnum(msg, field, enum_value) : r->SetEnum(msg, field, enum_value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    return absl::InternalError(
        absl::StrCat(source_name_, ": ", path, ": unsupported field type ", field->type_name()));
  }

  template <typename T>
  absl::Status StoreInteger(const Node& value, const FieldDescriptor* field,
                            const std::string& path, Message* msg, bool add) {
    T number = 0;
    bool numeric = false;
    if (!ParseInteger(value.value, &number, &numeric)) {
      const absl::string_view kind = std::is_signed_v<T> ? "an integer" : "an unsigned integer";
      std::string range;
      if (numeric) {
        range = absl::StrCat(" in [", std::numeric_limits<T>::min(), ", ",
                             std::numeric_limits<T>::max(), "]");
      }
      return Error(value, path, absl::StrCat("expected ", kind, range, Got(path, value.value)));
    }
    Put(msg->GetReflection(), msg, field, add, number);
    return absl::OkStatus();
  }

  absl::Status StoreDuration(const Node& value, const std::string& path, Message* duration) {
    const std::string& text = value.value;
    absl::Duration d;
    if (!absl::ParseDuration(text, &d)) {
      return Error(value, path,
                   absl::StrCat("expected a duration such as \"90s\", \"15m\", \"24h\" or "
                                "\"1h30m\"",
                                Got(path, text)));
    }
    if (d < absl::ZeroDuration()) {
      return Error(value, path, absl::StrCat("expected a non-negative duration", Got(path, text)));
    }
    if (d > absl::Seconds(kMaxDurationSeconds)) {
      return Error(value, path,
                   absl::StrCat("expected a duration of at most ", kMaxDurationSeconds, "s",
                                Got(path, text)));
    }
    absl::Duration remainder;
    const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &remainder);
    const int32_t nanos = static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder));
    const Descriptor* descriptor = duration->GetDescriptor();
    const FieldDescriptor* seconds_field = descriptor->FindFieldByName("seconds");
    const FieldDescriptor* nanos_field = descriptor->FindFieldByName("nanos");
    if (seconds_field == nullptr || nanos_field == nullptr ||
        seconds_field->cpp_type() != FieldDescriptor::CPPTYPE_INT64 ||
        nanos_field->cpp_type() != FieldDescriptor::CPPTYPE_INT32) {
      return absl::InternalError(
          absl::StrCat(kDurationType, " lacks int64 seconds and int32 nanos fields"));
    }
    const Reflection* r = duration->GetReflection();
    r->SetInt64(duration, seconds_field, seconds);
    r->SetInt32(duration, nanos_field, nanos);
    return absl::OkStatus();
  }

  static std::string UnknownKey(const Descriptor* descriptor, absl::string_view key) {
    std::vector<absl::string_view> names;
    names.reserve(descriptor->field_count());
    for (int i = 0; i < descriptor->field_count(); ++i) {
      names.push_back(descriptor->field(i)->name());
    }
    std::string problem =
        names.empty() ? "unknown key (no keys are allowed here)"
                      : absl::StrCat("unknown key (known keys: ", absl::StrJoin(names, ", "), ")");
    if (key == "<<") absl::StrAppend(&problem, "; YAML merge keys are not supported");
    return problem;
  }

  // Checks what applies to every node: no explicit tags, and the budget that stops aliases
  // from expanding a small document into a huge message.
  absl::Status Visit(const Node& node, absl::string_view path) {
    if (!node.tag.empty()) {
      std::string tag = node.tag;
      if (absl::StartsWith(tag, "tag:yaml.org,2002:")) {
        tag = absl::StrCat("!!", tag.substr(sizeof("tag:yaml.org,2002:") - 1));
      }
      return Error(node, path, absl::StrCat("YAML tags are not supported, found ", Quote(tag)));
    }
    spent_ += 1 + node.value.size();
    if (spent_ > budget_) {
      return Error(node, path, "document too large once its aliases are expanded");
    }
    return absl::OkStatus();
  }

  // ", got \"<value>\"", or nothing when the path suggests a secret.
  static std::string Got(absl::string_view path, absl::string_view text) {
    if (SuggestsSecret(path)) return "";
    return absl::StrCat(", got ", Quote(text));
  }

  absl::Status Error(const Node& at, absl::string_view path, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name_, ":", LineOf(at), ": ", path, path.empty() ? "" : ": ", problem));
  }

  // 1-based line of a node. yaml-cpp marks a null at the token after it (often on the next
  // line), so for nulls this steps back over whitespace to the `key:` or `-` it belongs to.
  int LineOf(const Node& node) const {
    const YAML::Mark& mark = node.mark;
    const int reported = mark.line < 0 ? 1 : mark.line + 1;
    if (node.kind != Node::Kind::kNull || mark.pos < 0) return reported;
    size_t end = bom_ + static_cast<size_t>(mark.pos);
    if (end > text_.size()) return reported;
    // Trust the offset only if it agrees with yaml-cpp's own line count.
    if (LineAt(text_.substr(bom_), end - bom_) != reported) return reported;
    while (end > bom_ && absl::ascii_isspace(static_cast<unsigned char>(text_[end - 1]))) --end;
    return LineAt(text_.substr(bom_), end - bom_);
  }

  const absl::string_view source_name_;
  const absl::string_view text_;
  size_t bom_ = 0;
  const size_t budget_;
  size_t spent_ = 0;
  YamlKeyLines* const key_lines_;
};

absl::Status SyntaxError(absl::string_view source_name, const YAML::Mark& mark,
                         absl::string_view message) {
  const std::string line = mark.line < 0 ? "" : absl::StrCat(":", mark.line + 1);
  return absl::InvalidArgumentError(
      absl::StrCat(source_name, line, ": YAML syntax error: ", absl::Utf8SafeCHexEscape(message)));
}

absl::Status Parse(absl::string_view yaml_text, absl::string_view source_name, Message* out,
                   YamlKeyLines* key_lines) {
  if (yaml_text.size() > kMaxYamlBytes) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":1: YAML input is ",
                                                   yaml_text.size(), " bytes, over the limit of ",
                                                   kMaxYamlBytes));
  }
  if (const size_t nul = yaml_text.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", LineAt(yaml_text, nul),
                                                   ": YAML syntax error: NUL byte in input"));
  }
  if (const size_t bad = FindInvalidUtf8(yaml_text); bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", LineAt(yaml_text, bad),
                                                   ": YAML syntax error: input is not UTF-8"));
  }
  try {
    std::istringstream stream{std::string(yaml_text)};
    YAML::Parser parser(stream);
    TreeBuilder builder;
    if (!parser.HandleNextDocument(builder)) return absl::OkStatus();  // No document at all.
    if (builder.recursive_alias().has_value()) {
      return SyntaxError(source_name, *builder.recursive_alias(),
                         "an alias refers to a node that contains it");
    }
    DocumentFinder next;
    if (parser.HandleNextDocument(next)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", next.start().line + 1,
                       ": expected a single YAML document, found another one"));
    }
    Converter converter(source_name, yaml_text, 4 * yaml_text.size() + (size_t{1} << 20),
                        key_lines);
    return converter.Convert(builder.root(), out);
  } catch (const YAML::DeepRecursion& e) {
    return SyntaxError(source_name, e.mark, "nesting too deep");
  } catch (const YAML::Exception& e) {
    return SyntaxError(source_name, e.mark, e.msg);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(source_name, ": out of memory while reading YAML"));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": cannot read YAML: ", absl::Utf8SafeCHexEscape(e.what())));
  } catch (...) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": cannot read YAML"));
  }
}

}  // namespace

absl::Status YamlToProto(absl::string_view yaml_text, absl::string_view source_name,
                         google::protobuf::Message* out, YamlKeyLines* key_lines) {
  if (out == nullptr) return absl::InvalidArgumentError("YamlToProto: out is null");
  out->Clear();
  if (key_lines != nullptr) key_lines->clear();
  absl::Status status = Parse(yaml_text, source_name, out, key_lines);
  if (!status.ok()) out->Clear();
  return status;
}

}  // namespace strongroom::server
