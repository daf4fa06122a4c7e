#include "pki/internal/issuers.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/str_cat.h"
#include "pki/certificate_builder.h"
#include "pki/internal/encoding.h"
#include "pki/internal/records.h"
#include "pki/signer.h"

namespace strongroom::pki::internal {
namespace {

constexpr absl::Duration kDefaultRootTtl = absl::Hours(24 * 365 * 10);

v1::PkiKeyType Effective(v1::PkiKeyType type) {
  return type == v1::PKI_KEY_TYPE_UNSPECIFIED ? v1::EC_P256 : type;
}

// The issuer's certificate `cert` and the stored chain above it, PEM.
std::string ChainPem(const IssuerRecord& record, X509* cert) {
  std::string chain = CertificateToPem(cert);
  for (const std::string& der : record.chain_der()) chain += CertificatePemOfDer(der);
  return chain;
}

}  // namespace

v1::Issuer Issuers::ToIssuer(const IssuerRecord& record) const {
  v1::Issuer issuer;
  issuer.set_issuer_name(record.name());
  issuer.set_common_name(record.common_name());
  issuer.set_key_type(static_cast<v1::PkiKeyType>(record.key_type()));
  issuer.set_key_uri(keys_->Uri(record.hsm_key_label()));
  if (!record.certificate_der().empty()) {
    hsm::X509Ptr cert = CertificateFromDer(record.certificate_der());
    issuer.set_certificate_pem(CertificateToPem(cert.get()));
    issuer.set_chain_pem(ChainPem(record, cert.get()));
    issuer.set_serial_number(SerialToHex(X509_get0_serialNumber(cert.get())));
    *issuer.mutable_not_after() = record.not_after();
  }
  return issuer;
}

absl::StatusOr<std::pair<IssuerRecord, int64_t>> Issuers::LoadRecord(absl::string_view name) {
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

absl::StatusOr<std::shared_ptr<const Issuers::ParsedCertificate>> Issuers::Parsed(
    const IssuerRecord& record) {
  // Parsing the certificate and re-encoding the chain cost OpenSSL 3.0 a decoder lookup
  // each; an issuer's certificate is set once, so the parsed forms are cached by its DER.
  {
    absl::MutexLock lock(&parsed_mu_);
    auto it = parsed_.find(record.name());
    if (it != parsed_.end() && it->second->certificate_der == record.certificate_der()) {
      return it->second;
    }
  }
  auto fresh = std::make_shared<ParsedCertificate>();
  fresh->certificate_der = record.certificate_der();
  fresh->certificate = CertificateFromDer(record.certificate_der());
  if (fresh->certificate == nullptr) {
    return absl::DataLossError(
        absl::StrCat("stored certificate of issuer '", record.name(), "' is corrupt"));
  }
  fresh->chain_pem = ChainPem(record, fresh->certificate.get());
  absl::MutexLock lock(&parsed_mu_);
  parsed_[record.name()] = fresh;
  return fresh;
}

absl::StatusOr<LoadedIssuer> Issuers::Load(absl::string_view name, bool need_certificate) {
  auto loaded = LoadRecord(name);
  if (!loaded.ok()) return loaded.status();
  LoadedIssuer issuer;
  issuer.record = std::move(loaded->first);
  issuer.revision = loaded->second;
  issuer.libctx = keys_->libctx();
  if (!issuer.record.certificate_der().empty()) {
    auto parsed = Parsed(issuer.record);
    if (!parsed.ok()) return parsed.status();
    X509_up_ref((*parsed)->certificate.get());
    issuer.certificate.reset((*parsed)->certificate.get());
    issuer.chain_pem = (*parsed)->chain_pem;
  } else if (need_certificate) {
    return absl::FailedPreconditionError(absl::StrCat(
        "issuer '", name, "' has no certificate yet (sign its CSR and ImportIssuerCertificate)"));
  }
  auto keys = keys_->Get(issuer.record.hsm_key_label());
  if (!keys.ok()) return keys.status();
  issuer.key = std::move(keys->key);
  issuer.public_key = std::move(keys->public_key);
  return issuer;
}

absl::StatusOr<std::shared_ptr<const LoadedIssuer>> Issuers::LoadForSigning(
    absl::string_view name) {
  return signing_.Get(name, [&]() -> absl::StatusOr<std::shared_ptr<const LoadedIssuer>> {
    auto issuer = Load(name, /*need_certificate=*/true);
    if (!issuer.ok()) return issuer.status();
    auto signing_context = NewSigningContext(issuer->signer());
    if (!signing_context.ok()) return signing_context.status();
    issuer->signing_context = *std::move(signing_context);
    return std::make_shared<const LoadedIssuer>(*std::move(issuer));
  });
}

absl::StatusOr<IssuerRecord> Issuers::Start(const std::string& name, const std::string& common_name,
                                            v1::PkiKeyType key_type) {
  if (absl::Status s = ValidateName("issuer_name", name); !s.ok()) return s;
  if (common_name.empty() || common_name.size() > 64) {
    return absl::InvalidArgumentError("common_name: must be 1 to 64 characters");
  }
  if (absl::StatusOr<hsm::KeyPairType> t = HsmKeyType(key_type); !t.ok()) return t.status();
  auto existing = LoadRecord(name);
  if (existing.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("issuer '", name, "' already exists"));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  auto label = keys_->Create(name, key_type);
  if (!label.ok()) return label.status();
  IssuerRecord record;
  record.set_name(name);
  record.set_common_name(common_name);
  record.set_key_type(Effective(key_type));
  record.set_hsm_key_label(*label);
  *record.mutable_created() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return record;
}

absl::Status Issuers::Finish(IssuerRecord* record, const KeyStep& step) {
  const std::string label = record->hsm_key_label();
  absl::Status status = [&]() -> absl::Status {
    auto keys = keys_->Load(label);
    if (!keys.ok()) return keys.status();
    if (absl::Status s = step(keys->key.get(), keys->public_key.get()); !s.ok()) return s;
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
    (void)keys_->Destroy(label);  // No record refers to the key.
  } else if (!record->certificate_der().empty()) {
    trust_epoch_->fetch_add(1, std::memory_order_release);
  }
  return status;
}

absl::StatusOr<v1::Issuer> Issuers::CreateRoot(const v1::CreateRootIssuerRequest& request) {
  absl::Duration ttl = FromProto(request.ttl());
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl: must not be negative");
  if (ttl == absl::ZeroDuration()) ttl = kDefaultRootTtl;
  absl::StatusOr<IssuerRecord> record =
      Start(request.issuer_name(), request.common_name(), request.key_type());
  if (!record.ok()) return record.status();
  absl::Status s = Finish(&*record, [&](EVP_PKEY* key, EVP_PKEY* public_key) {
    CertificateParams params;
    params.names.common_name = request.common_name();
    params.public_key = public_key;
    params.not_before = absl::Now();
    params.not_after = params.not_before + ttl;
    params.is_ca = true;
    auto built = BuildCertificate(params, Signer{key, keys_->libctx(), nullptr});
    if (!built.ok()) return built.status();
    record->set_certificate_der(built->der);
    *record->mutable_not_after() = ToProto(params.not_after);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return ToIssuer(*record);
}

absl::StatusOr<v1::CreateIntermediateIssuerResponse> Issuers::CreateIntermediate(
    const v1::CreateIntermediateIssuerRequest& request) {
  absl::StatusOr<IssuerRecord> record =
      Start(request.issuer_name(), request.common_name(), request.key_type());
  if (!record.ok()) return record.status();
  v1::CreateIntermediateIssuerResponse response;
  absl::Status s = Finish(&*record, [&](EVP_PKEY* key, EVP_PKEY* public_key) {
    auto csr = BuildCsr(request.common_name(), public_key, Signer{key, keys_->libctx(), nullptr});
    if (!csr.ok()) return csr.status();
    response.set_csr_pem(CsrToPem(csr->get()));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  *response.mutable_issuer() = ToIssuer(*record);
  return response;
}

absl::StatusOr<v1::Issuer> Issuers::ImportCertificate(
    const v1::ImportIssuerCertificateRequest& request) {
  absl::MutexLock lock(record_mu_);
  auto issuer = Load(request.issuer_name(), /*need_certificate=*/false);
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
  record.set_certificate_der(CertificateDer(cert));
  record.clear_chain_der();
  for (const hsm::X509Ptr& c : *chain) record.add_chain_der(CertificateDer(c.get()));
  *record.mutable_not_after() = ToProto(NotAfter(cert));
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kIssuerPrefix, record.name()), record.SerializeAsString(),
            issuer->revision);
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  trust_epoch_->fetch_add(1, std::memory_order_release);
  return ToIssuer(record);
}

absl::StatusOr<v1::Issuer> Issuers::Get(const v1::GetIssuerRequest& request) {
  auto record = LoadRecord(request.issuer_name());
  if (!record.ok()) return record.status();
  return ToIssuer(record->first);
}

absl::StatusOr<v1::ListIssuersResponse> Issuers::List(const v1::ListIssuersRequest& request) {
  v1::ListIssuersResponse response;
  auto names = ListNames(storage_, kIssuerPrefix, request.page_size(), request.page_token(),
                         response.mutable_next_page_token());
  if (!names.ok()) return names.status();
  for (std::string& n : *names) response.add_issuer_names(std::move(n));
  return response;
}

}  // namespace strongroom::pki::internal
