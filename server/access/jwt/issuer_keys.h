// IssuerKeys: the public keys of one JWT issuer (config JwtIssuer), from exactly one source:
// a JWK Set file or inline PEM keys (read once, at start and on each SIGHUP reload), or a
// JWK Set URL over HTTPS (directly, or as the "jwks_uri" of an OIDC discovery document).
//
// Remote keys are fetched on first use and cached. A cached set older than
// jwks_refresh_interval is refreshed on the next use; a token naming a "kid" the set lacks
// refreshes it at once (key rotation), but at most once per kMinRefetch, so tokens with
// made-up key ids cannot make the server hammer the issuer. When refreshing fails the last
// good set is used until jwks_max_stale past its refresh time, then refused. One fetch runs
// at a time; other logins meanwhile use the cached set (or wait for the first one).
//
// Errors: Create is INVALID_ARGUMENT naming the config field (`where` prefixes it);
// Candidates is UNAVAILABLE when no usable set can be had (the reason names the step) and
// NOT_FOUND when no key fits the token's "kid". Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/jose/jose.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::access::jwt {

// Fetches a URL's body (HttpsGet in production).
using Fetcher = std::function<absl::StatusOr<std::string>(absl::string_view url)>;

class IssuerKeys {
 public:
  // The shortest time between two refreshes caused by unknown key ids (or failed fetches).
  static constexpr absl::Duration kMinRefetch = absl::Seconds(10);

  // `fetch` is used for jwks_url / discovery_url (nullptr: HttpsGet with the issuer's
  // ca_file, a 10 s timeout and jose::kMaxJoseInput bytes).
  static absl::StatusOr<std::unique_ptr<IssuerKeys>> Create(const v1::JwtIssuer& issuer,
                                                            absl::string_view where,
                                                            Fetcher fetch = nullptr);

  // The keys that may have signed a token naming `kid` ("" when it names none): those with
  // that kid, and those without one. UNAVAILABLE / NOT_FOUND as above.
  absl::StatusOr<std::vector<jose::PublicJwk>> Candidates(absl::string_view kid, absl::Time now);

  // How many times the remote set was fetched (successfully or not); 0 for local keys.
  int fetches() const;

 private:
  IssuerKeys() = default;
  // Fetches the remote set if `due` still holds under fetch_mu_ (another thread may have
  // refreshed meanwhile); `wait` blocks for a fetch in progress instead of returning.
  void Refresh(absl::Time now, bool wait, const std::function<bool()>& due);
  absl::StatusOr<std::vector<jose::PublicJwk>> FetchRemote();

  // Local keys: fixed. Remote: the URLs and the fetcher.
  bool remote_ = false;
  std::string jwks_url_, discovery_url_, issuer_;
  absl::Duration refresh_interval_, max_stale_;
  Fetcher fetch_;

  absl::Mutex fetch_mu_;  // held while fetching, before mu_
  mutable absl::Mutex mu_;
  std::vector<jose::PublicJwk> keys_ ABSL_GUARDED_BY(mu_);
  bool have_keys_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time fetched_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();     // last success
  absl::Time attempted_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();   // last try
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace strongroom::server::access::jwt
