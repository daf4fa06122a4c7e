#include "server/transit_service.h"

#include "server/access/grpc_gate.h"

namespace strongroom::server {

TransitService::TransitService(kms::Transit* transit, access::GrpcGate* gate)
    : transit_(transit), gate_(gate) {
#define STRONGROOM_SET_ALLOCATOR(Method, Request, Response) \
  SetMessageAllocatorFor_##Method(&Method##_messages_);
  STRONGROOM_TRANSIT_RPCS(STRONGROOM_SET_ALLOCATOR)
#undef STRONGROOM_SET_ALLOCATOR
}

// Every RPC is the same adapter: through the gate to the engine.
#define STRONGROOM_TRANSIT_RPC(Method, Request, Response)                                         \
  grpc::ServerUnaryReactor* TransitService::Method(                                               \
      grpc::CallbackServerContext* context, const v1::Request* request, v1::Response* response) { \
    static const access::Route& route = access::RouteOrDie("/strongroom.v1.Transit/" #Method);    \
    return gate_->Serve(                                                                          \
        context, route, *request, response,                                                       \
        [this, request](const access::Gate::Call&) { return transit_->Method(*request); });       \
  }
STRONGROOM_TRANSIT_RPCS(STRONGROOM_TRANSIT_RPC)
#undef STRONGROOM_TRANSIT_RPC

}  // namespace strongroom::server
