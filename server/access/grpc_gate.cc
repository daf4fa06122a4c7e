#include "server/access/grpc_gate.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server::access {
namespace {

absl::string_view View(const grpc::string_ref& s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

const Route& RouteOrDie(absl::string_view name) {
  const Route* route = FindRoute(name);
  if (route == nullptr) {
    std::fprintf(stderr, "strongroomd: %.*s is missing from server/access/routes.cc\n",
                 static_cast<int>(name.size()), name.data());
    std::abort();
  }
  return *route;
}

Credentials GrpcCredentials(grpc::ServerContextBase* context) {
  Credentials credentials;
  credentials.peer = context->peer();
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth != nullptr) {
    std::vector<grpc::string_ref> chain =
        auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
    if (chain.empty()) chain = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!chain.empty()) credentials.cert_chain_pem = View(chain.front());
  }
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    absl::string_view value = View(it->second);
    if (absl::StartsWithIgnoreCase(value, "bearer ")) credentials.token = value.substr(7);
  }
  return credentials;
}

std::string GrpcResource(const Route& route, const google::protobuf::Message& request) {
  const google::protobuf::Descriptor* descriptor = request.GetDescriptor();
  const google::protobuf::Reflection* reflection = request.GetReflection();
  return ExpandResource(route.resource, [&](absl::string_view name) -> std::string {
    const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByName(std::string(name));
    if (field == nullptr || field->is_repeated() ||
        field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
      return "";
    }
    return reflection->GetString(request, field);
  });
}

uint32_t GrpcKeyVersion(const google::protobuf::Message& response) {
  using google::protobuf::FieldDescriptor;
  auto key_version_field = [](const google::protobuf::Descriptor* d) -> const FieldDescriptor* {
    const FieldDescriptor* f = d->FindFieldByName("key_version");
    return f != nullptr && !f->is_repeated() && f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32
               ? f
               : nullptr;
  };
  const google::protobuf::Descriptor* descriptor = response.GetDescriptor();
  const google::protobuf::Reflection* reflection = response.GetReflection();
  if (const FieldDescriptor* f = key_version_field(descriptor)) {
    return reflection->GetUInt32(response, f);
  }
  const FieldDescriptor* results = descriptor->FindFieldByName("results");
  if (results == nullptr || !results->is_repeated() ||
      results->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return 0;
  }
  const FieldDescriptor* item_version = key_version_field(results->message_type());
  if (item_version == nullptr) return 0;
  uint32_t version = 0;
  const int n = reflection->FieldSize(response, results);
  for (int i = 0; i < n; ++i) {
    const google::protobuf::Message& item = reflection->GetRepeatedMessage(response, results, i);
    version = std::max(version, item.GetReflection()->GetUInt32(item, item_version));
  }
  return version;
}

namespace {

// Answers without reading the request; deletes itself when gRPC is done with the call.
class Refusal final : public grpc::ServerGenericBidiReactor {
 public:
  void OnDone() override { delete this; }
};

constexpr size_t kMaxAuditedMethodName = 256;

}  // namespace

grpc::ServerGenericBidiReactor* UnknownGrpcMethods::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  auto* reactor = new Refusal();
  const absl::string_view method = context->method();
  static const Route& route = RouteOrDie(kUnknownGrpcMethod);
  Gate::Call call = gate_->Admit(GrpcCredentials(context), route,
                                 absl::StrCat("grpc", method.substr(0, kMaxAuditedMethodName)));
  const absl::Status refusal = absl::UnimplementedError(
      absl::StrCat("unknown method ", method.substr(0, kMaxAuditedMethodName)));
  context->AddTrailingMetadata("x-request-id", call.request_id());
  gate_->RecordAsync(call, refusal, /*key_version=*/0, /*http_status=*/0,
                     [reactor, refusal](absl::Status audited) {
                       reactor->Finish(ToGrpcStatus(audited.ok() ? refusal : audited));
                     });
  return reactor;
}

}  // namespace strongroom::server::access
