#include "server/access/client_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "kms/crypto/mac.h"

namespace strongroom::server::access {
namespace {

constexpr size_t kMaxCacheEntries = 10000;
// A refused chain is not verified (nor the anchors re-read for it) again for this long.
constexpr absl::Duration kRefusalTtl = absl::Seconds(1);

using hsm::X509Ptr;

std::vector<X509Ptr> ParsePemCerts(absl::string_view pem) {
  std::vector<X509Ptr> out;
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  return out;
}

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
  hsm::GeneralNamesPtr names(
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

}  // namespace

absl::StatusOr<std::string> CertificateIdentity(absl::string_view cert_pem) {
  std::vector<X509Ptr> certs = ParsePemCerts(cert_pem);
  if (certs.empty()) return absl::InvalidArgumentError("no PEM certificate");
  return IdentityOf(certs[0].get());
}

absl::StatusOr<std::unique_ptr<ClientCertVerifier>> ClientCertVerifier::Create(TrustSource source) {
  std::unique_ptr<ClientCertVerifier> v(new ClientCertVerifier(std::move(source)));
  absl::MutexLock lock(&v->mu_);
  if (absl::Status s = v->Reload(); !s.ok()) return s;
  return v;
}

ClientCertVerifier::~ClientCertVerifier() { X509_STORE_free(store_); }

absl::Status ClientCertVerifier::Reload() {
  absl::StatusOr<std::string> bundle = source_();
  if (!bundle.ok()) return bundle.status();
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return absl::ResourceExhaustedError("out of memory");
  for (X509Ptr& cert : ParsePemCerts(*bundle)) X509_STORE_add_cert(store, cert.get());
  X509_STORE_free(store_);
  store_ = store;
  cache_.clear();
  return absl::OkStatus();
}

ClientCertVerifier::Verdict ClientCertVerifier::Verify(absl::string_view chain_pem) {
  Verdict verdict;
  std::vector<X509Ptr> chain = ParsePemCerts(chain_pem);
  if (chain.empty()) {
    verdict.status = absl::UnauthenticatedError("client certificate cannot be parsed");
    return verdict;
  }
  X509* leaf = chain[0].get();
  verdict.not_before = AsnTime(X509_get0_notBefore(leaf));
  verdict.not_after = AsnTime(X509_get0_notAfter(leaf));
  hsm::X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  hsm::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  int ok = ctx != nullptr && X509_STORE_CTX_init(ctx.get(), store_, leaf, untrusted.get()) == 1 &&
           X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) == 1 &&
           X509_verify_cert(ctx.get()) == 1;
  if (!ok) {
    int err = ctx != nullptr ? X509_STORE_CTX_get_error(ctx.get()) : X509_V_ERR_UNSPECIFIED;
    verdict.status = absl::UnauthenticatedError(
        err == X509_V_ERR_CERT_HAS_EXPIRED
            ? "client certificate expired"
            : absl::StrCat("client certificate not trusted: ", X509_verify_cert_error_string(err)));
  }
  if (ok) {
    absl::StatusOr<std::string> identity = IdentityOf(leaf);
    if (identity.ok()) {
      verdict.identity = *std::move(identity);
    } else {
      verdict.status = identity.status();
    }
  }
  return verdict;
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
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && (it->second.status.ok() || now < it->second.retry_after)) {
      return check(it->second);
    }
  }
  absl::MutexLock lock(&mu_);
  Verdict verdict = Verify(chain_pem);
  // The issuer may be a CA created since the anchors were read: read them again once.
  if (!verdict.status.ok() && Reload().ok()) verdict = Verify(chain_pem);
  verdict.retry_after = now + kRefusalTtl;
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_[key] = verdict;
  return check(verdict);
}

}  // namespace strongroom::server::access
