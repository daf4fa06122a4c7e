#include "server/access/jwt/issuer_keys.h"

#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/access/jwt/claims.h"
#include "server/access/jwt/https_get.h"

namespace strongroom::server::access::jwt {
namespace {

constexpr absl::Duration kFetchTimeout = absl::Seconds(10);

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::string text;
  text.resize(jose::kMaxJoseInput + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > jose::kMaxJoseInput) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is larger than ", jose::kMaxJoseInput, " bytes"));
  }
  return text;
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<IssuerKeys>> IssuerKeys::Create(const v1::JwtIssuer& issuer,
                                                               absl::string_view where,
                                                               Fetcher fetch) {
  const int sources = !issuer.jwks_file().empty() + !issuer.public_keys_pem().empty() +
                      !issuer.jwks_url().empty() + !issuer.discovery_url().empty();
  if (sources != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": set exactly one of jwks_file, public_keys_pem, jwks_url, discovery_url"));
  }
  std::unique_ptr<IssuerKeys> keys(new IssuerKeys());
  keys->issuer_ = issuer.issuer();
  if (!issuer.jwks_file().empty()) {
    absl::StatusOr<std::string> text = ReadSmallFile(issuer.jwks_file());
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".jwks_file: ", text.status().message()));
    absl::StatusOr<std::vector<jose::PublicJwk>> set = jose::ParseJwks(*text);
    if (!set.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".jwks_file: ", set.status().message()));
    absl::MutexLock lock(&keys->mu_);
    keys->keys_ = *std::move(set);
    keys->have_keys_ = true;
    return keys;
  }
  if (!issuer.public_keys_pem().empty()) {
    absl::MutexLock lock(&keys->mu_);
    for (int i = 0; i < issuer.public_keys_pem_size(); ++i) {
      absl::StatusOr<jose::PublicJwk> key = jose::PublicJwk::FromPem(issuer.public_keys_pem(i));
      if (!key.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".public_keys_pem[", i, "]: ", key.status().message()));
      }
      keys->keys_.push_back(*std::move(key));
    }
    keys->have_keys_ = true;
    return keys;
  }
  const std::string& url = issuer.jwks_url().empty() ? issuer.discovery_url() : issuer.jwks_url();
  if (!absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, issuer.jwks_url().empty() ? ".discovery_url" : ".jwks_url", ": must be https://"));
  }
  keys->remote_ = true;
  keys->jwks_url_ = issuer.jwks_url();
  keys->discovery_url_ = issuer.discovery_url();
  keys->refresh_interval_ = ToDuration(issuer.jwks_refresh_interval());
  keys->max_stale_ = ToDuration(issuer.jwks_max_stale());
  keys->fetch_ = fetch != nullptr ? std::move(fetch)
                                  : Fetcher([ca = issuer.ca_file()](absl::string_view u) {
                                      return HttpsGet(u, ca, kFetchTimeout, jose::kMaxJoseInput);
                                    });
  return keys;
}

int IssuerKeys::fetches() const {
  absl::MutexLock lock(&mu_);
  return fetches_;
}

absl::StatusOr<std::vector<jose::PublicJwk>> IssuerKeys::FetchRemote() {
  std::string jwks_url = jwks_url_;
  if (jwks_url.empty()) {
    absl::StatusOr<std::string> doc = fetch_(discovery_url_);
    if (!doc.ok()) return Prefixed("discovery document: ", doc.status());
    absl::StatusOr<google::protobuf::Struct> meta = ParseClaims(*doc);
    if (!meta.ok()) return absl::UnavailableError("discovery document: not a JSON object");
    if (StringClaim(*meta, "issuer") != issuer_) {
      return absl::UnavailableError("discovery document: its \"issuer\" is not the configured one");
    }
    jwks_url = StringClaim(*meta, "jwks_uri");
    if (!absl::StartsWith(jwks_url, "https://")) {
      return absl::UnavailableError("discovery document: \"jwks_uri\" is not an https:// URL");
    }
  }
  absl::StatusOr<std::string> body = fetch_(jwks_url);
  if (!body.ok()) return Prefixed("JWK Set: ", body.status());
  absl::StatusOr<std::vector<jose::PublicJwk>> set = jose::ParseJwks(*body);
  if (!set.ok()) return absl::UnavailableError(absl::StrCat("JWK Set: ", set.status().message()));
  return set;
}

void IssuerKeys::Refresh(absl::Time now, bool wait, const std::function<bool()>& due) {
  if (wait) {
    fetch_mu_.Lock();
  } else if (!fetch_mu_.TryLock()) {
    return;  // another login is fetching; use what is cached
  }
  {
    absl::MutexLock lock(&mu_);
    if (!due()) {
      fetch_mu_.Unlock();
      return;
    }
    attempted_ = now;
    ++fetches_;
  }
  absl::StatusOr<std::vector<jose::PublicJwk>> set = FetchRemote();
  {
    absl::MutexLock lock(&mu_);
    if (set.ok()) {
      keys_ = *std::move(set);
      have_keys_ = true;
      fetched_ = now;
      last_error_ = absl::OkStatus();
    } else {
      last_error_ = set.status();
    }
  }
  fetch_mu_.Unlock();
}

absl::StatusOr<std::vector<jose::PublicJwk>> IssuerKeys::Candidates(absl::string_view kid,
                                                                     absl::Time now) {
  auto select = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<jose::PublicJwk> out;
    for (const jose::PublicJwk& key : keys_) {
      if (kid.empty() || key.kid().empty() || key.kid() == kid) out.push_back(key);
    }
    return out;
  };
  if (remote_) {
    bool have;
    {
      absl::MutexLock lock(&mu_);
      have = have_keys_;
    }
    // Due: never fetched, or the set is old, and no attempt in the last kMinRefetch.
    auto stale = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return (!have_keys_ || now - fetched_ >= refresh_interval_) && now - attempted_ >= kMinRefetch;
    };
    Refresh(now, /*wait=*/!have, stale);
    absl::MutexLock lock(&mu_);
    if (!have_keys_) {
      return absl::UnavailableError(absl::StrCat("no keys could be fetched: ", last_error_.message()));
    }
    if (now - fetched_ > refresh_interval_ + max_stale_) {
      return absl::UnavailableError(absl::StrCat(
          "the keys fetched last are older than jwks_refresh_interval + jwks_max_stale: ",
          last_error_.message()));
    }
    std::vector<jose::PublicJwk> found = select();
    if (!found.empty()) return found;
  }
  if (remote_ && !kid.empty()) {
    // A key id the cached set lacks: perhaps a rotation.
    auto rotation = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return now - attempted_ >= kMinRefetch; };
    Refresh(now, /*wait=*/true, rotation);
  }
  absl::MutexLock lock(&mu_);
  std::vector<jose::PublicJwk> found = select();
  if (found.empty()) {
    return absl::NotFoundError(kid.empty() ? "the issuer has no keys"
                                           : "no key of the issuer has the JWT's \"kid\"");
  }
  return found;
}

}  // namespace strongroom::server::access::jwt
