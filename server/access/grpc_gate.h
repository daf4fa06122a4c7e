// ServeGrpc: a synchronous gRPC handler through the Gate.
//
// Credentials come from the call: the verified-by-us client certificate chain that TLS
// received (the server requests but does not itself verify client certificates, so an
// untrusted one is refused here with UNAUTHENTICATED rather than failing the handshake)
// and the token in metadata "authorization: Bearer <token>". The resource is the route's
// template filled from the request's fields; the audited key version is the response's
// key_version (or the highest key_version of its results). The request id is returned in
// trailing metadata "x-request-id".
#pragma once

#include <grpcpp/server_context.h>

#include <string>

#include "google/protobuf/message.h"
#include "server/access/gate.h"
#include "server/grpc_status.h"

namespace strongroom::server::access {

// Credentials of a gRPC call; views into `context`, valid during the call.
Credentials GrpcCredentials(grpc::ServerContext* context);
// The route's resource for `request` (each "{field}" from the request's string field).
std::string GrpcResource(const Route& route, const google::protobuf::Message& request);
// response.key_version, else the highest key_version among response.results; 0 if none.
uint32_t GrpcKeyVersion(const google::protobuf::Message& response);

// The route called `name`; aborts naming it if the table lacks it (routes_test keeps
// every served method in the table).
const Route& RouteOrDie(absl::string_view name);

// Runs `handler(call)` -> absl::StatusOr<Response> if the gate admits the call.
template <typename Response, typename Handler>
grpc::Status ServeGrpc(Gate& gate, grpc::ServerContext* context, const Credentials& credentials,
                       const Route& route, std::string resource, Response* response,
                       Handler&& handler) {
  Gate::Call call = gate.Admit(credentials, route, std::move(resource));
  absl::Status result = call.status();
  uint32_t key_version = 0;
  if (result.ok()) {
    absl::StatusOr<Response> reply = handler(call);
    result = reply.status();
    if (reply.ok()) {
      *response = *std::move(reply);
      key_version = GrpcKeyVersion(*response);
    }
  }
  context->AddTrailingMetadata("x-request-id", call.request_id());
  if (absl::Status audited = gate.Record(call, result, key_version); !audited.ok()) {
    response->Clear();
    return ToGrpcStatus(audited);
  }
  return ToGrpcStatus(result);
}

template <typename Request, typename Response, typename Handler>
grpc::Status ServeGrpc(Gate& gate, grpc::ServerContext* context, const Route& route,
                       const Request& request, Response* response, Handler&& handler) {
  return ServeGrpc(gate, context, GrpcCredentials(context), route, GrpcResource(route, request),
                   response, std::forward<Handler>(handler));
}

}  // namespace strongroom::server::access
