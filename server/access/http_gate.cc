#include "server/access/http_gate.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace strongroom::server::access {
namespace {

absl::Status StatusOfHttp(int status) {
  if (status < 400) return absl::OkStatus();
  switch (status) {
    case 400: return absl::InvalidArgumentError("");
    case 403: return absl::PermissionDeniedError("");
    case 404: return absl::NotFoundError("");
    case 405: return absl::UnimplementedError("");
    case 429: return absl::ResourceExhaustedError("");
    case 503: return absl::UnavailableError("");
    default: return absl::Status(status < 500 ? absl::StatusCode::kFailedPrecondition
                                              : absl::StatusCode::kInternal, "");
  }
}

absl::string_view Header(const HttpRequest& request, absl::string_view name) {
  auto it = request.headers.find(std::string(name));
  return it == request.headers.end() ? absl::string_view() : absl::string_view(it->second);
}

// Admits the request with `credentials`, runs `handler` if allowed, and audits; `reply`
// gets the response once the audit record is durable, or written where the route allows
// (routes.h ReplyDurability; 503 if it could not be made so).
// The request is the caller's own: the principal and the resource values are set in it
// for the handler, and the principal is cleared again before the call ends.
void Serve(Gate* gate, const Route& route, const HttpHandler& handler,
           const HttpResourceParams& params, const Credentials& credentials,
           HttpRequest& request, HttpReply reply) {
  absl::StatusOr<std::map<std::string, std::string>> extra =
      params ? params(request) : std::map<std::string, std::string>();
  std::string resource = ExpandResource(route.resource, [&](absl::string_view name) {
    auto it = request.path_params.find(std::string(name));
    if (it != request.path_params.end()) return it->second;
    if (!extra.ok()) return std::string();
    auto found = extra->find(std::string(name));
    return found == extra->end() ? std::string() : found->second;
  });
  Gate::Call call = gate->Admit(credentials, route, std::move(resource));
  HttpResponse response;
  if (call.status().ok() && !extra.ok()) {
    response = JsonError(HttpStatusOf(extra.status().code()), extra.status().message());
  } else if (call.status().ok()) {
    request.path_params.insert(extra->begin(), extra->end());
    request.principal = &call.principal();
    response = handler(request);
    request.principal = nullptr;  // the call ends here
    if (!response.audit_identity.empty()) call.set_identity(std::move(response.audit_identity));
    call.set_answer_presigned(response.presigned);
  } else {
    response = JsonError(HttpStatusOf(call.status().code()), call.status().message());
  }
  call.set_detail(response.audit_detail);
  const int status = response.status;
  const uint32_t key_version = response.key_version;
  gate->RecordAsync(call, StatusOfHttp(status), key_version, status,
                    [response = std::move(response),
                     reply = std::move(reply)](absl::Status audited) mutable {
                      reply(audited.ok() ? std::move(response)
                                         : JsonError(503, audited.message()));
                    });
}

Credentials CredentialsOf(const HttpRequest& request) {
  Credentials credentials;
  credentials.peer = request.peer;
  credentials.cert_chain_pem = request.client_cert_chain_pem;
  credentials.token = Header(request, "x-vault-token");
  credentials.repeated_token =
      request.headers.count("x-vault-token") > 1 || request.headers.count("authorization") > 1;
  if (credentials.token.empty()) {
    absl::string_view auth = Header(request, "authorization");
    if (absl::StartsWithIgnoreCase(auth, "bearer ")) credentials.token = auth.substr(7);
  }
  return credentials;
}

// The synchronous form of an asynchronous gated handler: waits for its reply. The request
// is copied, since a const one cannot carry the principal.
HttpHandler Waiting(AsyncHttpHandler gated) {
  return [gated = std::move(gated)](const HttpRequest& request) {
    absl::Notification replied;
    HttpResponse response;
    gated(request, [&](HttpResponse answer) {
      response = std::move(answer);
      replied.Notify();
    });
    replied.WaitForNotification();
    return response;
  };
}

}  // namespace

HandlerRuns RunsOf(const Route& route, const HttpResourceParams& params) {
  return route.never_blocks && route.operation == Operation::kPublic && params == nullptr
             ? HandlerRuns::kInline
             : HandlerRuns::kWorker;
}

AsyncHttpHandler GateHttpAsync(Gate* gate, const Route& route, HttpHandler handler,
                               HttpResourceParams params) {
  return [gate, &route, handler = std::move(handler), params = std::move(params)](
             HttpRequest request, HttpReply reply) {
    Serve(gate, route, handler, params, CredentialsOf(request), request, std::move(reply));
  };
}

AsyncHttpHandler GateHttpWithoutCredentialsAsync(Gate* gate, const Route& route,
                                                 HttpHandler handler) {
  return [gate, &route, handler = std::move(handler)](HttpRequest request, HttpReply reply) {
    Credentials credentials;
    credentials.peer = request.peer;
    Serve(gate, route, handler, nullptr, credentials, request, std::move(reply));
  };
}

HttpHandler GateHttp(Gate* gate, const Route& route, HttpHandler handler,
                     HttpResourceParams params) {
  return Waiting(GateHttpAsync(gate, route, std::move(handler), std::move(params)));
}

HttpHandler GateHttpWithoutCredentials(Gate* gate, const Route& route, HttpHandler handler) {
  return Waiting(GateHttpWithoutCredentialsAsync(gate, route, std::move(handler)));
}

}  // namespace strongroom::server::access
