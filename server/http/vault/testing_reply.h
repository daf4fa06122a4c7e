// Reply: an HttpResponse as the Vault API tests read it (status, body, the body parsed as
// JSON, values by dotted path such as "auth.policies.0"). Test-only.
#pragma once

#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/http/server.h"

namespace strongroom::server::vault::testing {

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  google::protobuf::Struct json;
  bool parsed = false;

  explicit Reply(const HttpResponse& response)
      : status(response.status), content_type(response.content_type), body(response.body) {
    parsed = !body.empty() &&
             google::protobuf::util::JsonStringToMessage(body, &json).ok();
  }

  // The value at a dotted path; a Value with no kind if absent.
  google::protobuf::Value At(const std::string& path) const {
    google::protobuf::Value v;
    *v.mutable_struct_value() = json;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
      google::protobuf::Value next;
      if (v.has_struct_value()) {
        auto it = v.struct_value().fields().find(part);
        if (it == v.struct_value().fields().end()) return {};
        next = it->second;
      } else if (v.has_list_value()) {
        size_t i = std::stoul(part);
        if (i >= static_cast<size_t>(v.list_value().values_size())) return {};
        next = v.list_value().values(static_cast<int>(i));
      } else {
        return {};
      }
      v = next;
      if (dot == std::string::npos) return v;
      start = dot + 1;
    }
  }
  std::string Str(const std::string& path) const { return At(path).string_value(); }
  double Num(const std::string& path) const { return At(path).number_value(); }
  bool Bool(const std::string& path) const { return At(path).bool_value(); }
  bool Has(const std::string& path) const {
    return At(path).kind_case() != google::protobuf::Value::KIND_NOT_SET;
  }
  bool IsNull(const std::string& path) const {
    return At(path).kind_case() == google::protobuf::Value::kNullValue;
  }
};

}  // namespace strongroom::server::vault::testing
