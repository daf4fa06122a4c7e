#include "server/vault_api.h"

#include <openssl/rand.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "hsm/cleanse_message.h"
#include "hsm/secret_data.h"
#include "kms/key_type.h"
#include "server/json_string.h"

namespace strongroom::server {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// ---------------------------------------------------------------------------------------
// JSON output: a small ordered value type, printed with every string escaped and any
// invalid UTF-8 (a key name from the URL, say) replaced by U+FFFD.

class Json {
 public:
  Json() = default;  // null
  Json(const Json&) = default;
  Json(Json&&) = default;
  Json& operator=(const Json&) = default;
  Json& operator=(Json&&) = default;
  ~Json() { hsm::CleanseString(&s_); }  // a string value may be base64 plaintext
  Json(bool b) : kind_(kBool), b_(b) {}  // NOLINT
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Json(T i) : kind_(kInt), i_(static_cast<int64_t>(i)) {}  // NOLINT
  Json(const char* s) : kind_(kString), s_(s) {}           // NOLINT
  Json(std::string s) : kind_(kString), s_(std::move(s)) {}  // NOLINT
  Json(absl::string_view s) : kind_(kString), s_(s) {}       // NOLINT

  static Json Object() {
    Json j;
    j.kind_ = kObject;
    return j;
  }
  static Json Array() {
    Json j;
    j.kind_ = kArray;
    return j;
  }
  static Json Strings(const std::vector<std::string>& v) {
    Json j = Array();
    for (const std::string& s : v) j.Push(s);
    return j;
  }

  Json& Set(std::string key, Json value) {
    members_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Json& Push(Json value) {
    items_.push_back(std::move(value));
    return *this;
  }

  std::string Dump() const {
    std::string out;
    Write(&out);
    return out;
  }

 private:
  enum Kind { kNull, kBool, kInt, kString, kArray, kObject };


  void Write(std::string* out) const {
    switch (kind_) {
      case kNull: out->append("null"); break;
      case kBool: out->append(b_ ? "true" : "false"); break;
      case kInt: absl::StrAppend(out, i_); break;
      case kString: AppendJsonString(s_, out); break;
      case kArray:
        out->push_back('[');
        for (size_t k = 0; k < items_.size(); ++k) {
          if (k > 0) out->push_back(',');
          items_[k].Write(out);
        }
        out->push_back(']');
        break;
      case kObject:
        out->push_back('{');
        for (size_t k = 0; k < members_.size(); ++k) {
          if (k > 0) out->push_back(',');
          AppendJsonString(members_[k].first, out);
          out->push_back(':');
          members_[k].second.Write(out);
        }
        out->push_back('}');
        break;
    }
  }

  Kind kind_ = kNull;
  bool b_ = false;
  int64_t i_ = 0;
  std::string s_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

// ---------------------------------------------------------------------------------------
// Responses.

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.Dump();
  response.body.push_back('\n');
  return response;
}

HttpResponse Errors(int status, std::vector<std::string> errors) {
  return JsonResponse(status, Json::Object().Set("errors", Json::Strings(errors)));
}

HttpResponse StatusError(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kPermissionDenied ||
      status.code() == absl::StatusCode::kUnauthenticated) {
    return Errors(403, {"permission denied"});
  }
  return Errors(HttpStatusOf(status.code()), {std::string(status.message())});
}

std::string RequestId() {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) return "";
  b[6] = (b[6] & 0x0f) | 0x40;  // UUID version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b), sizeof(b)));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

// Vault's response envelope around `data` (or `auth`).
HttpResponse Envelope(int status, Json data, Json auth = Json(),
                      const std::vector<std::string>& warnings = {}) {
  Json body = Json::Object()
                  .Set("request_id", RequestId())
                  .Set("lease_id", "")
                  .Set("renewable", false)
                  .Set("lease_duration", 0)
                  .Set("data", std::move(data))
                  .Set("wrap_info", Json())
                  .Set("warnings", warnings.empty() ? Json() : Json::Strings(warnings))
                  .Set("auth", std::move(auth));
  return JsonResponse(status, body);
}

// ---------------------------------------------------------------------------------------
// Request parsing. Bodies are JSON objects (an empty body is an empty object); fields are
// typed leniently the way Vault's are: integers and booleans may also arrive as strings.

// Vault's requests nest objects and arrays 3 deep ({"batch_input":[{...}]}). protobuf's JSON
// parser takes time quadratic in the nesting of arrays, so deeper bodies are refused first.
constexpr int kMaxJsonDepth = 16;

// Whether the objects and arrays of `json` nest at most `limit` deep; brackets inside
// strings do not count. A scan, not a parse: malformed input is left to the parser.
bool NestingWithin(absl::string_view json, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

absl::Status ParseBody(const std::string& body, Struct* out) {
  if (absl::StripAsciiWhitespace(body).empty()) return absl::OkStatus();
  if (!NestingWithin(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "failed to parse JSON input: objects and arrays nested more than ", kMaxJsonDepth,
        " deep"));
  }
  // The parser's message quotes the body around the fault, and the body may be base64
  // plaintext: the caller gets the problem, never the parser's text.
  if (!google::protobuf::util::JsonStringToMessage(body, out).ok()) {
    return absl::InvalidArgumentError(
        "failed to parse JSON input: the body must be a JSON object in UTF-8");
  }
  return absl::OkStatus();
}

// The field, or nullptr if absent or JSON null.
const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
  return &it->second;
}

absl::Status TypeError(absl::string_view field, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", expected));
}

// The string in the body, not a copy (it may be base64 plaintext); nullptr if absent.
absl::StatusOr<const std::string*> GetString(const Struct& s, const std::string& name,
                                             absl::string_view label) {
  const Value* v = Field(s, name);
  if (v == nullptr) return nullptr;
  if (v->kind_case() != Value::kStringValue) return TypeError(label, "a string");
  return &v->string_value();
}

// Cleanses every string in a parsed body (hsm::CleanseMessage does not reach map fields,
// and a Struct's fields are a map).
void CleanseJson(Value* v);
void CleanseJson(Struct* s) {
  for (auto& [name, value] : *s->mutable_fields()) CleanseJson(&value);
}
void CleanseJson(Value* v) {
  switch (v->kind_case()) {
    case Value::kStringValue:
      hsm::CleanseString(v->mutable_string_value());
      break;
    case Value::kStructValue:
      CleanseJson(v->mutable_struct_value());
      break;
    case Value::kListValue:
      for (Value& item : *v->mutable_list_value()->mutable_values()) CleanseJson(&item);
      break;
    default:
      break;
  }
}

// A parsed body that is cleansed when it goes out of scope.
struct Body {
  Struct json;
  ~Body() { CleanseJson(&json); }
};

// A non-negative integer from a JSON number or a decimal string, at most `max`.
absl::StatusOr<std::optional<uint64_t>> GetUint(const Struct& s, const std::string& name,
                                                absl::string_view label, uint64_t max) {
  const Value* v = Field(s, name);
  if (v == nullptr) return std::optional<uint64_t>();
  uint64_t out = 0;
  if (v->kind_case() == Value::kNumberValue) {
    double d = v->number_value();
    if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > static_cast<double>(max)) {
      return TypeError(label, absl::StrCat("an integer from 0 to ", max));
    }
    out = static_cast<uint64_t>(d);
  } else if (v->kind_case() == Value::kStringValue) {
    if (!absl::SimpleAtoi(v->string_value(), &out) || out > max) {
      return TypeError(label, absl::StrCat("an integer from 0 to ", max));
    }
  } else {
    return TypeError(label, "an integer");
  }
  return std::optional<uint64_t>(out);
}

absl::StatusOr<bool> GetBool(const Struct& s, const std::string& name, absl::string_view label) {
  const Value* v = Field(s, name);
  if (v == nullptr) return false;
  if (v->kind_case() == Value::kBoolValue) return v->bool_value();
  if (v->kind_case() == Value::kStringValue) {
    // Go's strconv.ParseBool, as Vault's field parser uses.
    const std::string& t = v->string_value();
    if (t == "1" || t == "t" || t == "T" || t == "true" || t == "TRUE" || t == "True") {
      return true;
    }
    if (t == "0" || t == "f" || t == "F" || t == "false" || t == "FALSE" || t == "False") {
      return false;
    }
  }
  return TypeError(label, "a boolean");
}

// Seconds as a number or a string ("3600", "1h", "90m", "2d").
absl::StatusOr<absl::Duration> GetDuration(const Struct& s, const std::string& name,
                                           absl::string_view label) {
  const Value* v = Field(s, name);
  if (v == nullptr) return absl::ZeroDuration();
  absl::Status bad = TypeError(label, "seconds or a duration such as \"1h\"");
  if (v->kind_case() == Value::kNumberValue) {
    double d = v->number_value();
    if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > 1e12) return bad;
    return absl::Seconds(static_cast<int64_t>(d));
  }
  if (v->kind_case() != Value::kStringValue) return bad;
  std::string t(absl::StripAsciiWhitespace(v->string_value()));
  if (t.empty()) return absl::ZeroDuration();
  int64_t n = 0;
  if (absl::SimpleAtoi(t, &n)) {
    if (n < 0 || n > int64_t{1000000000000}) return bad;
    return absl::Seconds(n);
  }
  if (t.back() == 'd' && absl::SimpleAtoi(absl::string_view(t).substr(0, t.size() - 1), &n)) {
    if (n < 0 || n > int64_t{100000000}) return bad;
    return absl::Hours(24 * n);
  }
  absl::Duration d;
  if (!absl::ParseDuration(t, &d) || d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return bad;
  }
  return d;
}

// Standard base64 with padding, nothing else (as Go's base64.StdEncoding).
bool DecodeBase64(absl::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=') {
      if (i < in.size() - 2) return false;
      ++pad;
      continue;
    }
    if (pad > 0) return false;
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  out->clear();
  return in.empty() || absl::Base64Unescape(in, out);
}

// ---------------------------------------------------------------------------------------
// Batches: Vault's single form is a batch of one that answers with data.<field> or errors.

// Input and output bytes are cleansed when the item goes.
struct Item {
  Item() = default;
  Item(Item&&) = default;
  Item& operator=(Item&&) = default;
  ~Item() {
    for (std::string* s : {&text, &context, &associated_data, &result}) hsm::CleanseString(s);
  }

  // Input.
  std::string text;  // plaintext (decoded) or ciphertext
  std::string context;
  std::string associated_data;
  std::string reference;
  uint32_t key_version = 0;
  // Output.
  std::string error;
  bool internal = false;  // error is the server's, not the input's
  std::string result;     // ciphertext, or plaintext (raw)
  uint32_t result_version = 0;
};

struct Batch {
  bool is_batch = false;
  std::vector<Item> items;
  std::optional<int64_t> partial_failure_code;
};

constexpr uint64_t kMaxVersion = UINT32_MAX;

enum class Op { kEncrypt, kDecrypt, kRewrap };

absl::string_view OpName(Op op) {
  switch (op) {
    case Op::kEncrypt: return "encrypt";
    case Op::kDecrypt: return "decrypt";
    case Op::kRewrap: return "rewrap";
  }
  return "";
}

// Reads one item (the body itself in the single form) into *item. Field problems of the
// request's shape (wrong types) fail the request; input values that do not decode become
// the item's error, as in Vault.
absl::Status ReadItem(Op op, const Struct& s, const std::string& prefix, uint32_t default_version,
                      bool single, Item* item) {
  const char* text_field = op == Op::kEncrypt ? "plaintext" : "ciphertext";
  auto text = GetString(s, text_field, absl::StrCat(prefix, text_field));
  if (!text.ok()) return text.status();
  auto context = GetString(s, "context", absl::StrCat(prefix, "context"));
  if (!context.ok()) return context.status();
  auto aad = GetString(s, "associated_data", absl::StrCat(prefix, "associated_data"));
  if (!aad.ok()) return aad.status();
  auto nonce = GetString(s, "nonce", absl::StrCat(prefix, "nonce"));
  if (!nonce.ok()) return nonce.status();
  auto reference = GetString(s, "reference", absl::StrCat(prefix, "reference"));
  if (!reference.ok()) return reference.status();
  auto version = GetUint(s, "key_version", absl::StrCat(prefix, "key_version"), kMaxVersion);
  if (!version.ok()) return version.status();

  if (*text == nullptr || (op != Op::kEncrypt && (*text)->empty())) {
    std::string missing = op == Op::kEncrypt ? "missing plaintext to encrypt"
                                             : absl::StrCat("missing ciphertext to ", OpName(op));
    if (single) return absl::InvalidArgumentError(missing);
    item->error = missing;
  }
  item->reference = *reference != nullptr ? **reference : "";
  item->key_version = version->has_value() ? static_cast<uint32_t>(**version) : default_version;
  if (!item->error.empty()) return absl::OkStatus();
  if (op == Op::kEncrypt) {
    if (!DecodeBase64(**text, &item->text)) {
      item->error = "plaintext: not valid base64";
      return absl::OkStatus();
    }
  } else {
    item->text = **text;
  }
  if (*context != nullptr && !DecodeBase64(**context, &item->context)) {
    item->error = "context: not valid base64";
    return absl::OkStatus();
  }
  if (*aad != nullptr && !DecodeBase64(**aad, &item->associated_data)) {
    item->error = "associated_data: not valid base64";
    return absl::OkStatus();
  }
  if (*nonce != nullptr && !(*nonce)->empty()) {
    item->error = "provided nonce not allowed for this key";
  }
  return absl::OkStatus();
}

absl::StatusOr<Batch> ReadBatch(Op op, const Struct& body) {
  Batch batch;
  auto version = GetUint(body, "key_version", "key_version", kMaxVersion);
  if (!version.ok()) return version.status();
  uint32_t default_version = static_cast<uint32_t>(version->value_or(0));
  if (const Value* code = Field(body, "partial_failure_response_code"); code != nullptr) {
    auto c = GetUint(body, "partial_failure_response_code", "partial_failure_response_code",
                     INT32_MAX);
    if (!c.ok()) return c.status();
    batch.partial_failure_code = static_cast<int64_t>(**c);
  }
  const Value* input = Field(body, "batch_input");
  if (input == nullptr) {
    Item item;
    if (absl::Status s = ReadItem(op, body, "", default_version, true, &item); !s.ok()) return s;
    batch.items.push_back(std::move(item));
    return batch;
  }
  batch.is_batch = true;
  if (input->kind_case() != Value::kListValue) return TypeError("batch_input", "an array");
  const ListValue& list = input->list_value();
  if (list.values_size() == 0) return absl::InvalidArgumentError("missing batch input to process");
  bool first_has_context = false;
  for (int i = 0; i < list.values_size(); ++i) {
    std::string prefix = absl::StrCat("batch_input[", i, "].");
    const Value& v = list.values(i);
    if (v.kind_case() != Value::kStructValue) {
      return TypeError(absl::StrCat("batch_input[", i, "]"), "an object");
    }
    Item item;
    if (absl::Status s = ReadItem(op, v.struct_value(), prefix, default_version, false, &item);
        !s.ok()) {
      return s;
    }
    const Value* ctx = Field(v.struct_value(), "context");
    bool has_context = ctx != nullptr && !ctx->string_value().empty();
    if (i == 0) first_has_context = has_context;
    if (has_context != first_has_context) {
      return absl::InvalidArgumentError(
          "context should be set either in all the request blocks or in none");
    }
    batch.items.push_back(std::move(item));
  }
  return batch;
}

bool IsInternal(int code) {
  switch (static_cast<absl::StatusCode>(code)) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
      return true;
    default:
      return false;
  }
}

void SetItemError(Item* item, const v1::ItemError& error) {
  item->error = error.message().empty() ? "failed" : error.message();
  item->internal = IsInternal(error.code());
}

// The Vault answer for a processed batch (or single item).
HttpResponse BatchResponse(Op op, const Batch& batch) {
  bool user_error = false, internal_error = false, success = false;
  uint32_t used_version = 0;
  for (const Item& item : batch.items) {
    if (item.error.empty()) {
      success = true;
      if (used_version == 0) used_version = item.result_version;
    } else if (item.internal) {
      internal_error = true;
    } else {
      user_error = true;
    }
  }
  HttpResponse response;
  if (!batch.is_batch) {
    const Item& item = batch.items[0];
    if (!item.error.empty()) return Errors(item.internal ? 500 : 400, {item.error});
    Json data = Json::Object();
    if (op == Op::kDecrypt) {
      data.Set("plaintext", absl::Base64Escape(item.result));
    } else {
      data.Set("ciphertext", item.result).Set("key_version", item.result_version);
    }
    response = Envelope(200, std::move(data));
  } else {
    Json results = Json::Array();
    for (const Item& item : batch.items) {
      Json r = Json::Object();
      if (op == Op::kDecrypt) {
        r.Set("plaintext", item.error.empty() ? absl::Base64Escape(item.result) : "");
      } else if (item.error.empty()) {
        r.Set("ciphertext", item.result).Set("key_version", item.result_version);
      }
      if (!item.error.empty()) r.Set("error", item.error);
      r.Set("reference", item.reference);
      results.Push(std::move(r));
    }
    int status = 200;
    std::vector<std::string> warnings;
    if (user_error || internal_error) {
      status = user_error ? 400 : 500;
      if (batch.partial_failure_code.has_value() && success) {
        int64_t code = *batch.partial_failure_code;
        if (code < 1 || code > 599) {
          warnings.push_back(absl::StrCat(
              "invalid HTTP response code override from partial_failure_response_code, "
              "reverting to ",
              status));
        } else {
          status = static_cast<int>(code);
        }
      }
    }
    response = Envelope(status, Json::Object().Set("batch_results", std::move(results)), Json(),
                        warnings);
  }
  response.key_version = used_version;  // for the audit record
  return response;
}

// ---------------------------------------------------------------------------------------
// Keys.

// Vault's names for key types: the engine's, with "96" (the nonce bits) after AES-GCM's.
std::string VaultTypeName(v1::KeyType type) {
  std::optional<kms::KeyType> t = kms::KeyTypeOf(type);
  if (!t.has_value()) return "unknown";
  std::string name(kms::KeyTypeName(*t));
  if (*t == kms::KeyType::kAes256Gcm || *t == kms::KeyType::kAes128Gcm) name += "96";
  return name;
}

std::optional<v1::KeyType> ParseVaultType(absl::string_view name) {
  for (kms::KeyType t : kms::AllKeyTypes()) {
    if (name == VaultTypeName(kms::ApiKeyType(t))) return kms::ApiKeyType(t);
  }
  return std::nullopt;
}

bool IsAeadType(v1::KeyType t) {
  std::optional<kms::KeyType> type = kms::KeyTypeOf(t);
  return type.has_value() && kms::IsAead(*type);
}
bool IsAsymmetricType(v1::KeyType t) {
  std::optional<kms::KeyType> type = kms::KeyTypeOf(t);
  return type.has_value() && kms::IsAsymmetric(*type);
}

// The public key's "name" in Vault's read shape.
const char* PublicKeyName(v1::KeyType t) {
  switch (t) {
    case v1::ECDSA_P256: return "P-256";
    case v1::ECDSA_P384: return "P-384";
    case v1::ED25519: return "ed25519";
    case v1::RSA_2048: return "rsa-2048";
    case v1::RSA_3072: return "rsa-3072";
    case v1::RSA_4096: return "rsa-4096";
    default: return "";
  }
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

Json KeyData(const v1::Key& key) {
  const v1::KeyType type = key.type();
  Json keys = Json::Object();
  for (const v1::KeyVersion& v : key.versions()) {
    std::string n = absl::StrCat(v.version());
    if (IsAsymmetricType(type)) {
      keys.Set(n, Json::Object()
                      .Set("name", PublicKeyName(type))
                      .Set("public_key", v.public_key_pem())
                      .Set("certificate_chain", "")
                      .Set("creation_time", Rfc3339(TimeOf(v.create_time()))));
    } else {
      keys.Set(n, v.create_time().seconds());
    }
  }
  Json data = Json::Object()
                  .Set("name", key.name())
                  .Set("type", VaultTypeName(type))
                  .Set("derived", key.derived())
                  .Set("deletion_allowed", key.deletion_allowed())
                  .Set("min_available_version", key.min_available_version())
                  .Set("min_decryption_version", key.min_decryption_version())
                  .Set("min_encryption_version", key.min_encryption_version())
                  .Set("latest_version", key.latest_version())
                  .Set("exportable", false)
                  .Set("allow_plaintext_backup", false)
                  .Set("supports_encryption", IsAeadType(type))
                  .Set("supports_decryption", IsAeadType(type))
                  .Set("supports_signing", IsAsymmetricType(type))
                  .Set("supports_derivation", IsAeadType(type))
                  .Set("auto_rotate_period", key.auto_rotate_period().seconds())
                  .Set("imported_key", false)
                  .Set("convergent_encryption", key.convergent())
                  .Set("keys", std::move(keys))
                  .Set("residency", key.residency() == v1::HSM ? "hsm" : "wrapped");
  return data;
}

bool ReservedMount(const HttpRequest& request) {
  auto it = request.path_params.find("mount");
  return it != request.path_params.end() && (it->second == "sys" || it->second == "auth");
}

std::string PathParam(const HttpRequest& request, const char* name) {
  auto it = request.path_params.find(name);
  return it == request.path_params.end() ? "" : it->second;
}

HttpResponse NotFound() { return Errors(404, {}); }

// ---------------------------------------------------------------------------------------
// Tokens.

int64_t Seconds(const google::protobuf::Duration& d) { return d.seconds(); }

// Seconds left before `info` expires (its configured ttl when it carries no expiry).
int64_t RemainingSeconds(const v1::TokenInfo& info, absl::Time now) {
  if (!info.has_expire_time()) {
    return info.period().seconds() > 0 ? info.period().seconds() : info.ttl().seconds();
  }
  int64_t left = absl::ToInt64Seconds(TimeOf(info.expire_time()) - now);
  return left > 0 ? left : 0;
}

}  // namespace

VaultApi::VaultApi(kms::Transit* transit, VaultTokenBackend* tokens,
                   std::function<v1::Status()> status)
    : transit_(transit), tokens_(tokens), status_(std::move(status)) {}

std::vector<VaultRoute> VaultApi::Routes() const {
  std::vector<VaultRoute> routes;
  auto bind = [this](HttpResponse (VaultApi::*method)(const HttpRequest&) const) {
    return [this, method](const HttpRequest& request) { return (this->*method)(request); };
  };
  auto write = [&](const std::string& pattern, HttpHandler handler) {
    routes.push_back({"POST", pattern, handler});
    routes.push_back({"PUT", pattern, std::move(handler)});
  };
  write("/v1/{mount}/encrypt/{key}", bind(&VaultApi::Encrypt));
  write("/v1/{mount}/decrypt/{key}", bind(&VaultApi::Decrypt));
  write("/v1/{mount}/rewrap/{key}", bind(&VaultApi::Rewrap));
  routes.push_back({"GET", "/v1/{mount}/keys/{key}", bind(&VaultApi::ReadKey)});
  write("/v1/{mount}/keys/{key}", bind(&VaultApi::CreateKey));
  write("/v1/{mount}/keys/{key}/rotate", bind(&VaultApi::RotateKey));
  routes.push_back({"GET", "/v1/sys/health", bind(&VaultApi::Health)});
  routes.push_back({"GET", "/v1/auth/token/lookup-self", bind(&VaultApi::LookupSelf)});
  write("/v1/auth/token/renew-self", bind(&VaultApi::RenewSelf));
  return routes;
}

namespace {

// Whether an engine error that failed a whole engine call belongs to the items (bad version,
// wrong key type) rather than to the request. A NotFound is the request's only when the key
// itself is missing; `key_missing` is then the Vault answer.
std::optional<HttpResponse> RequestLevelError(kms::Transit* transit, const absl::Status& s,
                                              const std::string& key_name,
                                              const char* key_missing) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return std::nullopt;
    case absl::StatusCode::kNotFound: {
      v1::GetKeyRequest get;
      get.set_name(key_name);
      absl::StatusOr<v1::Key> key = transit->GetKey(get);
      if (key.ok()) return std::nullopt;
      if (absl::IsNotFound(key.status())) return Errors(400, {key_missing});
      return StatusError(key.status());
    }
    default:
      return StatusError(s);
  }
}

// Every pending item (no error yet) by the key version it asks for.
std::map<uint32_t, std::vector<size_t>> PendingByVersion(const Batch& batch) {
  std::map<uint32_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < batch.items.size(); ++i) {
    if (batch.items[i].error.empty()) groups[batch.items[i].key_version].push_back(i);
  }
  return groups;
}

constexpr char kEncryptionKeyNotFound[] = "encryption key not found";

// Like Vault, a missing key fails the request even when every item failed on its input.
std::optional<HttpResponse> CheckKeyExists(kms::Transit* transit, const std::string& key_name) {
  v1::GetKeyRequest get;
  get.set_name(key_name);
  absl::StatusOr<v1::Key> key = transit->GetKey(get);
  if (key.ok()) return std::nullopt;
  if (absl::IsNotFound(key.status())) return Errors(400, {kEncryptionKeyNotFound});
  return StatusError(key.status());
}

// Encrypt and Rewrap: the items, grouped by requested key version, go to the engine one
// group per call; `set_input` puts an item's text (plaintext or ciphertext) in a request item.
template <typename Request, typename Response, typename SetInput>
HttpResponse ProduceCiphertexts(kms::Transit* transit, Op op, const HttpRequest& request,
                                absl::StatusOr<Response> (kms::Transit::*call)(const Request&),
                                SetInput set_input) {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  absl::StatusOr<Batch> batch = ReadBatch(op, *body);
  if (!batch.ok()) return StatusError(batch.status());
  const std::string key_name = PathParam(request, "key");
  auto groups = PendingByVersion(*batch);
  if (groups.empty()) {
    if (auto e = CheckKeyExists(transit, key_name)) return *e;
  }
  for (const auto& [version, indexes] : groups) {
    Request req;
    absl::Cleanup cleanse_req = [&req] { hsm::CleanseMessage(&req); };
    req.set_key_name(key_name);
    req.set_key_version(version);
    for (size_t i : indexes) {  // the items' bytes move into the request: no copies
      Item& item = batch->items[i];
      auto* in = req.add_items();
      set_input(in, &item.text);
      in->mutable_context()->swap(item.context);
      in->mutable_associated_data()->swap(item.associated_data);
    }
    absl::StatusOr<Response> resp = (transit->*call)(req);
    if (!resp.ok()) {
      if (auto e = RequestLevelError(transit, resp.status(), key_name, kEncryptionKeyNotFound)) {
        return *e;
      }
      for (size_t i : indexes) batch->items[i].error = std::string(resp.status().message());
      continue;
    }
    for (size_t k = 0; k < indexes.size() && k < static_cast<size_t>(resp->results_size()); ++k) {
      const v1::EncryptResponse::Result& r = resp->results(static_cast<int>(k));
      Item& item = batch->items[indexes[k]];
      if (r.has_error()) {
        SetItemError(&item, r.error());
      } else {
        item.result = r.ciphertext();
        item.result_version = r.key_version();
      }
    }
  }
  return BatchResponse(op, *batch);
}

}  // namespace

HttpResponse VaultApi::Encrypt(const HttpRequest& request) const {
  return ProduceCiphertexts(transit_, Op::kEncrypt, request, &kms::Transit::Encrypt,
                            [](v1::EncryptRequest::Item* in, std::string* text) {
                              in->mutable_plaintext()->swap(*text);
                            });
}

HttpResponse VaultApi::Decrypt(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  absl::StatusOr<Batch> batch = ReadBatch(Op::kDecrypt, *body);
  if (!batch.ok()) return StatusError(batch.status());
  const std::string key_name = PathParam(request, "key");
  std::vector<size_t> pending;
  for (size_t i = 0; i < batch->items.size(); ++i) {
    if (batch->items[i].error.empty()) pending.push_back(i);
  }
  if (pending.empty()) {
    if (auto e = CheckKeyExists(transit_, key_name)) return *e;
  } else {
    v1::DecryptRequest req;
    absl::Cleanup cleanse_req = [&req] { hsm::CleanseMessage(&req); };
    req.set_key_name(key_name);
    for (size_t i : pending) {  // the items' bytes move into the request: no copies
      Item& item = batch->items[i];
      v1::DecryptRequest::Item* in = req.add_items();
      in->mutable_ciphertext()->swap(item.text);
      in->mutable_context()->swap(item.context);
      in->mutable_associated_data()->swap(item.associated_data);
    }
    absl::StatusOr<v1::DecryptResponse> resp = transit_->Decrypt(req);
    absl::Cleanup cleanse_resp = [&resp] {
      if (resp.ok()) hsm::CleanseMessage(&*resp);
    };
    if (!resp.ok()) {
      if (auto e = RequestLevelError(transit_, resp.status(), key_name, kEncryptionKeyNotFound)) {
        return *e;
      }
      for (size_t i : pending) batch->items[i].error = std::string(resp.status().message());
    } else {
      for (size_t k = 0; k < pending.size() && k < static_cast<size_t>(resp->results_size());
           ++k) {
        v1::DecryptResponse::Result& r = *resp->mutable_results(static_cast<int>(k));
        Item& item = batch->items[pending[k]];
        if (r.has_error()) {
          SetItemError(&item, r.error());
        } else {
          item.result.swap(*r.mutable_plaintext());
          item.result_version = r.key_version();
        }
      }
    }
  }
  return BatchResponse(Op::kDecrypt, *batch);
}

HttpResponse VaultApi::Rewrap(const HttpRequest& request) const {
  return ProduceCiphertexts(transit_, Op::kRewrap, request, &kms::Transit::Rewrap,
                            [](v1::RewrapRequest::Item* in, std::string* text) {
                              in->mutable_ciphertext()->swap(*text);
                            });
}

HttpResponse VaultApi::ReadKey(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  v1::GetKeyRequest req;
  req.set_name(PathParam(request, "key"));
  absl::StatusOr<v1::Key> key = transit_->GetKey(req);
  if (!key.ok()) {
    if (absl::IsNotFound(key.status())) return NotFound();
    return StatusError(key.status());
  }
  return Envelope(200, KeyData(*key));
}

HttpResponse VaultApi::CreateKey(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  v1::CreateKeyRequest req;
  req.set_name(PathParam(request, "key"));

  auto type = GetString(*body, "type", "type");
  if (!type.ok()) return StatusError(type.status());
  std::string type_name = *type != nullptr ? **type : "aes256-gcm96";
  std::optional<v1::KeyType> key_type = ParseVaultType(type_name);
  if (!key_type.has_value()) {
    return Errors(400, {absl::StrCat("type: unknown key type ", type_name)});
  }
  req.set_type(*key_type);

  auto residency = GetString(*body, "residency", "residency");
  if (!residency.ok()) return StatusError(residency.status());
  std::string where = *residency != nullptr ? **residency : "wrapped";
  if (where == "hsm") {
    req.set_residency(v1::HSM);
  } else if (where == "wrapped") {
    req.set_residency(v1::WRAPPED);
  } else {
    return Errors(400, {"residency: must be \"hsm\" or \"wrapped\""});
  }

  absl::StatusOr<bool> derived = GetBool(*body, "derived", "derived");
  if (!derived.ok()) return StatusError(derived.status());
  absl::StatusOr<bool> convergent =
      GetBool(*body, "convergent_encryption", "convergent_encryption");
  if (!convergent.ok()) return StatusError(convergent.status());
  if (*convergent && !*derived) {
    return Errors(400, {"convergent encryption requires derivation to be enabled"});
  }
  req.set_derived(*derived);
  req.set_convergent(*convergent);

  for (const char* never : {"exportable", "allow_plaintext_backup"}) {
    absl::StatusOr<bool> v = GetBool(*body, never, never);
    if (!v.ok()) return StatusError(v.status());
    if (*v) return Errors(400, {absl::StrCat(never, ": Strongroom keys never leave the server")});
  }
  auto key_size = GetUint(*body, "key_size", "key_size", UINT32_MAX);
  if (!key_size.ok()) return StatusError(key_size.status());
  if (key_size->has_value() && **key_size != 0 && (*key_type != v1::HMAC || **key_size != 32)) {
    return Errors(400, {absl::StrCat("key_size: only 32 (bytes, for hmac keys) is supported")});
  }

  absl::StatusOr<absl::Duration> period =
      GetDuration(*body, "auto_rotate_period", "auto_rotate_period");
  if (!period.ok()) return StatusError(period.status());
  req.mutable_auto_rotate_period()->set_seconds(absl::ToInt64Seconds(*period));

  std::vector<std::string> warnings;
  absl::StatusOr<v1::Key> key = transit_->CreateKey(req);
  if (absl::IsAlreadyExists(key.status())) {
    v1::GetKeyRequest get;
    get.set_name(req.name());
    key = transit_->GetKey(get);
    warnings.push_back(absl::StrCat("key ", req.name(), " already existed"));
  }
  if (!key.ok()) return StatusError(key.status());
  return Envelope(200, KeyData(*key), Json(), warnings);
}

HttpResponse VaultApi::RotateKey(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  // A body is allowed (Vault clients send "{}" or nothing) and ignored.
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  v1::RotateKeyRequest req;
  req.set_name(PathParam(request, "key"));
  absl::StatusOr<v1::Key> key = transit_->RotateKey(req);
  if (!key.ok()) {
    if (absl::IsNotFound(key.status())) return Errors(400, {"key not found"});
    return StatusError(key.status());
  }
  HttpResponse response = Envelope(200, KeyData(*key));
  response.key_version = key->latest_version();
  return response;
}

HttpResponse VaultApi::Health(const HttpRequest& request) const {
  v1::Status status = status_();
  int code = status.sealed() ? 503 : 200;
  // Vault's overrides of the status code; the standby/replication ones never apply here.
  const char* param = status.sealed() ? "sealedcode" : "activecode";
  auto it = request.params.find(param);
  int override_code = 0;
  if (it != request.params.end() && absl::SimpleAtoi(it->second, &override_code) &&
      override_code >= 100 && override_code <= 599) {
    code = override_code;
  }
  Json body = Json::Object()
                  .Set("initialized", true)
                  .Set("sealed", status.sealed())
                  .Set("standby", false)
                  .Set("performance_standby", false)
                  .Set("replication_performance_mode", "disabled")
                  .Set("replication_dr_mode", "disabled")
                  .Set("server_time_utc", absl::ToUnixSeconds(absl::Now()))
                  .Set("version", status.version());
  HttpResponse response = JsonResponse(code, body);
  return response;
}

HttpResponse VaultApi::LookupSelf(const HttpRequest& request) const {
  if (request.principal == nullptr) return Errors(403, {"permission denied"});
  absl::StatusOr<v1::TokenInfo> info = tokens_->LookupSelf(*request.principal);
  if (!info.ok()) return StatusError(info.status());
  const absl::Time now = absl::Now();
  const bool periodic = info->period().seconds() > 0;
  int64_t explicit_max_ttl = 0;
  if (!periodic && info->has_max_expire_time() && info->has_create_time()) {
    explicit_max_ttl =
        info->max_expire_time().seconds() - info->create_time().seconds();
  }
  Json data = Json::Object()
                  .Set("accessor", info->accessor())
                  .Set("creation_time", info->create_time().seconds())
                  .Set("creation_ttl", periodic ? Seconds(info->period()) : Seconds(info->ttl()))
                  .Set("display_name", info->display_name())
                  .Set("entity_id", "")
                  .Set("expire_time", info->has_expire_time()
                                          ? Json(Rfc3339(TimeOf(info->expire_time())))
                                          : Json())
                  .Set("explicit_max_ttl", explicit_max_ttl)
                  .Set("issue_time", Rfc3339(TimeOf(info->create_time())))
                  .Set("meta", Json())
                  .Set("num_uses", 0)
                  .Set("orphan", true)
                  .Set("path", "auth/token/create")
                  .Set("policies", Json::Strings({info->policies().begin(),
                                                   info->policies().end()}))
                  .Set("renewable", info->renewable())
                  .Set("ttl", RemainingSeconds(*info, now))
                  .Set("type", "service");
  if (periodic) data.Set("period", Seconds(info->period()));
  return Envelope(200, std::move(data));
}

HttpResponse VaultApi::RenewSelf(const HttpRequest& request) const {
  if (request.principal == nullptr) return Errors(403, {"permission denied"});
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  absl::StatusOr<absl::Duration> increment = GetDuration(*body, "increment", "increment");
  if (!increment.ok()) return StatusError(increment.status());
  absl::StatusOr<v1::TokenInfo> info = tokens_->RenewSelf(*request.principal, *increment);
  if (!info.ok()) return StatusError(info.status());
  std::vector<std::string> policies(info->policies().begin(), info->policies().end());
  Json auth = Json::Object()
                  .Set("accessor", info->accessor())
                  .Set("policies", Json::Strings(policies))
                  .Set("token_policies", Json::Strings(policies))
                  .Set("metadata", Json())
                  .Set("lease_duration", RemainingSeconds(*info, absl::Now()))
                  .Set("renewable", info->renewable())
                  .Set("entity_id", "")
                  .Set("token_type", "service")
                  .Set("orphan", true)
                  .Set("num_uses", 0);
  return Envelope(200, Json(), std::move(auth));
}

}  // namespace strongroom::server
