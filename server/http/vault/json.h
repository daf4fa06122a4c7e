// Vault's JSON over HTTP, shared by the Vault API's engines (transit, pki, token, sys):
// a small ordered JSON value for replies, Vault's reply envelope (errors: JsonErrors, router.h),
// and request bodies parsed with a nesting bound and read with Vault's lenient field typing
// (integers and booleans may arrive as strings, durations as "1h"). Every string a body or a
// reply holds is cleansed when it is freed: it may be base64 plaintext.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "hsm/secret_data.h"
#include "server/http/server.h"
#include "server/json_string.h"

namespace strongroom::server::access {
class PolicySet;
}

namespace strongroom::server::vault {

// One route of an engine, pattern in HttpRouter syntax, e.g.
// {"POST", "/v1/{mount}/encrypt/{key}", handler}. `resource_params`, when set, supplies
// the values of the route's resource template that the path does not carry (the accessor
// Vault's auth/token/lookup-accessor names in its body), for the access gate
// (access::HttpResourceParams: it runs before authentication, so it must be cheap).
// The bound on a body read before authentication for resource_params.
constexpr size_t kMaxResourceParamsBody = 64 << 10;

struct VaultRoute {
  using ResourceParamsFn =
      std::function<absl::StatusOr<std::map<std::string, std::string>>(const HttpRequest&)>;
  std::string method;
  std::string pattern;
  HttpHandler handler;
  ResourceParamsFn resource_params = nullptr;
};

// resource_params naming objects by the body's top-level string fields: each of `fields`
// is {name, fallback}, the value being the body's field `name`, or `fallback` when the body
// has none (or an empty one). INVALID_ARGUMENT for a body over kMaxResourceParamsBody, not
// JSON, or with such a field that is not a string.
VaultRoute::ResourceParamsFn BodyFields(std::vector<std::pair<std::string, std::string>> fields);

// The policy set requests are checked against after admission (access::Gate::policies),
// for handlers that apply rules of their own (PKI caller rights, token grants).
using PolicySource = std::function<std::shared_ptr<const access::PolicySet>()>;

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

  // Adds `key`, or replaces its value in place: an object never holds a key twice.
  Json& Set(std::string key, Json value) {
    for (auto& member : members_) {
      if (member.first == key) {
        member.second = std::move(value);
        return *this;
      }
    }
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

HttpResponse JsonResponse(int status, const Json& body);
// The Vault answer for a failed call: 403 "permission denied" for PERMISSION_DENIED and
// UNAUTHENTICATED, else HttpStatusOf(code) with the status message.
HttpResponse StatusError(const absl::Status& status);
// Vault's response envelope around `data` (or `auth`), with a fresh request_id.
HttpResponse Envelope(int status, Json data, Json auth = Json(),
                      const std::vector<std::string>& warnings = {});
// 404 with an empty errors list (Vault's answer for reading what does not exist).
HttpResponse NotFound();

// ---------------------------------------------------------------------------------------
// Request bodies. A body is a JSON object (an empty body is an empty object) nested at most
// kMaxJsonDepth deep, no array or object in it holding more than kMaxJsonItems items (Vault's
// batch limit), both checked before parsing.

constexpr int kMaxJsonDepth = 16;
constexpr size_t kMaxJsonItems = 10000;

// A parsed body that is cleansed when it goes out of scope.
struct Body {
  google::protobuf::Struct json;
  ~Body();
};

// INVALID_ARGUMENT naming the problem (never quoting the body) if `body` is not a JSON object
// within the depth bound.
absl::Status ParseBody(const std::string& body, google::protobuf::Struct* out);

// The field, or nullptr if absent or JSON null.
const google::protobuf::Value* Field(const google::protobuf::Struct& s, const std::string& name);
// INVALID_ARGUMENT "<field>: expected <expected>".
absl::Status TypeError(absl::string_view field, absl::string_view expected);
// The string in the body, not a copy (it may be base64 plaintext); nullptr if absent.
absl::StatusOr<const std::string*> GetString(const google::protobuf::Struct& s,
                                             const std::string& name, absl::string_view label);
// A non-negative integer from a JSON number or a decimal string, at most `max`.
absl::StatusOr<std::optional<uint64_t>> GetUint(const google::protobuf::Struct& s,
                                                const std::string& name, absl::string_view label,
                                                uint64_t max);
// A boolean, or a string Go's strconv.ParseBool accepts; false if absent.
absl::StatusOr<bool> GetBool(const google::protobuf::Struct& s, const std::string& name,
                             absl::string_view label);
// Seconds as a number or a string ("3600", "1h", "90m", "2d"); zero if absent.
absl::StatusOr<absl::Duration> GetDuration(const google::protobuf::Struct& s,
                                           const std::string& name, absl::string_view label);
// Standard base64 with padding, nothing else (as Go's base64.StdEncoding).
bool DecodeBase64(absl::string_view in, std::string* out);

// ---------------------------------------------------------------------------------------
// Small shared pieces.

absl::Time TimeOf(const google::protobuf::Timestamp& t);
std::string Rfc3339(absl::Time t);
// The value of a path parameter, or "" if the route has none by that name.
std::string PathParam(const HttpRequest& request, const char* name);

}  // namespace strongroom::server::vault
