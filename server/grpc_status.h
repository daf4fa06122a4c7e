// ToGrpcStatus: the one place where absl::Status becomes a gRPC status at the service
// edge. Codes map one to one; the message is passed through (it never holds secrets).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace strongroom::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace strongroom::server
