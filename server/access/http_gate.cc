#include "server/access/http_gate.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/json_string.h"

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

// Admits the request with `credentials`, runs `handler` if allowed, and audits.
HttpResponse Serve(Gate* gate, const Route& route, const HttpHandler& handler,
                   const HttpResourceParams& params, const Credentials& credentials,
                   const HttpRequest& request) {
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
    HttpRequest admitted = request;
    admitted.path_params.insert(extra->begin(), extra->end());
    admitted.principal = &call.principal();
    response = handler(admitted);
    if (!response.audit_identity.empty()) call.set_identity(std::move(response.audit_identity));
  } else {
    response = JsonError(HttpStatusOf(call.status().code()), call.status().message());
  }
  call.set_detail(response.audit_detail);
  absl::Status audited =
      gate->Record(call, StatusOfHttp(response.status), response.key_version, response.status);
  if (!audited.ok()) return JsonError(503, audited.message());
  return response;
}

}  // namespace

HttpResponse JsonError(int status, absl::string_view message) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = "{\"errors\":[";
  AppendJsonString(message, &response.body);
  response.body += "]}";
  return response;
}

HttpHandler GateHttp(Gate* gate, const Route& route, HttpHandler handler,
                     HttpResourceParams params) {
  return [gate, &route, handler = std::move(handler),
          params = std::move(params)](const HttpRequest& request) {
    Credentials credentials;
    credentials.peer = request.peer;
    credentials.cert_chain_pem = request.client_cert_chain_pem;
    credentials.token = Header(request, "x-vault-token");
    if (credentials.token.empty()) {
      absl::string_view auth = Header(request, "authorization");
      if (absl::StartsWithIgnoreCase(auth, "bearer ")) credentials.token = auth.substr(7);
    }
    return Serve(gate, route, handler, params, credentials, request);
  };
}

HttpHandler GateHttpWithoutCredentials(Gate* gate, const Route& route, HttpHandler handler) {
  return [gate, &route, handler = std::move(handler)](const HttpRequest& request) {
    Credentials credentials;
    credentials.peer = request.peer;
    return Serve(gate, route, handler, nullptr, credentials, request);
  };
}

}  // namespace strongroom::server::access
