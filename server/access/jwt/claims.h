// RoleRules: what a verified JWT's claims must hold to log in as one role (config JwtRole):
// an "aud" among the role's audiences, a "sub" matching one of its patterns (if any), and
// every bound claim matching (JwtClaimBinding). CheckTimes: "exp" (required), "nbf" and
// "iat" against the clock, within the issuer's skew.
//
// The claims are untrusted JSON until the signature is checked and bounded by the JOSE
// layer's input limit (jose::kMaxJoseInput) before they reach ParseClaims. Every refusal is
// PERMISSION_DENIED (INVALID_ARGUMENT for claims that do not parse) with a reason for the
// operator's log that names the claim but never quotes the token. Immutable; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::access::jwt {

// How deep a JWT's claims may nest objects and arrays, and how many items any one of them
// may hold.
inline constexpr int kMaxClaimsDepth = 16;
inline constexpr size_t kMaxClaimsItems = 1000;

// The payload of a JWT (or another small document: OIDC discovery) as a JSON object.
// INVALID_ARGUMENT if it is not one, nests deeper than kMaxClaimsDepth or has an array or
// object of more than kMaxClaimsItems items.
absl::StatusOr<google::protobuf::Struct> ParseClaims(absl::string_view payload);

// The string claim `name`, "" if absent or not a string.
std::string StringClaim(const google::protobuf::Struct& claims, absl::string_view name);

// OK if "exp" is a number after now - skew, "nbf" (if present) before now + skew and "iat"
// (if present) before now + skew.
absl::Status CheckTimes(const google::protobuf::Struct& claims, absl::Time now,
                        absl::Duration skew);

class RoleRules {
 public:
  // INVALID_ARGUMENT naming the field of `role` at fault (`where` prefixes it).
  static absl::StatusOr<RoleRules> Compile(const v1::JwtRole& role, absl::string_view where);

  // OK if `claims` satisfy the role; PERMISSION_DENIED naming the first claim that does not.
  absl::Status Check(const google::protobuf::Struct& claims) const;

 private:
  struct Binding {
    std::string claim;               // as configured, for messages
    std::vector<std::string> path;   // its members
    std::vector<std::string> values;
  };
  RoleRules() = default;

  std::vector<std::string> audiences_;
  std::vector<std::string> subjects_;
  std::vector<Binding> bindings_;
};

}  // namespace strongroom::server::access::jwt
