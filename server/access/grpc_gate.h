// GrpcGate: gRPC's callback API through the Gate, on a worker pool.
//
// Serve() takes a unary call as gRPC hands it over, runs it on the pool (so work that may
// block — HSM calls, storage writes — never holds one of gRPC's few callback threads):
// Admit, the handler if admitted, then the audit record; the reply goes out only once
// that record is durable, from the audit log's writer thread, so a request waiting for
// its record holds no thread at all.
//
// Bounds: at most options.max_pending calls are taken at once (queued for a worker,
// running, or waiting for their audit record); a call beyond that is shed at once, on
// gRPC's thread, with RESOURCE_EXHAUSTED, audited like any other and reported to
// options.on_shed. A reply larger than options.max_reply_bytes is not sent: the call is
// answered, and audited, RESOURCE_EXHAUSTED instead, so no OK is recorded for a reply gRPC
// would refuse to send.
//
// Credentials come from the call: the verified-by-us client certificate chain that TLS
// received (the server requests but does not itself verify client certificates, so an
// untrusted one is refused here with UNAUTHENTICATED rather than failing the handshake)
// and the token in metadata "authorization: Bearer <token>". The resource is the route's
// template filled from the request's fields; the audited key version is the response's
// key_version (or the highest key_version of its results). The request id is returned in
// trailing metadata "x-request-id".
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "google/protobuf/message.h"
#include "server/access/gate.h"
#include "server/grpc_status.h"
#include "server/worker_pool.h"

namespace strongroom::server::access {

// Credentials of a gRPC call; views into `context`, valid until the call is finished.
Credentials GrpcCredentials(grpc::ServerContextBase* context);
// The route's resource for `request` (each "{field}" from the request's string field).
std::string GrpcResource(const Route& route, const google::protobuf::Message& request);
// response.key_version, else the highest key_version among response.results; 0 if none.
uint32_t GrpcKeyVersion(const google::protobuf::Message& response);

// The route called `name`; aborts naming it if the table lacks it (routes_test keeps
// every served method in the table).
const Route& RouteOrDie(absl::string_view name);

class GrpcGate {
 public:
  struct Options {
    // Calls taken and not yet answered; more are shed (grpc.max_pending_requests).
    size_t max_pending = 256;
    // The largest reply sent (the server's max send message size).
    size_t max_reply_bytes = size_t{16} << 20;
    // Called once per shed call (metrics); may be empty.
    std::function<void()> on_shed;
  };

  // `gate` and `pool` must outlive the GrpcGate and every call it serves.
  GrpcGate(Gate* gate, WorkerPool* pool, Options options)
      : gate_(gate), pool_(pool), options_(std::move(options)) {}

  // Calls taken and not yet answered (at most options.max_pending).
  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

  // Serves the call: handler(const Gate::Call&) -> absl::StatusOr<Response> runs on the
  // pool if the gate admits the call. `handler` is moved to the pool, so it must capture by
  // value (the request pointer gRPC passed stays valid until the call is finished).
  template <typename Response, typename Handler>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, Credentials credentials,
                                  const Route& route, std::string resource, Response* response,
                                  Handler handler) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (!Take()) {
      Shed(context, credentials, route, std::move(resource), reactor);
      return reactor;
    }
    pool_->Run([this, context, credentials, &route, resource = std::move(resource), response,
                handler = std::move(handler), reactor]() mutable {
      Gate::Call call = gate_->Admit(credentials, route, std::move(resource));
      absl::Status result = call.status();
      uint32_t key_version = 0;
      if (result.ok()) {
        absl::StatusOr<Response> reply = handler(call);
        result = reply.ok() ? CheckReplySize(*reply) : reply.status();
        if (result.ok()) {
          *response = *std::move(reply);
          key_version = GrpcKeyVersion(*response);
        }
      }
      context->AddTrailingMetadata("x-request-id", call.request_id());
      gate_->RecordAsync(call, result, key_version, /*http_status=*/0,
                         [this, reactor, response, result](absl::Status audited) {
                           Release();
                           if (!audited.ok()) {
                             response->Clear();  // fail closed: no result without its record
                             reactor->Finish(ToGrpcStatus(audited));
                             return;
                           }
                           reactor->Finish(ToGrpcStatus(result));
                         });
    });
    return reactor;
  }

  // The same, with the caller's credentials and the route's resource for `request`.
  template <typename Request, typename Response, typename Handler>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const Route& route,
                                  const Request& request, Response* response, Handler handler) {
    return Serve(context, GrpcCredentials(context), route, GrpcResource(route, request), response,
                 std::move(handler));
  }

 private:
  // Counts a call in if fewer than options_.max_pending are; false (nothing counted) if not.
  bool Take();
  void Release();
  // Answers the call RESOURCE_EXHAUSTED (or its refusal, if the gate refuses it) once its
  // audit record is written.
  void Shed(grpc::CallbackServerContext* context, const Credentials& credentials,
            const Route& route, std::string resource, grpc::ServerUnaryReactor* reactor);
  // RESOURCE_EXHAUSTED naming the limit if `reply` is larger than options_.max_reply_bytes.
  absl::Status CheckReplySize(const google::protobuf::Message& reply) const;

  Gate* const gate_;
  WorkerPool* const pool_;
  const Options options_;
  std::atomic<size_t> pending_{0};
};

// A server interceptor for requests gRPC could not parse into the method's request
// message (malformed protobuf, a string field that is not UTF-8): gRPC never hands those
// to a handler and would answer UNIMPLEMENTED unaudited. For methods in the route table,
// the interceptor audits such a call like any other (its route, the resource with every
// field empty; a refused caller gets its refusal) and answers INVALID_ARGUMENT naming the
// message type, with the request id in trailing metadata. `gate` must outlive every call.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MalformedRequestInterceptorFactory(Gate* gate);

// Calls to methods no registered service has: UNIMPLEMENTED naming the method, after the
// call is audited like any other (route kUnknownGrpcMethod). Register it with
// ServerBuilder::RegisterCallbackGenericService.
class UnknownGrpcMethods final : public grpc::CallbackGenericService {
 public:
  explicit UnknownGrpcMethods(Gate* gate) : gate_(gate) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  Gate* const gate_;
};

}  // namespace strongroom::server::access
