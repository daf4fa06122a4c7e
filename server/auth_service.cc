#include "server/auth_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/access/grpc_gate.h"
#include "server/access/token_grant.h"

namespace strongroom::server {
namespace {

absl::Status RequireToken(const access::Principal& caller) {
  if (caller.kind == access::Principal::Kind::kToken) return absl::OkStatus();
  return absl::FailedPreconditionError("this call acts on the calling token; none was presented");
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

#define STRONGROOM_AUTH_RPC(Method, Request, Response)                                            \
  grpc::ServerUnaryReactor* AuthService::Method(                                                  \
      grpc::CallbackServerContext* context, const v1::Request* request, v1::Response* response) { \
    static const access::Route& route = access::RouteOrDie("/strongroom.v1.Auth/" #Method);       \
    return gate_->Serve(                                                                          \
        context, route, *request, response,                                                       \
        [this, request](const access::Gate::Call& call) { return Do##Method(call, *request); });  \
  }
STRONGROOM_AUTH_RPCS(STRONGROOM_AUTH_RPC)
#undef STRONGROOM_AUTH_RPC

// Login is served apart from the macro: it names the audit identity on the call.
grpc::ServerUnaryReactor* AuthService::Login(grpc::CallbackServerContext* context,
                                             const v1::LoginRequest* request,
                                             v1::LoginResponse* response) {
  static const access::Route& route = access::RouteOrDie("/strongroom.v1.Auth/Login");
  return gate_->Serve(
      context, route, *request, response,
      [this, request, peer = context->peer()](
          access::Gate::Call& call) -> absl::StatusOr<v1::LoginResponse> {
        std::string identity;
        absl::StatusOr<access::TokenStore::Created> created =
            jwt_login_->Login(request->role(), request->jwt(), peer, absl::Now(), &identity);
        call.set_identity(std::move(identity));
        if (!created.ok()) return created.status();
        v1::LoginResponse reply;
        reply.set_token(std::string(created->token.RevealSecretAsString()));
        *reply.mutable_info() = std::move(created->info);
        return reply;
      });
}

absl::StatusOr<v1::CreateTokenResponse> AuthService::DoCreateToken(
    const access::Gate::Call& call, const v1::CreateTokenRequest& request) {
  absl::StatusOr<access::TokenStore::Created> created = access::GrantToken(
      *tokens_, call.policies(), call.principal(), request, request.no_parent(), absl::Now());
  if (!created.ok()) return created.status();
  v1::CreateTokenResponse response;
  response.set_token(std::string(created->token.RevealSecretAsString()));
  *response.mutable_info() = std::move(created->info);
  return response;
}

absl::StatusOr<v1::WhoAmIResponse> AuthService::DoWhoAmI(const access::Gate::Call& call,
                                                         const v1::WhoAmIRequest&) {
  v1::WhoAmIResponse response;
  response.set_identity(call.principal().identity);
  for (std::string& p : call.policies().PoliciesOf(call.principal())) {
    response.add_policies(std::move(p));
  }
  return response;
}

absl::StatusOr<v1::TokenInfo> AuthService::DoLookupSelf(const access::Gate::Call& call,
                                                        const v1::LookupSelfRequest&) {
  if (absl::Status s = RequireToken(call.principal()); !s.ok()) return s;
  return tokens_->Lookup(call.principal().token_accessor, absl::Now());
}

absl::StatusOr<v1::TokenInfo> AuthService::DoRenewSelf(const access::Gate::Call& call,
                                                       const v1::RenewSelfRequest& request) {
  if (absl::Status s = RequireToken(call.principal()); !s.ok()) return s;
  return tokens_->Renew(call.principal().token_accessor, FromProto(request.increment()),
                        absl::Now());
}

absl::StatusOr<v1::RevokeTokenResponse> AuthService::DoRevokeSelf(const access::Gate::Call& call,
                                                                  const v1::RevokeSelfRequest&) {
  if (absl::Status s = RequireToken(call.principal()); !s.ok()) return s;
  if (absl::Status s = tokens_->Revoke(call.principal().token_accessor); !s.ok()) return s;
  return v1::RevokeTokenResponse();
}

absl::StatusOr<v1::TokenInfo> AuthService::DoLookupToken(const access::Gate::Call&,
                                                         const v1::LookupTokenRequest& request) {
  return tokens_->Lookup(request.accessor(), absl::Now());
}

absl::StatusOr<v1::RevokeTokenResponse> AuthService::DoRevokeToken(
    const access::Gate::Call&, const v1::RevokeTokenRequest& request) {
  if (absl::Status s = tokens_->Revoke(request.accessor()); !s.ok()) return s;
  return v1::RevokeTokenResponse();
}

absl::StatusOr<v1::ListTokensResponse> AuthService::DoListTokens(const access::Gate::Call& call,
                                                                 const v1::ListTokensRequest&) {
  absl::StatusOr<std::vector<v1::TokenInfo>> tokens = tokens_->List(absl::Now());
  if (!tokens.ok()) return tokens.status();
  v1::ListTokensResponse response;
  for (v1::TokenInfo& t : *tokens) {
    // Only the tokens the caller may look up.
    if (!call.policies()
             .Check(call.principal(), access::Operation::kRead,
                    absl::StrCat("auth/tokens/", t.accessor()))
             .ok()) {
      continue;
    }
    *response.add_tokens() = std::move(t);
  }
  return response;
}

}  // namespace strongroom::server
