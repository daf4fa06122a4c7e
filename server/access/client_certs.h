// ClientCertVerifier: the identity of a client certificate, if it is trusted.
//
// A chain (leaf first, PEM, as the TLS layer received it) is trusted when it verifies to
// one of the configured client CAs for TLS client use at the current time. The identity is
// the leaf's first URI SAN (e.g. a SPIFFE ID), else "dns:<first DNS SAN>", else
// "cn:<subject CN>". Verdicts are cached per chain (trusted ones until the leaf expires,
// refusals for a second), so the hot path hashes the chain and does one lookup. Anchors
// come from a trust source that is read again when a chain is refused, so CAs created
// after start (Strongroom issuers) are trusted at once. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct x509_store_st;

namespace strongroom::server::access {

class ClientCertVerifier {
 public:
  // Returns the trusted CA certificates as one PEM bundle (possibly empty: then no client
  // certificate is trusted).
  using TrustSource = std::function<absl::StatusOr<std::string>()>;

  // Reads the trust source once; its error is returned.
  static absl::StatusOr<std::unique_ptr<ClientCertVerifier>> Create(TrustSource source);
  ~ClientCertVerifier();

  // The identity of a trusted chain; UNAUTHENTICATED saying why not otherwise ("client
  // certificate not trusted: unable to get local issuer certificate", "... expired").
  absl::StatusOr<std::string> Identity(absl::string_view chain_pem, absl::Time now);

 private:
  struct Verdict {
    absl::Status status;  // OK or the refusal
    std::string identity;
    absl::Time not_before;
    absl::Time not_after;
    absl::Time retry_after;  // refusals: verify again after this
  };
  explicit ClientCertVerifier(TrustSource source) : source_(std::move(source)) {}
  absl::Status Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Verdict Verify(absl::string_view chain_pem) ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const TrustSource source_;
  absl::Mutex mu_;
  x509_store_st* store_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_map<std::string, Verdict> cache_ ABSL_GUARDED_BY(mu_);
};

// The identity rule above applied to one PEM certificate (no trust check). For tests
// and the CLI.
absl::StatusOr<std::string> CertificateIdentity(absl::string_view cert_pem);

}  // namespace strongroom::server::access
