// ClientCertVerifier: the identity of a client certificate, if it is trusted.
//
// A chain (leaf first, PEM, as the TLS layer received it) is trusted when it verifies to
// one of the anchors of a TrustSource for TLS client use at the current time and, where a
// certificate in it was signed by a Strongroom issuer (a local issuer), that issuer has not
// revoked it. The identity is the leaf's first URI SAN (e.g. a SPIFFE ID), else
// "dns:<first DNS SAN>", else "cn:<subject CN>". Chains are taken as clients send them
// (leaf alone, leaf + intermediates, leaf + intermediates + root): each configured
// certificate is an anchor as it is (a Strongroom intermediate needs no configured root),
// the certificates after the leaf are only path material, self-signed ones among them are
// ignored (a presented root is never an anchor), and a CA certificate is never a client.
//
// Verdicts are cached per chain (SHA-256 of the PEM) in two bounded tables, so a flood of
// untrusted chains can neither grow memory nor push out trusted verdicts: trusted ones
// (until the leaf expires; only chains that verified get in) and refusals (for a second,
// oldest evicted first). A chain is verified once, without holding a lock, against an
// immutable snapshot of the anchors. The anchors are read again when a chain is refused
// and either the source's epoch has moved (a Strongroom issuer was created: trusted at
// once, cached refusals too) or kMinReloadInterval has passed since the last read (an
// edited auth.client_ca_file); one thread reads, the others carry on with the current
// snapshot (they wait only for an epoch-driven read). If the anchors changed, a cached
// verdict is verified again on its next use. Revocation: a trusted verdict that involves a
// local issuer is checked again whenever the source's epoch has moved, so a revocation
// through this process takes effect on the next request. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace strongroom::server::access {

class ClientCertVerifier {
 public:
  // Anchors are read again on a refusal at most this often, unless the source's epoch moved.
  static constexpr absl::Duration kMinReloadInterval = absl::Seconds(5);
  // Bounds of the verdict tables.
  static constexpr size_t kMaxTrusted = 10000;
  static constexpr size_t kMaxRefused = 4096;

  struct Anchors {
    std::string external_pem;  // CA certificates trusted as they are (auth.client_ca_file)
    // Strongroom issuers (name, certificate PEM): trusted, and what they sign is checked
    // for revocation with TrustSource::Revoked.
    std::vector<std::pair<std::string, std::string>> local_issuers;
  };

  // Where the anchors come from. Called from any thread, never under the verifier's locks.
  class TrustSource {
   public:
    virtual ~TrustSource() = default;
    // The anchors now (possibly none: then no client certificate is trusted).
    virtual absl::StatusOr<Anchors> Read() = 0;
    // A number that increases once a change to the local issuers (a new one) or to their
    // revocations is committed. Cheap: read on every call.
    virtual uint64_t Epoch() = 0;
    // Whether local issuer `issuer` has revoked its certificate with serial number
    // `serial` (lower-case hex, no leading zeros). An error refuses the chain for now.
    virtual absl::StatusOr<bool> Revoked(absl::string_view issuer, absl::string_view serial) = 0;
  };

  // Reads the source once; its error is returned.
  static absl::StatusOr<std::unique_ptr<ClientCertVerifier>> Create(
      std::unique_ptr<TrustSource> source);
  ~ClientCertVerifier();

  // The identity of a trusted chain; UNAUTHENTICATED saying why not otherwise ("client
  // certificate not trusted: unable to get local issuer certificate", "... expired",
  // "client certificate revoked"); the source's error (e.g. UNAVAILABLE while sealed) if
  // revocation cannot be checked.
  absl::StatusOr<std::string> Identity(absl::string_view chain_pem, absl::Time now);

  // Counters and table sizes, for tests.
  struct Stats {
    uint64_t verifications = 0;  // chains verified (cache misses)
    uint64_t reads = 0;          // TrustSource::Read calls, failed ones included
    size_t trusted = 0;
    size_t refused = 0;
  };
  Stats stats() const;

 private:
  struct Snapshot;
  struct Verdict {
    absl::Status status;  // OK or the refusal
    std::string identity;
    absl::Time not_before;
    absl::Time not_after;
    absl::Time retry_after;      // refusals: verify again after this
    uint64_t anchors = 0;        // Snapshot::version it was verified against
    uint64_t checked_epoch = 0;  // source epoch when last verified or checked for revocation
    // (local issuer, serial) of each certificate in the chain a local issuer signed.
    std::vector<std::pair<std::string, std::string>> local_serials;
  };

  explicit ClientCertVerifier(std::unique_ptr<TrustSource> source);
  std::shared_ptr<const Snapshot> CurrentSnapshot() const;
  // Reads the anchors if `epoch` is newer than the last read (waiting for a read in
  // progress) or the last read is kMinReloadInterval old (skipped if another thread is
  // reading). True if a new snapshot with different anchors is in place.
  bool MaybeReload(uint64_t epoch, absl::Time now);
  absl::Status Reload(uint64_t epoch, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  Verdict Verify(const Snapshot& snapshot, absl::string_view chain_pem) const;
  // Checks verdict.local_serials with the source; marks the verdict revoked if one is.
  absl::Status CheckRevocation(Verdict& verdict, uint64_t epoch);
  void CacheTrusted(const std::string& key, const Verdict& verdict, absl::Time now);
  void CacheRefused(const std::string& key, const Verdict& verdict);

  const std::unique_ptr<TrustSource> source_;
  mutable std::atomic<uint64_t> verifications_{0};
  std::atomic<uint64_t> reads_{0};

  absl::Mutex reload_mu_;                  // held by the one thread reading the source
  std::atomic<uint64_t> loaded_epoch_{0};  // written under reload_mu_
  absl::Time loaded_at_ ABSL_GUARDED_BY(reload_mu_) = absl::InfinitePast();

  mutable absl::Mutex snapshot_mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);
  std::atomic<uint64_t> anchors_version_{0};  // snapshot_->version, readable without the lock

  mutable absl::Mutex trusted_mu_;
  absl::flat_hash_map<std::string, Verdict> trusted_ ABSL_GUARDED_BY(trusted_mu_);
  mutable absl::Mutex refused_mu_;
  absl::flat_hash_map<std::string, Verdict> refused_ ABSL_GUARDED_BY(refused_mu_);
  std::deque<std::string> refused_order_ ABSL_GUARDED_BY(refused_mu_);  // oldest first
};

// The identity rule above applied to one PEM certificate (no trust check). For tests
// and the CLI.
absl::StatusOr<std::string> CertificateIdentity(absl::string_view cert_pem);

}  // namespace strongroom::server::access
