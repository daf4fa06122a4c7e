#include "server/pki_service.h"

#include <type_traits>

#include "server/access/grpc_gate.h"
#include "server/access/pki_rights.h"
#include "server/access/visible_page.h"

namespace strongroom::server {

template <typename Request, typename Method>
auto PkiService::Run(const access::Gate::Call& call, const Request& request, Method method) {
  if constexpr (std::is_invocable_v<Method, pki::Ca*, const Request&, const pki::CallerRights&>) {
    const access::PolicyCallerRights rights(call.policies(), call.principal());
    return (ca_->*method)(request, rights);
  } else {
    return (ca_->*method)(request);
  }
}

template <typename Request, typename Response>
absl::StatusOr<Response> PkiService::ListVisible(
    const access::Gate::Call& call, const Request& request, Lister<Request, Response> method,
    absl::string_view resource_prefix,
    google::protobuf::RepeatedPtrField<std::string>* (Response::*names)()) {
  Response response;
  absl::StatusOr<std::vector<std::string>> visible = access::VisiblePage(
      call.policies(), call.principal(), resource_prefix, request.page_size(), request.page_token(),
      [&](const std::string& page_token,
          std::string* next) -> absl::StatusOr<std::vector<std::string>> {
        Request page = request;
        page.set_page_token(page_token);
        absl::StatusOr<Response> listed = (ca_->*method)(page);
        if (!listed.ok()) return listed.status();
        *next = listed->next_page_token();
        return std::vector<std::string>(((*listed).*names)()->begin(), ((*listed).*names)()->end());
      },
      response.mutable_next_page_token());
  if (!visible.ok()) return visible.status();
  for (std::string& name : *visible) (response.*names)()->Add(std::move(name));
  return response;
}

absl::StatusOr<v1::ListIssuersResponse> PkiService::Run(
    const access::Gate::Call& call, const v1::ListIssuersRequest& request,
    Lister<v1::ListIssuersRequest, v1::ListIssuersResponse> method) {
  return ListVisible(call, request, method, "pki/issuers/",
                     &v1::ListIssuersResponse::mutable_issuer_names);
}

absl::StatusOr<v1::ListRolesResponse> PkiService::Run(
    const access::Gate::Call& call, const v1::ListRolesRequest& request,
    Lister<v1::ListRolesRequest, v1::ListRolesResponse> method) {
  return ListVisible(call, request, method, "pki/roles/", &v1::ListRolesResponse::mutable_names);
}

absl::StatusOr<v1::ListCertificatesResponse> PkiService::Run(
    const access::Gate::Call& call, const v1::ListCertificatesRequest& request,
    Lister<v1::ListCertificatesRequest, v1::ListCertificatesResponse> method) {
  return ListVisible(call, request, method, "pki/certs/",
                     &v1::ListCertificatesResponse::mutable_serial_numbers);
}

// Every RPC is the same adapter: through the gate to the engine.
#define STRONGROOM_PKI_RPC(Method, Request, Response)                                             \
  grpc::ServerUnaryReactor* PkiService::Method(                                                   \
      grpc::CallbackServerContext* context, const v1::Request* request, v1::Response* response) { \
    static const access::Route& route = access::RouteOrDie("/strongroom.v1.Pki/" #Method);        \
    return gate_->Serve(context, route, *request, response,                                       \
                        [this, request](const access::Gate::Call& call) {                         \
                          return Run(call, *request, &pki::Ca::Method);                           \
                        });                                                                       \
  }
STRONGROOM_PKI_RPCS(STRONGROOM_PKI_RPC)
#undef STRONGROOM_PKI_RPC

}  // namespace strongroom::server
