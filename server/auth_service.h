// AuthService: strongroom.v1.Auth over gRPC — tokens and "who am I", through the access
// gate, onto access::TokenStore.
//
// CreateToken grants only policies that exist and that the caller holds itself (a root
// token may grant any config policy; nobody can mint another root token here — that
// takes `strongroomd generate-root-token` on the server). A periodic token needs
// token.periodic on "auth/tokens" as well; a token created by a non-root token never
// outlives it (TokenStore::Create). The *Self methods act on the calling token. Login
// exchanges a JWT for a token (access::jwt::JwtLogin); it needs no credentials, and its
// audit identity is the JWT's issuer and subject once verified. Thread-safe.
#pragma once

#include "server/access/grpc_gate.h"
#include "server/access/jwt/login.h"
#include "server/access/token_store.h"
#include "strongroom/v1/auth.grpc.pb.h"

namespace strongroom::server {

// Every Auth RPC as X(Method, Request, Response).
#define STRONGROOM_AUTH_RPCS(X)                           \
  X(CreateToken, CreateTokenRequest, CreateTokenResponse) \
  X(WhoAmI, WhoAmIRequest, WhoAmIResponse)                \
  X(LookupSelf, LookupSelfRequest, TokenInfo)             \
  X(RenewSelf, RenewSelfRequest, TokenInfo)               \
  X(RevokeSelf, RevokeSelfRequest, RevokeTokenResponse)   \
  X(LookupToken, LookupTokenRequest, TokenInfo)           \
  X(RevokeToken, RevokeTokenRequest, RevokeTokenResponse) \
  X(ListTokens, ListTokensRequest, ListTokensResponse)

class AuthService final : public v1::Auth::CallbackService {
 public:
  AuthService(access::TokenStore* tokens, access::GrpcGate* gate, access::jwt::JwtLogin* jwt_login)
      : tokens_(tokens), gate_(gate), jwt_login_(jwt_login) {}

#define STRONGROOM_DECLARE_RPC(Method, Request, Response)                                    \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext*, const v1::Request* request, \
                                   v1::Response* response) override;
  STRONGROOM_AUTH_RPCS(STRONGROOM_DECLARE_RPC)
  STRONGROOM_DECLARE_RPC(Login, LoginRequest, LoginResponse)
#undef STRONGROOM_DECLARE_RPC

 private:
  // The engine side of each RPC, for the admitted `call`.
#define STRONGROOM_DECLARE_HANDLER(Method, Request, Response)             \
  absl::StatusOr<v1::Response> Do##Method(const access::Gate::Call& call, \
                                          const v1::Request& request);
  STRONGROOM_AUTH_RPCS(STRONGROOM_DECLARE_HANDLER)
#undef STRONGROOM_DECLARE_HANDLER

  access::TokenStore* const tokens_;
  access::GrpcGate* const gate_;
  access::jwt::JwtLogin* const jwt_login_;
};

}  // namespace strongroom::server
