#include "pki/ca.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "hsm/secret_data.h"
#include "pki/certificate_builder.h"
#include "pki/crl_builder.h"
#include "pki/role_policy.h"
#include "pki/serial.h"
#include "pki/signer.h"

namespace strongroom::pki {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kIssuerPrefix[] = "pki/issuers/";
constexpr char kRolePrefix[] = "pki/roles/";
constexpr char kCertPrefix[] = "pki/certs/";
constexpr char kRevokedPrefix[] = "pki/revoked/";
constexpr char kCrlPrefix[] = "pki/crls/";
constexpr absl::Duration kDefaultRootTtl = absl::Hours(24 * 365 * 10);
constexpr absl::Duration kDefaultIntermediateTtl = absl::Hours(24 * 365 * 5);
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(t));
}
absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}
absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Status ValidateName(absl::string_view field, absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1 to 128 characters"));
  }
  if (name[0] == '.' || name[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not start with '.' or '-'"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": only letters, digits, '.', '_' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<hsm::KeyPairType> HsmKeyType(v1::PkiKeyType type) {
  switch (type) {
    case v1::PKI_KEY_TYPE_UNSPECIFIED:
    case v1::EC_P256:
      return hsm::KeyPairType::kEcP256;
    case v1::EC_P384:
      return hsm::KeyPairType::kEcP384;
    case v1::RSA2048:
      return hsm::KeyPairType::kRsa2048;
    case v1::RSA3072:
      return hsm::KeyPairType::kRsa3072;
    case v1::RSA4096:
      return hsm::KeyPairType::kRsa4096;
    default:
      return absl::InvalidArgumentError("key_type: unknown key type");
  }
}

v1::PkiKeyType Effective(v1::PkiKeyType type) {
  return type == v1::PKI_KEY_TYPE_UNSPECIFIED ? v1::EC_P256 : type;
}

std::string Der(X509* cert) {
  unsigned char* buf = nullptr;
  int len = i2d_X509(cert, &buf);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(buf), len);
  OPENSSL_free(buf);
  return out;
}

hsm::X509Ptr FromDer(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return hsm::X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::string PemOfDer(absl::string_view der) {
  hsm::X509Ptr cert = FromDer(der);
  return cert ? CertificateToPem(cert.get()) : "";
}

// Every certificate in `pem`, in order. INVALID_ARGUMENT naming `field` if there is none
// or one does not parse.
absl::StatusOr<std::vector<hsm::X509Ptr>> ParseCertificates(absl::string_view field,
                                                            absl::string_view pem) {
  std::vector<hsm::X509Ptr> out = ParseCertificateChainPem(pem);
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": no PEM certificate"));
  }
  return out;
}

absl::Time NotAfter(X509* cert) {
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert));
  return absl::Now() + absl::Hours(24) * days + absl::Seconds(secs);
}

hsm::EvpPkeyPtr ParsePublicKey(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return hsm::EvpPkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

// The PKCS#8 PEM of `key`, built in a secure-heap BIO (cleansed when freed) and copied
// once into *out, the reply that returns it.
absl::Status PrivateKeyPem(EVP_PKEY* key, std::string* out) {
  hsm::BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      !PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return absl::InternalError(absl::StrCat("encoding the private key: ", DrainOpenSslErrors()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  out->assign(data, static_cast<size_t>(len));
  return absl::OkStatus();
}

absl::Status NotFound(absl::string_view what, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no ", what, " named '", name, "'"));
}

// The outcome of a role write that was checked against the role as loaded: ABORTED (the
// compare-and-set lost) means the role changed after the check.
absl::Status RoleChanged(absl::string_view name, absl::Status status) {
  if (!absl::IsAborted(status)) return status;
  return absl::AbortedError(absl::StrCat("role '", name, "' changed meanwhile; try again"));
}

// Names of the records under `prefix`, a page at a time.
absl::StatusOr<std::vector<std::string>> ListNames(kms::Storage* storage, absl::string_view prefix,
                                                   uint32_t page_size, absl::string_view token,
                                                   std::string* next) {
  if (page_size == 0) page_size = kDefaultPageSize;
  page_size = std::min(page_size, kMaxPageSize);
  std::string after = token.empty() ? "" : absl::StrCat(prefix, token);
  auto entries = storage->List(prefix, after, page_size + 1);
  if (!entries.ok()) return entries.status();
  std::vector<std::string> names;
  next->clear();
  for (const kms::Entry& e : *entries) {
    if (names.size() == page_size) {
      *next = names.back();
      break;
    }
    names.push_back(e.key.substr(prefix.size()));
  }
  return names;
}

}  // namespace

struct Ca::LoadedIssuer {
  IssuerRecord record;
  int64_t revision = 0;
  hsm::EvpPkeyPtr key;         // provider key (signing)
  hsm::EvpPkeyPtr public_key;  // default library context
  hsm::X509Ptr certificate;    // nullptr while awaiting its certificate
  std::string chain_pem;  // certificate and chain, PEM (empty without a certificate)
};

Ca::Ca(hsm::Hsm* hsm, hsm::HsmProvider* provider, kms::Storage* storage, kms::Barrier* barrier,
       CaOptions options)
    : hsm_(hsm),
      provider_(provider),
      storage_(storage),
      barrier_(barrier),
      options_(std::move(options)),
      base_url_(options_.base_url),
      inventory_(storage) {}

void Ca::SetBaseUrl(std::string base_url) {
  absl::MutexLock lock(&base_url_mu_);
  base_url_ = std::move(base_url);
}

void Ca::SetDocumentUrls(const std::string& issuer_name, CertificateParams* params) const {
  std::string base;
  {
    absl::MutexLock lock(&base_url_mu_);
    base = absl::StrCat(base_url_, "/v1/pki/", issuer_name);
  }
  params->issuing_certificate_url = absl::StrCat(base, "/ca?format=der");
  params->ocsp_url = absl::StrCat(base, "/ocsp");
  params->crl_distribution_point = absl::StrCat(base, "/crl");
}

void Ca::WatchChanges(kms::ChangeWatcher* watcher) {
  for (const char* prefix : {kIssuerPrefix, kRevokedPrefix}) {
    watcher->Subscribe(
        prefix, [this](const kms::Change&) { trust_epoch_.fetch_add(1, std::memory_order_release); },
        [this] {
          trust_epoch_.fetch_add(1, std::memory_order_release);
          return absl::OkStatus();
        });
  }
}

absl::Status Ca::RequireUnsealed() const {
  return barrier_->sealed() ? barrier_->SealedError() : absl::OkStatus();
}

std::string Ca::KeyUri(const std::string& label) const {
  auto escape = [](absl::string_view s) {
    std::string out;
    for (unsigned char c : s) {
      if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        absl::StrAppend(
            &out, "%",
            absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(&c), 1)));
      }
    }
    return out;
  };
  return absl::StrCat("pkcs11:token=", escape(hsm_->token_info().label), ";object=", escape(label),
                      ";type=private");
}

v1::Issuer Ca::ToIssuer(const IssuerRecord& record) const {
  v1::Issuer issuer;
  issuer.set_issuer_name(record.name());
  issuer.set_common_name(record.common_name());
  issuer.set_key_type(static_cast<v1::PkiKeyType>(record.key_type()));
  issuer.set_key_uri(KeyUri(record.hsm_key_label()));
  if (!record.certificate_der().empty()) {
    hsm::X509Ptr cert = FromDer(record.certificate_der());
    std::string chain = CertificateToPem(cert.get());
    for (const std::string& der : record.chain_der()) chain += PemOfDer(der);
    issuer.set_certificate_pem(CertificateToPem(cert.get()));
    issuer.set_chain_pem(chain);
    issuer.set_serial_number(SerialToHex(X509_get0_serialNumber(cert.get())));
    *issuer.mutable_not_after() = record.not_after();
  }
  return issuer;
}

absl::StatusOr<std::pair<IssuerRecord, int64_t>> Ca::LoadIssuerRecord(absl::string_view name) {
  if (!ValidateName("issuer_name", name).ok()) return NotFound("issuer", name);
  auto entry = storage_->Get(absl::StrCat(kIssuerPrefix, name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound("issuer", name);
  IssuerRecord record;
  if (!record.ParseFromString((*entry)->value) || record.name() != name) {
    return absl::DataLossError(absl::StrCat("stored record of issuer '", name, "' is corrupt"));
  }
  return std::make_pair(std::move(record), (*entry)->revision);
}

absl::StatusOr<Ca::LoadedIssuer> Ca::LoadIssuer(absl::string_view name, bool need_certificate) {
  auto loaded = LoadIssuerRecord(name);
  if (!loaded.ok()) return loaded.status();
  LoadedIssuer issuer;
  issuer.record = std::move(loaded->first);
  issuer.revision = loaded->second;
  if (!issuer.record.certificate_der().empty()) {
    // Parsing the certificate and re-encoding the chain cost OpenSSL 3.0 a decoder lookup
    // each; an issuer's certificate is set once, so the parsed forms are cached by its DER.
    std::shared_ptr<const ParsedIssuer> parsed;
    {
      absl::MutexLock lock(&key_cache_mu_);
      auto it = parsed_issuers_.find(name);
      if (it != parsed_issuers_.end() &&
          it->second->certificate_der == issuer.record.certificate_der()) {
        parsed = it->second;
      }
    }
    if (parsed == nullptr) {
      auto fresh = std::make_shared<ParsedIssuer>();
      fresh->certificate_der = issuer.record.certificate_der();
      fresh->certificate = FromDer(issuer.record.certificate_der());
      if (fresh->certificate == nullptr) {
        return absl::DataLossError(
            absl::StrCat("stored certificate of issuer '", name, "' is corrupt"));
      }
      fresh->chain_pem = ToIssuer(issuer.record).chain_pem();
      parsed = fresh;
      absl::MutexLock lock(&key_cache_mu_);
      parsed_issuers_[name] = std::move(fresh);
    }
    X509_up_ref(parsed->certificate.get());
    issuer.certificate.reset(parsed->certificate.get());
    issuer.chain_pem = parsed->chain_pem;
  } else if (need_certificate) {
    return absl::FailedPreconditionError(absl::StrCat(
        "issuer '", name, "' has no certificate yet (sign its CSR and ImportIssuerCertificate)"));
  }
  const std::string& label = issuer.record.hsm_key_label();
  auto share = [](const hsm::EvpPkeyPtr& k) {
    EVP_PKEY_up_ref(k.get());
    return hsm::EvpPkeyPtr(k.get());
  };
  {
    absl::MutexLock lock(&key_cache_mu_);
    auto it = key_cache_.find(label);
    if (it != key_cache_.end()) {
      issuer.key = share(it->second.key);
      issuer.public_key = share(it->second.public_key);
      return issuer;
    }
  }
  auto key = provider_->LoadPrivateKey(KeyUri(label));
  if (!key.ok()) return key.status();
  auto der = hsm_->PublicKeyDer(label);
  if (!der.ok()) return der.status();
  hsm::EvpPkeyPtr public_key = ParsePublicKey(*der);
  if (public_key == nullptr) {
    return absl::InternalError(
        absl::StrCat("HSM public key of issuer '", name, "' does not parse"));
  }
  issuer.key = share(*key);
  issuer.public_key = share(public_key);
  absl::MutexLock lock(&key_cache_mu_);
  key_cache_.try_emplace(label, CachedKeys{*std::move(key), std::move(public_key)});
  return issuer;
}

absl::StatusOr<std::string> Ca::NewIssuerKey(const std::string& issuer, v1::PkiKeyType type) {
  auto hsm_type = HsmKeyType(type);
  if (!hsm_type.ok()) return hsm_type.status();
  uint8_t suffix[4];
  if (absl::Status s = hsm_->GenerateRandom(absl::MakeSpan(suffix)); !s.ok()) return s;
  std::string label = absl::StrCat(
      "strongroom-ca-", issuer, "-",
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(suffix), 4)));
  if (absl::Status s = hsm_->GenerateKeyPair(label, *hsm_type); !s.ok()) return s;
  return label;
}

absl::StatusOr<IssuerRecord> Ca::StartIssuer(const std::string& name,
                                             const std::string& common_name,
                                             v1::PkiKeyType key_type) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  if (absl::Status s = ValidateName("issuer_name", name); !s.ok()) return s;
  if (common_name.empty() || common_name.size() > 64) {
    return absl::InvalidArgumentError("common_name: must be 1 to 64 characters");
  }
  if (absl::StatusOr<hsm::KeyPairType> t = HsmKeyType(key_type); !t.ok()) return t.status();
  auto existing = LoadIssuerRecord(name);
  if (existing.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("issuer '", name, "' already exists"));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  auto label = NewIssuerKey(name, key_type);
  if (!label.ok()) return label.status();
  IssuerRecord record;
  record.set_name(name);
  record.set_common_name(common_name);
  record.set_key_type(Effective(key_type));
  record.set_hsm_key_label(*label);
  *record.mutable_created() = TimeUtil::GetCurrentTime();
  return record;
}

absl::Status Ca::FinishIssuer(IssuerRecord* record, const IssuerKeyStep& step) {
  const std::string label = record->hsm_key_label();
  absl::Status status = [&]() -> absl::Status {
    auto key = provider_->LoadPrivateKey(KeyUri(label));
    if (!key.ok()) return key.status();
    auto der = hsm_->PublicKeyDer(label);
    if (!der.ok()) return der.status();
    hsm::EvpPkeyPtr public_key = ParsePublicKey(*der);
    if (public_key == nullptr) return absl::InternalError("HSM public key does not parse");
    if (absl::Status s = step(key->get(), public_key.get()); !s.ok()) return s;
    kms::WriteBatch batch;
    batch.Put(absl::StrCat(kIssuerPrefix, record->name()), record->SerializeAsString(),
              kms::WriteBatch::kMustNotExist);
    absl::Status s = storage_->Commit(batch);
    if (absl::IsAborted(s)) {
      return absl::AlreadyExistsError(absl::StrCat("issuer '", record->name(), "' already exists"));
    }
    return s;
  }();
  if (!status.ok()) {
    (void)hsm_->DestroyObjects(label);  // No record refers to the key.
  } else if (!record->certificate_der().empty()) {
    trust_epoch_.fetch_add(1, std::memory_order_release);
  }
  return status;
}

absl::StatusOr<v1::Issuer> Ca::CreateRootIssuer(const v1::CreateRootIssuerRequest& request) {
  absl::Duration ttl = FromProto(request.ttl());
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl: must not be negative");
  if (ttl == absl::ZeroDuration()) ttl = kDefaultRootTtl;
  absl::StatusOr<IssuerRecord> record =
      StartIssuer(request.issuer_name(), request.common_name(), request.key_type());
  if (!record.ok()) return record.status();
  absl::Status s = FinishIssuer(&*record, [&](EVP_PKEY* key, EVP_PKEY* public_key) {
    CertificateParams params;
    params.names.common_name = request.common_name();
    params.public_key = public_key;
    params.not_before = absl::Now();
    params.not_after = params.not_before + ttl;
    params.is_ca = true;
    auto built = BuildCertificate(params, Signer{key, provider_->libctx(), nullptr});
    if (!built.ok()) return built.status();
    record->set_certificate_der(Der(built->certificate.get()));
    *record->mutable_not_after() = ToProto(params.not_after);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return ToIssuer(*record);
}

absl::StatusOr<v1::CreateIntermediateIssuerResponse> Ca::CreateIntermediateIssuer(
    const v1::CreateIntermediateIssuerRequest& request) {
  absl::StatusOr<IssuerRecord> record =
      StartIssuer(request.issuer_name(), request.common_name(), request.key_type());
  if (!record.ok()) return record.status();
  v1::CreateIntermediateIssuerResponse response;
  absl::Status s = FinishIssuer(&*record, [&](EVP_PKEY* key, EVP_PKEY* public_key) {
    auto csr =
        BuildCsr(request.common_name(), public_key, Signer{key, provider_->libctx(), nullptr});
    if (!csr.ok()) return csr.status();
    response.set_csr_pem(CsrToPem(csr->get()));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  *response.mutable_issuer() = ToIssuer(*record);
  return response;
}

absl::StatusOr<v1::SignedCertificate> Ca::SignIntermediate(
    const v1::SignIntermediateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto parent = LoadIssuer(request.issuer_name(), /*need_certificate=*/true);
  if (!parent.ok()) return parent.status();
  auto csr = ParseCsr(request.csr_pem());
  if (!csr.ok()) return csr.status();
  auto public_key = CsrPublicKey(csr->get());
  if (!public_key.ok()) return public_key.status();
  if (absl::Status s = CheckCsrKey(v1::Role(), public_key->get()); !s.ok()) return s;
  auto names = NamesFromCsr(csr->get());
  if (!names.ok()) return names.status();
  if (names->common_name.empty()) {
    return absl::InvalidArgumentError("csr_pem: the CSR has no subject common name");
  }
  absl::Duration ttl = FromProto(request.ttl());
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl: must not be negative");
  if (ttl == absl::ZeroDuration()) ttl = kDefaultIntermediateTtl;
  // The parent's own pathLenConstraint bounds the new CA's.
  const long parent_path_length = X509_get_pathlen(parent->certificate.get());
  if (parent_path_length == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "issuer '", request.issuer_name(), "' has path length 0 and cannot sign CA certificates"));
  }
  if (parent_path_length > 0 && request.has_max_path_length() &&
      request.max_path_length() >= parent_path_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_path_length: must be below the issuer's (", parent_path_length, ")"));
  }
  if (request.has_max_path_length() && request.max_path_length() > 16) {
    return absl::InvalidArgumentError("max_path_length: must be at most 16");
  }
  const absl::Time now = absl::Now();
  const absl::Time parent_not_after = FromProto(parent->record.not_after());
  if (parent_not_after <= now) {
    return absl::FailedPreconditionError(
        absl::StrCat("issuer '", request.issuer_name(), "' has expired"));
  }
  CertificateParams params;
  params.names.common_name = names->common_name;
  params.public_key = public_key->get();
  params.public_key_info = X509_REQ_get_X509_PUBKEY(csr->get());
  params.not_before = now;
  params.not_after = std::min(now + ttl, parent_not_after);
  params.is_ca = true;
  if (request.has_max_path_length()) params.max_path_length = request.max_path_length();
  SetDocumentUrls(request.issuer_name(), &params);
  auto built = BuildCertificate(
      params, Signer{parent->key.get(), provider_->libctx(), parent->certificate.get()});
  if (!built.ok()) return built.status();
  return Issued(*built, params.not_after, request.issuer_name(), /*role=*/"", parent->chain_pem,
                /*store=*/true);
}

absl::StatusOr<v1::Issuer> Ca::ImportIssuerCertificate(
    const v1::ImportIssuerCertificateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  absl::MutexLock lock(&issuer_mu_);
  auto issuer = LoadIssuer(request.issuer_name(), /*need_certificate=*/false);
  if (!issuer.ok()) return issuer.status();
  if (issuer->certificate != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("issuer '", request.issuer_name(), "' already has a certificate"));
  }
  auto certs = ParseCertificates("certificate_pem", request.certificate_pem());
  if (!certs.ok()) return certs.status();
  X509* cert = (*certs)[0].get();
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), issuer->public_key.get()) != 1) {
    return absl::FailedPreconditionError(
        "certificate_pem: its public key is not the issuer's HSM key");
  }
  if (X509_check_ca(cert) != 1) {
    return absl::InvalidArgumentError("certificate_pem: not a CA certificate (basicConstraints)");
  }
  auto chain = ParseCertificates("chain_pem", request.chain_pem());
  if (!chain.ok()) return chain.status();
  hsm::X509StorePtr store(X509_STORE_new());
  hsm::X509StackPtr untrusted(sk_X509_new_null());
  for (const hsm::X509Ptr& c : *chain) {
    if (X509_self_signed(c.get(), 0) == 1) {
      X509_STORE_add_cert(store.get(), c.get());
    } else {
      sk_X509_push(untrusted.get(), c.get());
    }
  }
  hsm::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted.get())) {
    return absl::InternalError(absl::StrCat("verifying the chain: ", DrainOpenSslErrors()));
  }
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("chain_pem: the certificate does not verify against it: ",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  DrainOpenSslErrors();
  IssuerRecord record = issuer->record;
  record.set_certificate_der(Der(cert));
  record.clear_chain_der();
  for (const hsm::X509Ptr& c : *chain) record.add_chain_der(Der(c.get()));
  *record.mutable_not_after() = ToProto(NotAfter(cert));
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kIssuerPrefix, record.name()), record.SerializeAsString(),
            issuer->revision);
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  trust_epoch_.fetch_add(1, std::memory_order_release);
  return ToIssuer(record);
}

absl::StatusOr<v1::Issuer> Ca::GetIssuer(const v1::GetIssuerRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto record = LoadIssuerRecord(request.issuer_name());
  if (!record.ok()) return record.status();
  return ToIssuer(record->first);
}

absl::StatusOr<v1::ListIssuersResponse> Ca::ListIssuers(const v1::ListIssuersRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  v1::ListIssuersResponse response;
  auto names = ListNames(storage_, kIssuerPrefix, request.page_size(), request.page_token(),
                         response.mutable_next_page_token());
  if (!names.ok()) return names.status();
  for (std::string& n : *names) response.add_issuer_names(std::move(n));
  return response;
}

absl::StatusOr<v1::Role> Ca::PutRole(const v1::Role& role, const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  if (absl::Status s = ValidateName("name", role.name()); !s.ok()) return s;
  if (role.issuer_name().empty()) return absl::InvalidArgumentError("issuer_name: required");
  // Rights on the issuer the role will be bound to, and on the one it is bound to now (a
  // role bound to an issuer is part of what that issuer signs): checked before anything is
  // said about either issuer, and the write commits only over the role as checked.
  if (absl::Status s = rights.CheckIssuer(CallerRights::IssuerUse::kAdmin, role.issuer_name());
      !s.ok()) {
    return s;
  }
  int64_t revision = kms::WriteBatch::kMustNotExist;
  auto stored = LoadRole(role.name(), &revision);
  if (stored.ok()) {
    if (absl::Status s = rights.CheckIssuer(CallerRights::IssuerUse::kAdmin, stored->issuer_name());
        !s.ok()) {
      return s;
    }
  } else if (!absl::IsNotFound(stored.status())) {
    return stored.status();
  }
  auto issuer = LoadIssuerRecord(role.issuer_name());
  if (absl::IsNotFound(issuer.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuer_name: no issuer named '", role.issuer_name(), "'"));
  }
  if (!issuer.ok()) return issuer.status();
  if (!HsmKeyType(role.key_type()).ok()) return HsmKeyType(role.key_type()).status();
  if (role.key_bits() != 0 && (role.key_bits() < kMinimumRsaBits || role.key_bits() > 8192)) {
    return absl::InvalidArgumentError("key_bits: must be 0 (2048) or between 2048 and 8192");
  }
  absl::Duration ttl = FromProto(role.ttl()), max_ttl = FromProto(role.max_ttl());
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl: must not be negative");
  if (max_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_ttl: must not be negative");
  }
  if (max_ttl > absl::ZeroDuration() && ttl > max_ttl) {
    return absl::InvalidArgumentError("ttl: must not exceed max_ttl");
  }
  for (const std::string& d : role.allowed_domains()) {
    if (d.empty()) return absl::InvalidArgumentError("allowed_domains: empty entry");
  }
  RoleRecord record;
  record.set_role(role.SerializeAsString());
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kRolePrefix, role.name()), record.SerializeAsString(), revision);
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return RoleChanged(role.name(), s);
  return role;
}

absl::StatusOr<v1::Role> Ca::LoadRole(absl::string_view name, int64_t* revision) {
  if (!ValidateName("role", name).ok()) return NotFound("role", name);
  auto entry = storage_->Get(absl::StrCat(kRolePrefix, name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound("role", name);
  if (revision != nullptr) *revision = (*entry)->revision;
  RoleRecord record;
  v1::Role role;
  if (!record.ParseFromString((*entry)->value) || !role.ParseFromString(record.role()) ||
      role.name() != name) {
    return absl::DataLossError(absl::StrCat("stored record of role '", name, "' is corrupt"));
  }
  return role;
}

absl::StatusOr<v1::Role> Ca::GetRole(const v1::GetRoleRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return LoadRole(request.name());
}

absl::StatusOr<v1::ListRolesResponse> Ca::ListRoles(const v1::ListRolesRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  v1::ListRolesResponse response;
  auto names = ListNames(storage_, kRolePrefix, request.page_size(), request.page_token(),
                         response.mutable_next_page_token());
  if (!names.ok()) return names.status();
  for (std::string& n : *names) response.add_names(std::move(n));
  return response;
}

absl::StatusOr<v1::DeleteRoleResponse> Ca::DeleteRole(const v1::DeleteRoleRequest& request,
                                                      const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  int64_t revision = 0;
  auto role = LoadRole(request.name(), &revision);
  if (!role.ok()) return role.status();
  if (absl::Status s = rights.CheckIssuer(CallerRights::IssuerUse::kAdmin, role->issuer_name());
      !s.ok()) {
    return s;
  }
  kms::WriteBatch batch;
  batch.Delete(absl::StrCat(kRolePrefix, request.name()), revision);
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return RoleChanged(request.name(), s);
  return v1::DeleteRoleResponse();
}

absl::Status Ca::AuthorizeLeaf(const v1::Role& role, CallerRights::IssuerUse use,
                               const NameRequest& names, const CallerRights& rights) {
  if (absl::Status s = rights.CheckIssuer(use, role.issuer_name()); !s.ok()) return s;
  if (absl::Status s = CheckNames(role, names); !s.ok()) return s;
  return rights.CheckNames(names);
}

absl::StatusOr<v1::SignedCertificate> Ca::IssueLeaf(const v1::Role& role, const NameRequest& names,
                                                    absl::Duration requested_ttl,
                                                    EVP_PKEY* public_key,
                                                    const X509_PUBKEY* public_key_info) {
  auto issuer = LoadIssuer(role.issuer_name(), /*need_certificate=*/true);
  if (!issuer.ok()) return issuer.status();
  const absl::Time now = absl::Now();
  absl::Duration ttl;
  if (absl::Status s = CheckRequest(role, names, requested_ttl,
                                    FromProto(issuer->record.not_after()), now, &ttl);
      !s.ok()) {
    return s;
  }
  CertificateParams params;
  params.names = names;
  params.public_key = public_key;
  params.public_key_info = public_key_info;
  params.not_before = now;
  params.not_after = now + ttl;
  params.server_auth = role.server_flag();
  params.client_auth = role.client_flag();
  SetDocumentUrls(role.issuer_name(), &params);
  auto built = BuildCertificate(
      params, Signer{issuer->key.get(), provider_->libctx(), issuer->certificate.get()});
  if (!built.ok()) return built.status();
  return Issued(*built, params.not_after, role.issuer_name(), role.name(), issuer->chain_pem,
                /*store=*/!role.no_store());
}

absl::StatusOr<v1::SignedCertificate> Ca::Issued(const BuiltCertificate& built,
                                                 absl::Time not_after,
                                                 const std::string& issuer_name,
                                                 const std::string& role,
                                                 const std::string& chain_pem, bool store) {
  if (store) {
    CertificateRecord cert;
    cert.set_serial_number(built.serial_number);
    cert.set_issuer_name(issuer_name);
    if (!role.empty()) cert.set_role(role);
    cert.set_certificate_der(Der(built.certificate.get()));
    *cert.mutable_not_after() = ToProto(not_after);
    kms::WriteBatch batch;
    batch.Put(absl::StrCat(kCertPrefix, cert.serial_number()), cert.SerializeAsString(),
              kms::WriteBatch::kMustNotExist);
    // Shares one durable commit with the issuances beside it; returns once it is durable.
    if (absl::Status s = inventory_.Commit(batch); !s.ok()) return s;
  }
  v1::SignedCertificate response;
  response.set_certificate_pem(built.pem);
  response.set_ca_chain_pem(chain_pem);
  response.set_serial_number(built.serial_number);
  return response;
}

namespace {
NameRequest RequestNames(absl::string_view cn,
                         const google::protobuf::RepeatedPtrField<std::string>& dns,
                         const google::protobuf::RepeatedPtrField<std::string>& ip,
                         const google::protobuf::RepeatedPtrField<std::string>& uri) {
  NameRequest names;
  names.common_name = std::string(cn);
  names.dns_sans.assign(dns.begin(), dns.end());
  names.ip_sans.assign(ip.begin(), ip.end());
  names.uri_sans.assign(uri.begin(), uri.end());
  return names;
}
}  // namespace

absl::StatusOr<v1::IssuedCertificate> Ca::IssueCertificate(
    const v1::IssueCertificateRequest& request, const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto role = LoadRole(request.role());
  if (!role.ok()) return role.status();
  NameRequest names = CertificateNames(*role,
                                       RequestNames(request.common_name(), request.dns_sans(),
                                                    request.ip_sans(), request.uri_sans()),
                                       request.exclude_cn_from_sans());
  // Check the request before spending a key generation on it.
  if (absl::Status s = AuthorizeLeaf(*role, CallerRights::IssuerUse::kIssue, names, rights);
      !s.ok()) {
    return s;
  }
  auto key = GenerateSoftwareKey(role->key_type());
  if (!key.ok()) return key.status();
  auto signed_cert =
      IssueLeaf(*role, names, FromProto(request.ttl()), key->get(), /*public_key_info=*/nullptr);
  if (!signed_cert.ok()) return signed_cert.status();
  v1::IssuedCertificate response;
  if (absl::Status s = PrivateKeyPem(key->get(), response.mutable_private_key_pem()); !s.ok()) {
    return s;
  }
  response.set_certificate_pem(signed_cert->certificate_pem());
  response.set_ca_chain_pem(signed_cert->ca_chain_pem());
  response.set_serial_number(signed_cert->serial_number());
  return response;
}

absl::StatusOr<v1::SignedCertificate> Ca::SignCertificate(const v1::SignCertificateRequest& request,
                                                          const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto role = LoadRole(request.role());
  if (!role.ok()) return role.status();
  auto csr = ParseCsr(request.csr_pem());
  if (!csr.ok()) return csr.status();
  auto public_key = CsrPublicKey(csr->get());
  if (!public_key.ok()) return public_key.status();
  if (absl::Status s = CheckCsrKey(*role, public_key->get()); !s.ok()) return s;
  NameRequest names = RequestNames(request.common_name(), request.dns_sans(), request.ip_sans(),
                                   request.uri_sans());
  if (names.empty()) {
    auto from_csr = NamesFromCsr(csr->get());
    if (!from_csr.ok()) return from_csr.status();
    names = *std::move(from_csr);
  }
  names = CertificateNames(*role, std::move(names), request.exclude_cn_from_sans());
  if (absl::Status s = AuthorizeLeaf(*role, CallerRights::IssuerUse::kSign, names, rights);
      !s.ok()) {
    return s;
  }
  return IssueLeaf(*role, names, FromProto(request.ttl()), public_key->get(),
                   X509_REQ_get_X509_PUBKEY(csr->get()));
}

absl::StatusOr<v1::RevokeCertificateResponse> Ca::RevokeCertificate(
    const v1::RevokeCertificateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto serial = CanonicalSerial(request.serial_number());
  if (!serial.ok()) return serial.status();
  absl::MutexLock lock(&issuer_mu_);
  auto entry = storage_->Get(absl::StrCat(kCertPrefix, *serial));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound("certificate with serial", *serial);
  CertificateRecord cert;
  if (!cert.ParseFromString((*entry)->value)) {
    return absl::DataLossError(
        absl::StrCat("stored record of certificate ", *serial, " is corrupt"));
  }
  v1::RevokeCertificateResponse response;
  if (cert.has_revocation_time()) {
    *response.mutable_revocation_time() = cert.revocation_time();
    return response;
  }
  *cert.mutable_revocation_time() = ToProto(absl::Now());
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kCertPrefix, *serial), cert.SerializeAsString(), (*entry)->revision);
  batch.Put(absl::StrCat(kRevokedPrefix, cert.issuer_name(), "/", *serial),
            cert.SerializeAsString());
  // The stored CRL goes with the revocation, so no CRL without it is served even if the
  // rebuild below fails (the next GetCrl or RefreshDueCrls then builds one).
  batch.Delete(absl::StrCat(kCrlPrefix, cert.issuer_name()));
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  trust_epoch_.fetch_add(1, std::memory_order_release);
  *response.mutable_revocation_time() = cert.revocation_time();
  (void)BuildAndStoreCrl(cert.issuer_name(), absl::Now());
  return response;
}

absl::StatusOr<v1::CertificateRecord> Ca::GetCertificate(const v1::GetCertificateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto serial = CanonicalSerial(request.serial_number());
  if (!serial.ok()) return serial.status();
  auto entry = storage_->Get(absl::StrCat(kCertPrefix, *serial));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound("certificate with serial", *serial);
  CertificateRecord cert;
  if (!cert.ParseFromString((*entry)->value)) {
    return absl::DataLossError(
        absl::StrCat("stored record of certificate ", *serial, " is corrupt"));
  }
  v1::CertificateRecord response;
  response.set_serial_number(cert.serial_number());
  response.set_issuer_name(cert.issuer_name());
  response.set_certificate_pem(PemOfDer(cert.certificate_der()));
  *response.mutable_not_after() = cert.not_after();
  if (cert.has_revocation_time()) *response.mutable_revocation_time() = cert.revocation_time();
  response.set_role(cert.role());
  return response;
}

absl::StatusOr<v1::ListCertificatesResponse> Ca::ListCertificates(
    const v1::ListCertificatesRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  v1::ListCertificatesResponse response;
  if (request.issuer_name().empty()) {
    auto names = ListNames(storage_, kCertPrefix, request.page_size(), request.page_token(),
                           response.mutable_next_page_token());
    if (!names.ok()) return names.status();
    for (std::string& n : *names) response.add_serial_numbers(std::move(n));
    return response;
  }
  uint32_t page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  std::string after =
      request.page_token().empty() ? "" : absl::StrCat(kCertPrefix, request.page_token());
  while (true) {
    auto entries = storage_->List(kCertPrefix, after, kDefaultPageSize);
    if (!entries.ok()) return entries.status();
    for (const kms::Entry& e : *entries) {
      CertificateRecord cert;
      if (!cert.ParseFromString(e.value) || cert.issuer_name() != request.issuer_name()) continue;
      if (static_cast<uint32_t>(response.serial_numbers_size()) == page_size) {
        response.set_next_page_token(response.serial_numbers(response.serial_numbers_size() - 1));
        return response;
      }
      response.add_serial_numbers(cert.serial_number());
    }
    if (entries->size() < kDefaultPageSize) return response;
    after = entries->back().key;
  }
}

namespace {

// PEM of a DER CRL (RFC 7468 "X509 CRL", 64-character lines), without parsing it again.
std::string CrlPemOfDer(absl::string_view der) {
  const std::string b64 = absl::Base64Escape(der);
  std::string pem = "-----BEGIN X509 CRL-----\n";
  pem.reserve(b64.size() + b64.size() / 64 + 64);
  for (size_t i = 0; i < b64.size(); i += 64) {
    absl::StrAppend(&pem, absl::string_view(b64).substr(i, 64), "\n");
  }
  pem += "-----END X509 CRL-----\n";
  return pem;
}

v1::Crl ToCrl(const CrlRecord& record) {
  v1::Crl crl;
  crl.set_crl_der(record.crl_der());
  crl.set_crl_pem(CrlPemOfDer(record.crl_der()));
  *crl.mutable_this_update() = record.this_update();
  *crl.mutable_next_update() = record.next_update();
  return crl;
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> Ca::StoredCrlTimes() {
  absl::StatusOr<std::vector<kms::Entry>> entries = storage_->List(kCrlPrefix, "", 0);
  if (!entries.ok()) return entries.status();
  std::vector<std::pair<std::string, absl::Time>> out;
  for (const kms::Entry& entry : *entries) {
    CrlRecord record;
    if (!record.ParseFromString(entry.value)) continue;
    out.emplace_back(entry.key.substr(sizeof(kCrlPrefix) - 1),
                     absl::FromUnixSeconds(record.this_update().seconds()));
  }
  return out;
}

absl::StatusOr<std::optional<CrlRecord>> Ca::LoadStoredCrl(absl::string_view issuer_name) {
  auto entry = storage_->Get(absl::StrCat(kCrlPrefix, issuer_name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::optional<CrlRecord>();
  CrlRecord record;
  if (!record.ParseFromString((*entry)->value) || record.crl_der().empty()) {
    return absl::DataLossError(absl::StrCat("stored CRL of issuer '", issuer_name, "' is corrupt"));
  }
  return std::optional<CrlRecord>(std::move(record));
}

absl::StatusOr<v1::Crl> Ca::GetCrl(const v1::GetCrlRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  const std::string& name = request.issuer_name();
  if (!ValidateName("issuer_name", name).ok()) return NotFound("issuer", name);
  // The stored CRL unless there is none (or it has lapsed: a missed refresh must not
  // leave relying parties with an expired CRL).
  auto usable = [](const std::optional<CrlRecord>& crl) {
    return crl.has_value() && absl::Now() < FromProto(crl->next_update());
  };
  auto stored = LoadStoredCrl(name);
  if (!stored.ok()) return stored.status();
  if (usable(*stored)) return ToCrl(**stored);
  absl::MutexLock lock(&issuer_mu_);
  stored = LoadStoredCrl(name);  // Another caller may have built it meanwhile.
  if (!stored.ok()) return stored.status();
  if (usable(*stored)) return ToCrl(**stored);
  return BuildAndStoreCrl(name, absl::Now());
}

absl::Status Ca::RefreshDueCrls(absl::Time now) {
  if (barrier_->sealed()) return absl::OkStatus();  // Nothing can be signed; try next time.
  auto entries = storage_->List(kIssuerPrefix, "", 0);
  if (!entries.ok()) return entries.status();
  const absl::Duration max_age = options_.crl_validity / 2;
  auto due = [&](const std::optional<CrlRecord>& crl) {
    return !crl.has_value() || now - FromProto(crl->this_update()) > max_age;
  };
  absl::Status first_error;
  for (const kms::Entry& e : *entries) {
    const std::string name = e.key.substr(strlen(kIssuerPrefix));
    IssuerRecord record;
    if (!record.ParseFromString(e.value) || record.certificate_der().empty()) continue;
    absl::Status s = [&]() -> absl::Status {
      auto stored = LoadStoredCrl(name);
      if (!stored.ok()) return stored.status();
      if (!due(*stored)) return absl::OkStatus();
      absl::MutexLock lock(&issuer_mu_);
      stored = LoadStoredCrl(name);
      if (!stored.ok()) return stored.status();
      if (!due(*stored)) return absl::OkStatus();
      return BuildAndStoreCrl(name, now).status();
    }();
    if (!s.ok() && first_error.ok()) {
      first_error =
          absl::Status(s.code(), absl::StrCat("CRL of issuer '", name, "': ", s.message()));
    }
  }
  return first_error;
}

absl::StatusOr<v1::Crl> Ca::BuildAndStoreCrl(absl::string_view issuer_name, absl::Time now) {
  auto issuer = LoadIssuer(issuer_name, /*need_certificate=*/true);
  if (!issuer.ok()) return issuer.status();
  auto entries = storage_->List(absl::StrCat(kRevokedPrefix, issuer_name, "/"), "", 0);
  if (!entries.ok()) return entries.status();
  std::vector<RevokedCertificate> revoked;
  revoked.reserve(entries->size());
  for (const kms::Entry& e : *entries) {
    CertificateRecord cert;
    if (!cert.ParseFromString(e.value)) {
      return absl::DataLossError(absl::StrCat("stored revocation ", e.key, " is corrupt"));
    }
    revoked.push_back({cert.serial_number(), FromProto(cert.revocation_time())});
  }
  CrlParams params;
  params.this_update = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  params.next_update = params.this_update + options_.crl_validity;
  params.crl_number = issuer->record.crl_number() + 1;
  auto crl = BuildCrl(params, revoked,
                      Signer{issuer->key.get(), provider_->libctx(), issuer->certificate.get()});
  if (!crl.ok()) return crl.status();
  IssuerRecord record = issuer->record;
  record.set_crl_number(params.crl_number);
  CrlRecord stored;
  stored.set_crl_der(CrlToDer(crl->get()));
  stored.set_crl_number(params.crl_number);
  *stored.mutable_this_update() = ToProto(params.this_update);
  *stored.mutable_next_update() = ToProto(params.next_update);
  if (stored.crl_der().empty()) {
    return absl::InternalError(absl::StrCat("encoding the CRL: ", DrainOpenSslErrors()));
  }
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kIssuerPrefix, issuer_name), record.SerializeAsString(), issuer->revision);
  batch.Put(absl::StrCat(kCrlPrefix, issuer_name), stored.SerializeAsString());
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  return ToCrl(stored);
}

absl::StatusOr<Ca::CertificateStatus> Ca::LookupCertificateStatus(absl::string_view issuer_name,
                                                                  absl::string_view serial_number) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto serial = CanonicalSerial(serial_number);
  if (!serial.ok()) return serial.status();
  auto entry = storage_->Get(absl::StrCat(kCertPrefix, *serial));
  if (!entry.ok()) return entry.status();
  CertificateStatus status;
  if (!entry->has_value()) return status;
  CertificateRecord cert;
  if (!cert.ParseFromString((*entry)->value)) {
    return absl::DataLossError(
        absl::StrCat("stored record of certificate ", *serial, " is corrupt"));
  }
  if (cert.issuer_name() != issuer_name) return status;
  if (cert.has_revocation_time()) {
    status.kind = CertificateStatus::kRevoked;
    status.revocation_time = FromProto(cert.revocation_time());
  } else {
    status.kind = CertificateStatus::kGood;
  }
  return status;
}

absl::StatusOr<Ca::IssuerKey> Ca::LoadIssuerKey(absl::string_view issuer_name) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto issuer = LoadIssuer(issuer_name, /*need_certificate=*/true);
  if (!issuer.ok()) return issuer.status();
  IssuerKey key;
  key.key = std::move(issuer->key);
  key.certificate = std::move(issuer->certificate);
  key.libctx = provider_->libctx();
  return key;
}

}  // namespace strongroom::pki
