#include "server/access/grpc_gate.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

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
    // Server side, the chain property holds what the client sent after its leaf (OpenSSL's
    // SSL_get_peer_cert_chain leaves the leaf out there); the leaf is its own property.
    std::vector<grpc::string_ref> leaf = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    std::vector<grpc::string_ref> chain =
        auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
    if (!leaf.empty()) {
      const absl::string_view rest = chain.empty() ? "" : View(chain.front());
      credentials.cert_chain_pem = absl::StartsWith(rest, View(leaf.front()))
                                       ? std::string(rest)
                                       : absl::StrCat(View(leaf.front()), rest);
    }
  }
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  credentials.repeated_token = metadata.count("authorization") > 1;
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

bool GrpcGate::Take() {
  size_t pending = pending_.load(std::memory_order_relaxed);
  do {
    if (pending >= options_.max_pending) return false;
  } while (!pending_.compare_exchange_weak(pending, pending + 1, std::memory_order_relaxed));
  return true;
}

void GrpcGate::Release() { pending_.fetch_sub(1, std::memory_order_relaxed); }

void GrpcGate::Shed(grpc::CallbackServerContext* context, const Credentials& credentials,
                    const Route& route, std::string resource, grpc::ServerUnaryReactor* reactor) {
  if (options_.on_shed) options_.on_shed();
  Gate::Call call = gate_->Admit(credentials, route, std::move(resource));
  const absl::Status refusal =
      call.status().ok()
          ? absl::ResourceExhaustedError(absl::StrCat(
                "server busy: ", options_.max_pending,
                " requests already pending (grpc.max_pending_requests); retry later"))
          : call.status();
  context->AddTrailingMetadata("x-request-id", call.request_id());
  gate_->RecordAsync(call, refusal, /*key_version=*/0, /*http_status=*/0,
                     [reactor, refusal](absl::Status audited) {
                       reactor->Finish(ToGrpcStatus(audited.ok() ? refusal : audited));
                     });
}

absl::Status GrpcGate::CheckReplySize(const google::protobuf::Message& reply) const {
  const size_t size = reply.ByteSizeLong();
  if (size <= options_.max_reply_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "reply of ", size, " bytes exceeds the largest reply, ", options_.max_reply_bytes,
      " bytes (derived from grpc.max_message_bytes); ask for less (a smaller page or batch)"));
}

namespace {

// Audits and answers a call whose request did not parse; see the header.
class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(Gate* gate, grpc::experimental::ServerRpcInfo* info,
                              const Route* route)
      : gate_(gate), info_(info), route_(route) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    // gRPC hands interceptors no message when it could not parse the request.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      malformed_ = true;
    }
    if (!malformed_ ||
        !methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->Proceed();
      return;
    }
    Gate::Call call = gate_->Admit(
        GrpcCredentials(info_->server_context()), *route_,
        ExpandResource(route_->resource, [](absl::string_view) { return std::string(); }));
    const absl::Status outcome =
        call.status().ok()
            ? absl::InvalidArgumentError(absl::StrCat(
                  "request is not a valid ", RequestType(),
                  " message (malformed protobuf, or a string field that is not UTF-8)"))
            : call.status();
    methods->GetSendTrailingMetadata()->emplace("x-request-id", call.request_id());
    gate_->RecordAsync(call, outcome, /*key_version=*/0, /*http_status=*/0,
                       [methods, outcome](absl::Status audited) {
                         methods->ModifySendStatus(ToGrpcStatus(audited.ok() ? outcome : audited));
                         methods->Proceed();
                       });
  }

 private:
  // "strongroom.v1.EncryptRequest" for "/strongroom.v1.Transit/Encrypt"; "request" if the
  // method is not in the generated descriptor pool.
  std::string RequestType() const {
    std::string name(absl::string_view(info_->method()).substr(1));
    std::replace(name.begin(), name.end(), '/', '.');
    const google::protobuf::MethodDescriptor* method =
        google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
    return method != nullptr ? method->input_type()->full_name() : "request";
  }

  Gate* const gate_;
  grpc::experimental::ServerRpcInfo* const info_;
  const Route* const route_;
  bool malformed_ = false;
};

class MalformedRequestFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MalformedRequestFactory(Gate* gate) : gate_(gate) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY &&
        info->type() != grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING) {
      return nullptr;  // No request message read before the handler runs.
    }
    const Route* route = FindRoute(info->method());
    if (route == nullptr) return nullptr;  // Not served through the gate.
    return new MalformedRequestInterceptor(gate_, info, route);
  }

 private:
  Gate* const gate_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MalformedRequestInterceptorFactory(Gate* gate) {
  return std::make_unique<MalformedRequestFactory>(gate);
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
