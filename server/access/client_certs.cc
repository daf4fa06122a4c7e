#include "server/access/client_certs.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "kms/crypto/mac.h"
#include "pki/certificate_builder.h"

namespace strongroom::server::access {
namespace {

// A refused chain is not verified (nor the anchors re-read for it) again for this long.
constexpr absl::Duration kRefusalTtl = absl::Seconds(1);

using hsm::X509Ptr;
using hsm::GeneralNamesPtr;
using hsm::X509StackPtr;
using hsm::X509StoreCtxPtr;
using hsm::X509StorePtr;

absl::Time AsnTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

std::string Asn1String(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

absl::StatusOr<std::string> IdentityOf(X509* cert) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::string uri, dns;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI && uri.empty()) uri = Asn1String(name->d.uniformResourceIdentifier);
    if (name->type == GEN_DNS && dns.empty()) dns = Asn1String(name->d.dNSName);
  }
  if (!uri.empty()) return uri;
  if (!dns.empty()) return absl::StrCat("dns:", dns);
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, cn);
    hsm::OpenSslBytesPtr<unsigned char> owned(utf8);
    if (len > 0) {
      return absl::StrCat("cn:", absl::string_view(reinterpret_cast<char*>(utf8), len));
    }
  }
  return absl::UnauthenticatedError("client certificate has no URI SAN, DNS SAN or CN");
}

bool SameAnchors(const ClientCertVerifier::Anchors& a, const ClientCertVerifier::Anchors& b) {
  return a.external_pem == b.external_pem && a.local_issuers == b.local_issuers;
}

}  // namespace

// The anchors as read, and the store built from them. Immutable once published.
struct ClientCertVerifier::Snapshot {
  Anchors anchors;
  X509StorePtr store;
  std::vector<std::pair<std::string, X509Ptr>> local_issuers;  // name, certificate
  uint64_t version = 0;
};

absl::StatusOr<std::string> CertificateIdentity(absl::string_view cert_pem) {
  std::vector<X509Ptr> certs = pki::ParseCertificateChainPem(cert_pem);
  if (certs.empty()) return absl::InvalidArgumentError("no PEM certificate");
  return IdentityOf(certs[0].get());
}

ClientCertVerifier::ClientCertVerifier(std::unique_ptr<TrustSource> source)
    : source_(std::move(source)) {}

ClientCertVerifier::~ClientCertVerifier() = default;

absl::StatusOr<std::unique_ptr<ClientCertVerifier>> ClientCertVerifier::Create(
    std::unique_ptr<TrustSource> source) {
  std::unique_ptr<ClientCertVerifier> v(new ClientCertVerifier(std::move(source)));
  absl::MutexLock lock(&v->reload_mu_);
  if (absl::Status s = v->Reload(v->source_->Epoch(), absl::Now()); !s.ok()) return s;
  return v;
}

ClientCertVerifier::Stats ClientCertVerifier::stats() const {
  Stats stats;
  stats.verifications = verifications_.load();
  stats.reads = reads_.load();
  {
    absl::ReaderMutexLock lock(&trusted_mu_);
    stats.trusted = trusted_.size();
  }
  absl::MutexLock lock(&refused_mu_);
  stats.refused = refused_.size();
  return stats;
}

std::shared_ptr<const ClientCertVerifier::Snapshot> ClientCertVerifier::CurrentSnapshot() const {
  absl::ReaderMutexLock lock(&snapshot_mu_);
  return snapshot_;
}

absl::Status ClientCertVerifier::Reload(uint64_t epoch, absl::Time now) {
  reads_.fetch_add(1);
  // Recorded first: a failing source is retried at the same pace, not on every refusal.
  loaded_epoch_.store(std::max(loaded_epoch_.load(), epoch));
  loaded_at_ = std::max(loaded_at_, now);
  absl::StatusOr<Anchors> anchors = source_->Read();
  if (!anchors.ok()) return anchors.status();
  std::shared_ptr<const Snapshot> current = CurrentSnapshot();
  if (current != nullptr && SameAnchors(current->anchors, *anchors)) return absl::OkStatus();
  auto next = std::make_shared<Snapshot>();
  next->store.reset(X509_STORE_new());
  if (next->store == nullptr) return absl::ResourceExhaustedError("out of memory");
  for (X509Ptr& cert : pki::ParseCertificateChainPem(anchors->external_pem)) {
    X509_STORE_add_cert(next->store.get(), cert.get());
  }
  for (const auto& [name, pem] : anchors->local_issuers) {
    std::vector<X509Ptr> certs = pki::ParseCertificateChainPem(pem);
    if (certs.empty()) continue;
    X509_STORE_add_cert(next->store.get(), certs[0].get());
    next->local_issuers.emplace_back(name, std::move(certs[0]));
  }
  ERR_clear_error();  // a certificate given twice is not an error
  next->anchors = *std::move(anchors);
  next->version = current != nullptr ? current->version + 1 : 1;
  absl::MutexLock lock(&snapshot_mu_);
  snapshot_ = std::move(next);
  anchors_version_.store(snapshot_->version);
  return absl::OkStatus();
}

bool ClientCertVerifier::MaybeReload(uint64_t epoch, absl::Time now) {
  const uint64_t before = anchors_version_.load();
  if (reload_mu_.TryLock()) {
    if (epoch > loaded_epoch_.load() || now >= loaded_at_ + kMinReloadInterval) {
      (void)Reload(epoch, now);  // on failure the current anchors stay
    }
    reload_mu_.Unlock();
  } else if (epoch > loaded_epoch_.load()) {
    // Another thread is reading. A new issuer must be trusted at once, so a refusal seen
    // after the epoch moved waits for that read (and reads if it was an older one); other
    // refusals carry on with the current snapshot.
    absl::MutexLock lock(&reload_mu_);
    if (epoch > loaded_epoch_.load()) (void)Reload(epoch, now);
  }
  return anchors_version_.load() != before;
}

ClientCertVerifier::Verdict ClientCertVerifier::Verify(const Snapshot& snapshot,
                                                       absl::string_view chain_pem) const {
  verifications_.fetch_add(1);
  Verdict verdict;
  verdict.anchors = snapshot.version;
  std::vector<X509Ptr> chain = pki::ParseCertificateChainPem(chain_pem);
  if (chain.empty()) {
    verdict.status = absl::UnauthenticatedError("client certificate cannot be parsed");
    return verdict;
  }
  X509* leaf = chain[0].get();
  verdict.not_before = AsnTime(X509_get0_notBefore(leaf));
  verdict.not_after = AsnTime(X509_get0_notAfter(leaf));
  // A CA certificate is never a client, even one whose key the client holds.
  if (X509_check_ca(leaf) != 0) {
    verdict.status = absl::UnauthenticatedError("client certificate is a CA certificate");
    return verdict;
  }
  // What follows the leaf is only material to build a path to an anchor of the snapshot.
  // Self-signed certificates are left out of it: a root the client sends is never an
  // anchor (the snapshot holds the anchors), and as chain material it could only lead the
  // path past the configured anchor or into a purpose check it was never meant for.
  X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; untrusted != nullptr && i < chain.size(); ++i) {
    if (X509_self_signed(chain[i].get(), /*verify_signature=*/0) == 1) continue;
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  // Each configured certificate is an anchor as it is: a Strongroom intermediate (or an
  // intermediate in auth.client_ca_file) is trusted without its root being configured.
  const bool ok =
      ctx != nullptr && untrusted != nullptr &&
      X509_STORE_CTX_init(ctx.get(), snapshot.store.get(), leaf, untrusted.get()) == 1 &&
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) == 1 &&
      (X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN), true) &&
      X509_verify_cert(ctx.get()) == 1;
  if (!ok) {
    int err = ctx != nullptr ? X509_STORE_CTX_get_error(ctx.get()) : X509_V_ERR_UNSPECIFIED;
    verdict.status = absl::UnauthenticatedError(
        err == X509_V_ERR_CERT_HAS_EXPIRED
            ? "client certificate expired"
            : absl::StrCat("client certificate not trusted: ", X509_verify_cert_error_string(err)));
    ERR_clear_error();
    return verdict;
  }
  // Each certificate signed by a local issuer is looked up in that issuer's inventory.
  STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 0; i + 1 < sk_X509_num(verified); ++i) {
    const X509* signer = sk_X509_value(verified, i + 1);
    for (const auto& [name, certificate] : snapshot.local_issuers) {
      if (X509_cmp(signer, certificate.get()) != 0) continue;
      verdict.local_serials.emplace_back(
          name, pki::SerialToHex(X509_get0_serialNumber(sk_X509_value(verified, i))));
      break;
    }
  }
  absl::StatusOr<std::string> identity = IdentityOf(leaf);
  if (identity.ok()) {
    verdict.identity = *std::move(identity);
  } else {
    verdict.status = identity.status();
  }
  return verdict;
}

absl::Status ClientCertVerifier::CheckRevocation(Verdict& verdict, uint64_t epoch) {
  for (const auto& [issuer, serial] : verdict.local_serials) {
    absl::StatusOr<bool> revoked = source_->Revoked(issuer, serial);
    if (!revoked.ok()) {
      return absl::Status(revoked.status().code(),
                          absl::StrCat("cannot check the client certificate for revocation: ",
                                       revoked.status().message()));
    }
    if (*revoked) {
      verdict.status = absl::UnauthenticatedError("client certificate revoked");
      break;
    }
  }
  verdict.checked_epoch = epoch;
  return absl::OkStatus();
}

void ClientCertVerifier::CacheTrusted(const std::string& key, const Verdict& verdict,
                                      absl::Time now) {
  const uint64_t version = anchors_version_.load();
  absl::MutexLock lock(&trusted_mu_);
  if (trusted_.size() >= kMaxTrusted && !trusted_.contains(key)) {
    for (auto it = trusted_.begin(); it != trusted_.end();) {
      if (it->second.not_after < now || it->second.anchors != version) {
        trusted_.erase(it++);
      } else {
        ++it;
      }
    }
    if (trusted_.size() >= kMaxTrusted) return;  // verified again on each use, never evicted
  }
  trusted_[key] = verdict;
}

void ClientCertVerifier::CacheRefused(const std::string& key, const Verdict& verdict) {
  absl::MutexLock lock(&refused_mu_);
  if (refused_.insert_or_assign(key, verdict).second) refused_order_.push_back(key);
  while (refused_.size() > kMaxRefused) {
    refused_.erase(refused_order_.front());
    refused_order_.pop_front();
  }
}

absl::StatusOr<std::string> ClientCertVerifier::Identity(absl::string_view chain_pem,
                                                         absl::Time now) {
  std::string key;  // the cache key: SHA-256 of the chain
  if (absl::Status hashed =
          kms::crypto::Digest(kms::crypto::HashAlgorithm::kSha256, chain_pem, &key);
      !hashed.ok()) {
    return hashed;
  }
  auto check = [now](const Verdict& v) -> absl::StatusOr<std::string> {
    if (!v.status.ok()) return v.status;
    if (now > v.not_after) return absl::UnauthenticatedError("client certificate expired");
    if (now < v.not_before) return absl::UnauthenticatedError("client certificate not yet valid");
    return v.identity;
  };
  // Read before any lookup, so that a change committed meanwhile is seen on the next call.
  const uint64_t epoch = source_->Epoch();
  const uint64_t version = anchors_version_.load();
  std::optional<Verdict> recheck;
  {
    absl::ReaderMutexLock lock(&trusted_mu_);
    auto it = trusted_.find(key);
    if (it != trusted_.end() && it->second.anchors == version) {
      if (it->second.local_serials.empty() || it->second.checked_epoch == epoch) {
        return check(it->second);
      }
      recheck = it->second;
    }
  }
  if (recheck.has_value()) {
    // Something was revoked (or an issuer created) since this chain was last looked up.
    if (absl::Status s = CheckRevocation(*recheck, epoch); !s.ok()) return s;
    if (recheck->status.ok()) {
      absl::MutexLock lock(&trusted_mu_);
      auto it = trusted_.find(key);
      if (it != trusted_.end() && it->second.anchors == recheck->anchors) {
        it->second.checked_epoch = std::max(it->second.checked_epoch, epoch);
      }
      return check(*recheck);
    }
    {
      absl::MutexLock lock(&trusted_mu_);
      trusted_.erase(key);
    }
    recheck->retry_after = now + kRefusalTtl;
    CacheRefused(key, *recheck);
    return recheck->status;
  }
  {
    absl::MutexLock lock(&refused_mu_);
    auto it = refused_.find(key);
    if (it != refused_.end() && it->second.anchors == version &&
        it->second.checked_epoch == epoch && now < it->second.retry_after) {
      return it->second.status;
    }
  }
  Verdict verdict = Verify(*CurrentSnapshot(), chain_pem);
  // The issuer may be a CA created since the anchors were read.
  if (!verdict.status.ok() && MaybeReload(epoch, now)) {
    verdict = Verify(*CurrentSnapshot(), chain_pem);
  }
  if (verdict.status.ok()) {
    if (absl::Status s = CheckRevocation(verdict, epoch); !s.ok()) return s;
  }
  if (verdict.status.ok()) {
    CacheTrusted(key, verdict, now);
  } else {
    verdict.checked_epoch = epoch;  // a new issuer since then: verify again at once
    verdict.retry_after = now + kRefusalTtl;
    CacheRefused(key, verdict);
  }
  return check(verdict);
}

}  // namespace strongroom::server::access
