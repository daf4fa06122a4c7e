#include "server/pki_service.h"

#include <type_traits>

#include "server/access/grpc_gate.h"
#include "server/access/pki_rights.h"

namespace strongroom::server {
namespace {

// Runs engine method `method`; those that take the caller's rights (role writes and
// issuance, pki/caller_rights.h) get them from the call's principal and policy set.
template <typename Method, typename Request>
auto Run(pki::Ca* ca, Method method, const Request& request, const access::Gate::Call& call) {
  if constexpr (std::is_invocable_v<Method, pki::Ca*, const Request&, const pki::CallerRights&>) {
    const access::PolicyCallerRights rights(call.policies(), call.principal());
    return (ca->*method)(request, rights);
  } else {
    return (ca->*method)(request);
  }
}

}  // namespace

// Every RPC is the same adapter: through the gate to the engine.
#define STRONGROOM_PKI_RPC(Method, Request, Response)                                             \
  grpc::ServerUnaryReactor* PkiService::Method(                                                   \
      grpc::CallbackServerContext* context, const v1::Request* request, v1::Response* response) { \
    static const access::Route& route = access::RouteOrDie("/strongroom.v1.Pki/" #Method);        \
    return gate_->Serve(context, route, *request, response,                                       \
                        [this, request](const access::Gate::Call& call) {                         \
                          return Run(ca_, &pki::Ca::Method, *request, call);                      \
                        });                                                                       \
  }
STRONGROOM_PKI_RPCS(STRONGROOM_PKI_RPC)
#undef STRONGROOM_PKI_RPC

}  // namespace strongroom::server
