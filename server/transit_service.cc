#include "server/transit_service.h"

#include "server/grpc_status.h"

namespace strongroom::server {

// Every RPC is the same adapter: call the engine, copy the reply or map the error.
#define STRONGROOM_TRANSIT_RPC(Method, Request, Response)                               \
  grpc::Status TransitService::Method(grpc::ServerContext*, const v1::Request* request, \
                                      v1::Response* response) {                         \
    absl::StatusOr<v1::Response> result = transit_->Method(*request);                   \
    if (!result.ok()) return ToGrpcStatus(result.status());                             \
    *response = *std::move(result);                                                     \
    return grpc::Status::OK;                                                            \
  }
STRONGROOM_TRANSIT_RPCS(STRONGROOM_TRANSIT_RPC)
#undef STRONGROOM_TRANSIT_RPC

}  // namespace strongroom::server
