#include "server/auth_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/access/grpc_gate.h"

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

absl::StatusOr<v1::CreateTokenResponse> AuthService::DoCreateToken(
    const access::Gate::Call& call, const v1::CreateTokenRequest& request) {
  const std::vector<std::string> held = call.policies().PoliciesOf(call.principal());
  const bool root = std::find(held.begin(), held.end(), access::kRootPolicy) != held.end();
  for (const std::string& policy : request.policies()) {
    if (policy == access::kRootPolicy) {
      return absl::PermissionDeniedError(
          "policies: root cannot be granted (use `strongroomd generate-root-token` on the server)");
    }
    if (!call.policies().Exists(policy)) {
      return absl::InvalidArgumentError(absl::StrCat("policies: no policy named \"", policy, "\""));
    }
    if (!root && std::find(held.begin(), held.end(), policy) == held.end()) {
      return absl::PermissionDeniedError(absl::StrCat(call.principal().identity,
                                                      " may not grant policy \"", policy,
                                                      "\": it does not hold it"));
    }
  }
  if (request.period().seconds() != 0 || request.period().nanos() != 0) {
    // A token that never expires while renewed is a right of its own.
    if (absl::Status s = call.policies().Check(call.principal(), access::Operation::kTokenPeriodic,
                                               call.resource());
        !s.ok()) {
      return s;
    }
  }
  // A token's children never outlive it; root's and certificate identities' are bounded
  // by auth.max_token_ttl only.
  const bool token_parent = call.principal().kind == access::Principal::Kind::kToken && !root;
  absl::StatusOr<access::TokenStore::Created> created =
      tokens_->Create(request, call.principal().identity, absl::Now(),
                      token_parent ? call.principal().token_accessor : "");
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

absl::StatusOr<v1::TokenInfo> AuthService::LookupSelf(const access::Principal& caller) {
  if (absl::Status s = RequireToken(caller); !s.ok()) return s;
  return tokens_->Lookup(caller.token_accessor, absl::Now());
}

absl::StatusOr<v1::TokenInfo> AuthService::RenewSelf(const access::Principal& caller,
                                                     absl::Duration increment) {
  if (absl::Status s = RequireToken(caller); !s.ok()) return s;
  return tokens_->Renew(caller.token_accessor, increment, absl::Now());
}

absl::StatusOr<v1::TokenInfo> AuthService::DoLookupSelf(const access::Gate::Call& call,
                                                        const v1::LookupSelfRequest&) {
  return LookupSelf(call.principal());
}

absl::StatusOr<v1::TokenInfo> AuthService::DoRenewSelf(const access::Gate::Call& call,
                                                       const v1::RenewSelfRequest& request) {
  return RenewSelf(call.principal(), FromProto(request.increment()));
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
