#include "server/http/vault/json.h"

#include <openssl/rand.h>

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "server/json_object.h"

namespace strongroom::server::vault {

using google::protobuf::Struct;
using google::protobuf::Value;

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

HttpResponse StatusError(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kPermissionDenied ||
      status.code() == absl::StatusCode::kUnauthenticated) {
    return JsonErrors(403, {"permission denied"});
  }
  return JsonErrors(HttpStatusOf(status.code()), {std::string(status.message())});
}

namespace {

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

}  // namespace

HttpResponse Envelope(int status, Json data, Json auth, const std::vector<std::string>& warnings) {
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

HttpResponse NotFound() { return JsonErrors(404, {}); }

VaultRoute::ResourceParamsFn BodyFields(std::vector<std::pair<std::string, std::string>> fields) {
  return [fields = std::move(fields)](const HttpRequest& request)
             -> absl::StatusOr<std::map<std::string, std::string>> {
    if (request.body.size() > kMaxResourceParamsBody) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request body: at most ", kMaxResourceParamsBody, " bytes on this route"));
    }
    Body parsed;
    if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return s;
    std::map<std::string, std::string> out;
    for (const auto& [name, fallback] : fields) {
      absl::StatusOr<const std::string*> value = GetString(parsed.json, name, name);
      if (!value.ok()) return value.status();
      out[name] = *value != nullptr && !(*value)->empty() ? **value : fallback;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------
// Request parsing.

absl::Status ParseBody(const std::string& body, Struct* out) {
  if (absl::StripAsciiWhitespace(body).empty()) return absl::OkStatus();
  // Vault's requests nest objects and arrays 3 deep ({"batch_input":[{...}]}).
  absl::Status parsed = ParseJsonObject(body, {kMaxJsonDepth, kMaxJsonItems}, "the body", out);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to parse JSON input: ", parsed.message()));
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

namespace {

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

}  // namespace

Body::~Body() { CleanseJson(&json); }

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

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

std::string PathParam(const HttpRequest& request, const char* name) {
  auto it = request.path_params.find(name);
  return it == request.path_params.end() ? "" : it->second;
}


}  // namespace strongroom::server::vault
