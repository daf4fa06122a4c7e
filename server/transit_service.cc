#include "server/transit_service.h"

#include "server/access/grpc_gate.h"
#include "server/access/visible_page.h"

namespace strongroom::server {

TransitService::TransitService(kms::Transit* transit, access::GrpcGate* gate)
    : transit_(transit), gate_(gate) {
#define STRONGROOM_SET_ALLOCATOR(Method, Request, Response) \
  SetMessageAllocatorFor_##Method(&Method##_messages_);
  STRONGROOM_TRANSIT_RPCS(STRONGROOM_SET_ALLOCATOR)
#undef STRONGROOM_SET_ALLOCATOR
}

absl::StatusOr<v1::ListKeysResponse> TransitService::Run(
    const access::Gate::Call& call, const v1::ListKeysRequest& request,
    absl::StatusOr<v1::ListKeysResponse> (kms::Transit::*)(const v1::ListKeysRequest&)) {
  v1::ListKeysResponse response;
  absl::StatusOr<std::vector<std::string>> names = access::VisiblePage(
      call.policies(), call.principal(), "transit/keys/", request.page_size(), request.page_token(),
      [&](const std::string& page_token,
          std::string* next) -> absl::StatusOr<std::vector<std::string>> {
        v1::ListKeysRequest page = request;
        page.set_page_token(page_token);
        absl::StatusOr<v1::ListKeysResponse> listed = transit_->ListKeys(page);
        if (!listed.ok()) return listed.status();
        *next = listed->next_page_token();
        return std::vector<std::string>(listed->names().begin(), listed->names().end());
      },
      response.mutable_next_page_token());
  if (!names.ok()) return names.status();
  for (std::string& name : *names) response.add_names(std::move(name));
  return response;
}

// Every RPC is the same adapter: through the gate to the engine.
#define STRONGROOM_TRANSIT_RPC(Method, Request, Response)                                         \
  grpc::ServerUnaryReactor* TransitService::Method(                                               \
      grpc::CallbackServerContext* context, const v1::Request* request, v1::Response* response) { \
    static const access::Route& route = access::RouteOrDie("/strongroom.v1.Transit/" #Method);    \
    return gate_->Serve(context, route, *request, response,                                       \
                        [this, request](const access::Gate::Call& call) {                         \
                          return Run(call, *request, &kms::Transit::Method);                      \
                        });                                                                       \
  }
STRONGROOM_TRANSIT_RPCS(STRONGROOM_TRANSIT_RPC)
#undef STRONGROOM_TRANSIT_RPC

}  // namespace strongroom::server
