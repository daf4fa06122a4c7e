#include "server/pki_service.h"

#include "server/grpc_status.h"

namespace strongroom::server {

// Every RPC is the same adapter: call the engine, copy the reply or map the error.
#define STRONGROOM_PKI_RPC(Method, Request, Response)                               \
  grpc::Status PkiService::Method(grpc::ServerContext*, const v1::Request* request, \
                                  v1::Response* response) {                         \
    absl::StatusOr<v1::Response> result = ca_->Method(*request);                    \
    if (!result.ok()) return ToGrpcStatus(result.status());                         \
    *response = *std::move(result);                                                 \
    return grpc::Status::OK;                                                        \
  }
STRONGROOM_PKI_RPCS(STRONGROOM_PKI_RPC)
#undef STRONGROOM_PKI_RPC

}  // namespace strongroom::server
