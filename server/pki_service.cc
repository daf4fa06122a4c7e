#include "server/pki_service.h"

#include "server/access/grpc_gate.h"

namespace strongroom::server {

// Every RPC is the same adapter: through the gate to the engine.
#define STRONGROOM_PKI_RPC(Method, Request, Response)                                             \
  grpc::ServerUnaryReactor* PkiService::Method(                                                   \
      grpc::CallbackServerContext* context, const v1::Request* request, v1::Response* response) { \
    static const access::Route& route = access::RouteOrDie("/strongroom.v1.Pki/" #Method);        \
    return gate_->Serve(                                                                          \
        context, route, *request, response,                                                       \
        [this, request](const access::Gate::Call&) { return ca_->Method(*request); });            \
  }
STRONGROOM_PKI_RPCS(STRONGROOM_PKI_RPC)
#undef STRONGROOM_PKI_RPC

}  // namespace strongroom::server
