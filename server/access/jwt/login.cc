#include "server/access/jwt/login.h"

#include "absl/strings/str_cat.h"

namespace strongroom::server::access::jwt {

void JwtLogin::Reload(std::shared_ptr<const JwtAuth> auth) {
  absl::MutexLock lock(&mu_);
  auth_ = std::move(auth);
}

std::shared_ptr<const JwtAuth> JwtLogin::auth() const {
  absl::MutexLock lock(&mu_);
  return auth_;
}

absl::StatusOr<TokenStore::Created> JwtLogin::Login(absl::string_view role, absl::string_view jwt,
                                                    absl::string_view peer, absl::Time now,
                                                    std::string* identity) {
  if (!ValidName(role)) {
    return absl::InvalidArgumentError("role: 1 to 128 letters, digits, '.', '_' or '-'");
  }
  *identity = absl::StrCat("jwt:role/", role);
  if (jwt.empty()) return absl::InvalidArgumentError("jwt: required");
  if (jwt.size() > kMaxJwtBytes) {
    return absl::InvalidArgumentError(absl::StrCat("jwt: longer than ", kMaxJwtBytes, " bytes"));
  }
  const absl::string_view source = SourceRefusals::SourceOf(peer);
  if (!refusals_.Admit(source, now)) {
    warn_(absl::StrCat("JWT login for role ", role, " from ", source,
                            " refused unchecked: too many refused logins from this source"));
    return absl::UnavailableError("too many refused logins from this address; retry later");
  }
  absl::StatusOr<JwtAuth::Verified> verified = auth()->Verify(role, jwt, now);
  if (!verified.ok()) {
    warn_(absl::StrCat("JWT login for role ", role, " from ", source,
                            " refused: ", verified.status().message()));
    if (absl::IsUnavailable(verified.status())) {
      return absl::UnavailableError("the issuer's keys are unavailable; retry later");
    }
    refusals_.Refused(source, now);
    return absl::PermissionDeniedError("login refused");
  }
  *identity = verified->Identity();
  return tokens_->Create(verified->token, *identity, now);
}

}  // namespace strongroom::server::access::jwt
