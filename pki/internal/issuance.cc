#include "pki/internal/issuance.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pki/certificate_builder.h"
#include "pki/internal/encoding.h"
#include "pki/role_policy.h"

namespace strongroom::pki::internal {
namespace {

constexpr absl::Duration kDefaultIntermediateTtl = absl::Hours(24 * 365 * 5);

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

void Issuance::SetBaseUrl(std::string base_url) {
  absl::MutexLock lock(&base_url_mu_);
  base_url_ = std::move(base_url);
}

void Issuance::SetDocumentUrls(const std::string& issuer_name, CertificateParams* params) const {
  std::string base;
  {
    absl::MutexLock lock(&base_url_mu_);
    base = absl::StrCat(base_url_, "/v1/pki/", issuer_name);
  }
  params->issuing_certificate_url = absl::StrCat(base, "/ca?format=der");
  params->ocsp_url = absl::StrCat(base, "/ocsp");
  params->crl_distribution_point = absl::StrCat(base, "/crl");
}

absl::StatusOr<v1::IssuedCertificate> Issuance::IssueCertificate(
    const v1::IssueCertificateRequest& request, const CallerRights& rights) {
  auto loaded_role = roles_->Get(request.role());
  if (!loaded_role.ok()) return loaded_role.status();
  const v1::Role& role = **loaded_role;
  NameRequest names = CertificateNames(role,
                                       RequestNames(request.common_name(), request.dns_sans(),
                                                    request.ip_sans(), request.uri_sans()),
                                       request.exclude_cn_from_sans());
  // Check the request before spending a key generation on it.
  if (absl::Status s = AuthorizeLeaf(role, CallerRights::IssuerUse::kIssue, names, rights);
      !s.ok()) {
    return s;
  }
  auto key = GenerateSoftwareKey(role.key_type());
  if (!key.ok()) return key.status();
  auto signed_cert =
      IssueLeaf(role, names, FromProto(request.ttl()), key->get(), /*public_key_info=*/nullptr);
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

absl::StatusOr<v1::SignedCertificate> Issuance::SignCertificate(
    const v1::SignCertificateRequest& request, const CallerRights& rights) {
  auto loaded_role = roles_->Get(request.role());
  if (!loaded_role.ok()) return loaded_role.status();
  const v1::Role& role = **loaded_role;
  auto csr = ParseCsr(request.csr_pem());
  if (!csr.ok()) return csr.status();
  auto public_key = CsrPublicKey(csr->get());
  if (!public_key.ok()) return public_key.status();
  if (absl::Status s = CheckCsrKey(role, public_key->get()); !s.ok()) return s;
  NameRequest names = RequestNames(request.common_name(), request.dns_sans(), request.ip_sans(),
                                   request.uri_sans());
  if (names.empty()) {
    auto from_csr = NamesFromCsr(csr->get());
    if (!from_csr.ok()) return from_csr.status();
    names = *std::move(from_csr);
  }
  names = CertificateNames(role, std::move(names), request.exclude_cn_from_sans());
  if (absl::Status s = AuthorizeLeaf(role, CallerRights::IssuerUse::kSign, names, rights);
      !s.ok()) {
    return s;
  }
  return IssueLeaf(role, names, FromProto(request.ttl()), public_key->get(),
                   X509_REQ_get_X509_PUBKEY(csr->get()));
}

absl::StatusOr<v1::SignedCertificate> Issuance::SignIntermediate(
    const v1::SignIntermediateRequest& request) {
  auto loaded_parent = issuers_->LoadForSigning(request.issuer_name());
  if (!loaded_parent.ok()) return loaded_parent.status();
  const LoadedIssuer* parent = loaded_parent->get();
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
  auto built = BuildCertificate(params, parent->signer());
  if (!built.ok()) return built.status();
  return Issued(*built, params.not_after, request.issuer_name(), /*role=*/"", parent->chain_pem,
                /*store=*/true);
}

absl::Status Issuance::AuthorizeLeaf(const v1::Role& role, CallerRights::IssuerUse use,
                                     const NameRequest& names, const CallerRights& rights) {
  if (absl::Status s = rights.CheckIssuer(use, role.issuer_name()); !s.ok()) return s;
  if (absl::Status s = CheckNames(role, names); !s.ok()) return s;
  return rights.CheckNames(names);
}

absl::StatusOr<v1::SignedCertificate> Issuance::IssueLeaf(const v1::Role& role,
                                                          const NameRequest& names,
                                                          absl::Duration requested_ttl,
                                                          EVP_PKEY* public_key,
                                                          const X509_PUBKEY* public_key_info) {
  auto loaded_issuer = issuers_->LoadForSigning(role.issuer_name());
  if (!loaded_issuer.ok()) return loaded_issuer.status();
  const LoadedIssuer* issuer = loaded_issuer->get();
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
  auto built = BuildCertificate(params, issuer->signer());
  if (!built.ok()) return built.status();
  return Issued(*built, params.not_after, role.issuer_name(), role.name(), issuer->chain_pem,
                /*store=*/!role.no_store());
}

absl::StatusOr<v1::SignedCertificate> Issuance::Issued(const BuiltCertificate& built,
                                                       absl::Time not_after,
                                                       const std::string& issuer_name,
                                                       const std::string& role,
                                                       const std::string& chain_pem, bool store) {
  if (store) {
    if (absl::Status s =
            inventory_->Add(built.serial_number, built.der, not_after,
                            issuer_name, role);
        !s.ok()) {
      return s;
    }
  }
  v1::SignedCertificate response;
  response.set_certificate_pem(built.pem);
  response.set_ca_chain_pem(chain_pem);
  response.set_serial_number(built.serial_number);
  return response;
}

}  // namespace strongroom::pki::internal
