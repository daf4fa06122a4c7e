// PkiApi: issuance (issue, sign, revoke, certificate reads) and the default issuer's
// documents.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "hsm/cleanse_message.h"
#include "hsm/secret_data.h"
#include "pki/distribution.h"
#include "pki/serial.h"
#include "server/access/pki_rights.h"
#include "server/http/vault/pki.h"
#include "server/http/vault/pki_internal.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;
using pki_internal::Caller;
using pki_internal::CertificateData;
using pki_internal::FactsOf;
using pki_internal::GetList;
using pki_internal::ParseFields;
using pki_internal::SplitPem;
using pki_internal::VaultSerial;

// The names and lifetime of an issue or sign request, in Vault's fields.
struct NameFields {
  std::string common_name;
  std::vector<std::string> dns_sans, ip_sans, uri_sans;
  absl::Duration ttl;
  bool exclude_cn_from_sans = false;
  bool pem_bundle = false;  // Vault's format=pem_bundle (see Bundle)
};

absl::StatusOr<NameFields> ReadNames(const Struct& body) {
  NameFields names;
  absl::StatusOr<const std::string*> cn = GetString(body, "common_name", "common_name");
  if (!cn.ok()) return cn.status();
  if (*cn != nullptr) names.common_name = **cn;
  for (auto [field, out] : {std::pair{"alt_names", &names.dns_sans},
                            std::pair{"ip_sans", &names.ip_sans},
                            std::pair{"uri_sans", &names.uri_sans}}) {
    absl::StatusOr<std::vector<std::string>> list = GetList(body, field);
    if (!list.ok()) return list.status();
    *out = *std::move(list);
  }
  absl::StatusOr<absl::Duration> ttl = GetDuration(body, "ttl", "ttl");
  if (!ttl.ok()) return ttl.status();
  names.ttl = *ttl;
  absl::StatusOr<bool> exclude = GetBool(body, "exclude_cn_from_sans", "exclude_cn_from_sans");
  if (!exclude.ok()) return exclude.status();
  names.exclude_cn_from_sans = *exclude;
  // Vault's "format": PEM (the default) or pem_bundle.
  absl::StatusOr<const std::string*> format = GetString(body, "format", "format");
  if (!format.ok()) return format.status();
  names.pem_bundle = *format != nullptr && **format == "pem_bundle";
  if (*format != nullptr && !(*format)->empty() && **format != "pem" && !names.pem_bundle) {
    return absl::InvalidArgumentError("format: \"pem\" or \"pem_bundle\"");
  }
  return names;
}

// Vault's pem_bundle: the certificate field holds `private_key_pem` (issue; empty for sign)
// ahead of the certificate, and the issuing CA after it unless that is a self-signed root
// (the chain has one certificate).
void Bundle(const std::string& private_key_pem, const std::string& certificate_pem,
            const std::string& chain_pem, Json* data) {
  const std::vector<std::string> chain = SplitPem(chain_pem);
  std::string bundle = private_key_pem;
  if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
  bundle += certificate_pem;
  if (chain.size() > 1) {
    if (bundle.back() != '\n') bundle += '\n';
    bundle += chain.front();
  }
  data->Set("certificate", bundle);  // Json cleanses its strings
  hsm::CleanseString(&bundle);
}

template <typename Request>
void SetNames(const NameFields& names, Request* request) {
  request->set_common_name(names.common_name);
  for (const std::string& dns : names.dns_sans) request->add_dns_sans(dns);
  for (const std::string& ip : names.ip_sans) request->add_ip_sans(ip);
  for (const std::string& uri : names.uri_sans) request->add_uri_sans(uri);
  if (names.ttl > absl::ZeroDuration()) {
    request->mutable_ttl()->set_seconds(absl::ToInt64Seconds(names.ttl));
  }
  request->set_exclude_cn_from_sans(names.exclude_cn_from_sans);
}

// The HTTP response for a distribution-point document or the Ca's error, in Vault's error
// shape. A document that does not exist yet (an issuer without its certificate) is not found.
HttpResponse Document(const absl::StatusOr<pki::PkiDocument>& doc) {
  if (!doc.ok()) {
    if (doc.status().code() == absl::StatusCode::kFailedPrecondition ||
        doc.status().code() == absl::StatusCode::kNotFound) {
      return JsonErrors(404, {absl::StrCat("default issuer \"", kDefaultIssuer,
                                       "\" does not exist or has no certificate yet")});
    }
    return StatusError(doc.status());
  }
  HttpResponse response;
  response.content_type = doc->content_type;
  response.body = doc->body;
  return response;
}

// The default issuer's chain (PEM); FailedPrecondition before it has a certificate.
absl::StatusOr<pki::PkiDocument> ChainDocument(pki::Ca& ca) {
  v1::GetIssuerRequest get;
  get.set_issuer_name(kDefaultIssuer);
  absl::StatusOr<v1::Issuer> issuer = ca.GetIssuer(get);
  if (!issuer.ok()) return issuer.status();
  if (issuer->chain_pem().empty()) return absl::FailedPreconditionError("no certificate yet");
  return pki::PkiDocument{"application/x-pem-file", issuer->chain_pem()};
}

}  // namespace

HttpResponse PkiApi::Issue(const HttpRequest& request) const {
  Body body;
  if (absl::Status s = ParseFields(request,
                                   {"common_name", "alt_names", "ip_sans", "uri_sans", "ttl",
                                    "exclude_cn_from_sans", "format", "private_key_format"},
                                   "issue", &body);
      !s.ok()) {
    return StatusError(s);
  }
  absl::StatusOr<NameFields> names = ReadNames(body.json);
  if (!names.ok()) return StatusError(names.status());
  absl::StatusOr<const std::string*> key_format =
      GetString(body.json, "private_key_format", "private_key_format");
  if (!key_format.ok()) return StatusError(key_format.status());
  if (*key_format != nullptr && !(*key_format)->empty() && **key_format != "pkcs8") {
    return JsonErrors(400, {"private_key_format: only \"pkcs8\" is supported (keys are PKCS#8 PEM)"});
  }
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  v1::IssueCertificateRequest issue;
  issue.set_role(PathParam(request, "role"));
  SetNames(*names, &issue);
  const std::shared_ptr<const access::PolicySet> policies = policies_();
  const access::PolicyCallerRights rights(*policies, **caller);
  absl::StatusOr<v1::IssuedCertificate> issued = ca_->IssueCertificate(issue, rights);
  if (!issued.ok()) return StatusError(issued.status());
  std::string key_type;
  absl::StatusOr<Json> data = CertificateData(issued->certificate_pem(), issued->ca_chain_pem(),
                                              issued->serial_number(), &key_type);
  if (!data.ok()) {
    hsm::CleanseMessage(&*issued);
    return StatusError(data.status());
  }
  data->Set("private_key", issued->private_key_pem());  // Json cleanses its strings
  data->Set("private_key_type", key_type);
  if (names->pem_bundle) {
    Bundle(issued->private_key_pem(), issued->certificate_pem(), issued->ca_chain_pem(), &*data);
  }
  hsm::CleanseMessage(&*issued);
  return Envelope(200, *std::move(data));
}

HttpResponse PkiApi::Sign(const HttpRequest& request) const {
  Body body;
  if (absl::Status s = ParseFields(request,
                                   {"csr", "common_name", "alt_names", "ip_sans", "uri_sans",
                                    "ttl", "exclude_cn_from_sans", "format"},
                                   "sign", &body);
      !s.ok()) {
    return StatusError(s);
  }
  absl::StatusOr<NameFields> names = ReadNames(body.json);
  if (!names.ok()) return StatusError(names.status());
  absl::StatusOr<const std::string*> csr = GetString(body.json, "csr", "csr");
  if (!csr.ok()) return StatusError(csr.status());
  if (*csr == nullptr || (*csr)->empty()) return JsonErrors(400, {"csr: required"});
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  v1::SignCertificateRequest sign;
  sign.set_role(PathParam(request, "role"));
  sign.set_csr_pem(**csr);
  SetNames(*names, &sign);
  const std::shared_ptr<const access::PolicySet> policies = policies_();
  const access::PolicyCallerRights rights(*policies, **caller);
  absl::StatusOr<v1::SignedCertificate> signed_cert = ca_->SignCertificate(sign, rights);
  if (!signed_cert.ok()) return StatusError(signed_cert.status());
  absl::StatusOr<Json> data =
      CertificateData(signed_cert->certificate_pem(), signed_cert->ca_chain_pem(),
                      signed_cert->serial_number(), nullptr);
  if (!data.ok()) return StatusError(data.status());
  if (names->pem_bundle) {
    Bundle("", signed_cert->certificate_pem(), signed_cert->ca_chain_pem(), &*data);
  }
  return Envelope(200, *std::move(data));
}

HttpResponse PkiApi::Revoke(const HttpRequest& request) const {
  Body body;
  if (absl::Status s = ParseFields(request, {"serial_number"}, "revoke", &body); !s.ok()) {
    return StatusError(s);
  }
  // Resolved from the body by the access gate (the object its check and record name).
  absl::StatusOr<std::string> serial =
      pki_internal::GateResolved(request, body.json, "serial_number");
  if (!serial.ok()) return StatusError(serial.status());
  if (serial->empty()) return JsonErrors(400, {"serial_number: required"});
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(*serial);
  absl::StatusOr<v1::RevokeCertificateResponse> revoked = ca_->RevokeCertificate(revoke);
  if (!revoked.ok()) return StatusError(revoked.status());
  const absl::Time at = TimeOf(revoked->revocation_time());
  return Envelope(200, Json::Object()
                           .Set("revocation_time", absl::ToUnixSeconds(at))
                           .Set("revocation_time_rfc3339", Rfc3339(at))
                           .Set("state", "revoked"));
}

HttpResponse PkiApi::ReadCert(const HttpRequest& request) const {
  v1::GetCertificateRequest get;
  get.set_serial_number(PathParam(request, "serial"));
  absl::StatusOr<v1::CertificateRecord> cert = ca_->GetCertificate(get);
  if (absl::IsNotFound(cert.status())) return NotFound();
  if (!cert.ok()) return StatusError(cert.status());
  const bool revoked = cert->has_revocation_time();
  const absl::Time at = TimeOf(cert->revocation_time());
  return Envelope(200, Json::Object()
                           .Set("certificate", cert->certificate_pem())
                           .Set("serial_number", VaultSerial(cert->serial_number()))
                           .Set("issuer_id", cert->issuer_name())
                           .Set("role", cert->role())
                           .Set("expiration", absl::ToUnixSeconds(TimeOf(cert->not_after())))
                           .Set("revocation_time", revoked ? absl::ToUnixSeconds(at) : 0)
                           .Set("revocation_time_rfc3339", revoked ? Rfc3339(at) : ""));
}

HttpResponse PkiApi::SpecialCert(absl::string_view which) const {
  absl::StatusOr<pki::PkiDocument> document;
  if (which == "crl") {
    document = pki::CrlDocument(*ca_, kDefaultIssuer, /*pem=*/true);
  } else if (which == "ca") {
    document = pki::IssuerCertificateDocument(*ca_, kDefaultIssuer, /*der=*/false);
  } else {
    document = ChainDocument(*ca_);
  }
  if (!document.ok()) return Document(document.status());
  return Envelope(200, Json::Object().Set("certificate", document->body));
}

HttpResponse PkiApi::ListCerts(const HttpRequest& request) const {
  if (!pki_internal::IsList(request)) return pki_internal::ListOnly();
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  bool truncated = false;
  absl::StatusOr<std::vector<std::string>> serials = VisibleNames(
      *policies_(), **caller, "pki/certs/",
      EnginePages<v1::ListCertificatesRequest>(
          [this](const v1::ListCertificatesRequest& list) { return ca_->ListCertificates(list); },
          [](const v1::ListCertificatesResponse& page) -> const auto& {
            return page.serial_numbers();
          }),
      &truncated);
  if (!serials.ok()) return StatusError(serials.status());
  for (std::string& serial : *serials) serial = VaultSerial(serial);
  return ListReply(*serials, std::nullopt, truncated);
}

HttpResponse PkiApi::CaDocument(const HttpRequest&, bool pem) const {
  return Document(pki::IssuerCertificateDocument(*ca_, kDefaultIssuer, /*der=*/!pem));
}

HttpResponse PkiApi::CaChain(const HttpRequest&) const { return Document(ChainDocument(*ca_)); }

HttpResponse PkiApi::CrlDocument(const HttpRequest&, bool pem) const {
  return Document(pki::CrlDocument(*ca_, kDefaultIssuer, pem));
}

HttpResponse PkiApi::Ocsp(const HttpRequest& request) const {
  HttpResponse response;
  response.content_type = "application/ocsp-response";
  pki::OcspAnswer answer = ocsp_->Respond(kDefaultIssuer, request.body);
  response.body = std::move(answer.response);
  response.presigned = answer.presigned;
  response.audit_detail = answer.audit_detail();
  return response;
}

HttpResponse PkiApi::OcspGet(const HttpRequest& request) const {
  HttpResponse response;
  response.content_type = "application/ocsp-response";
  pki::OcspAnswer answer = ocsp_->RespondToGet(kDefaultIssuer, PathParam(request, "request"));
  response.body = std::move(answer.response);
  response.presigned = answer.presigned;
  response.audit_detail = answer.audit_detail();
  return response;
}

}  // namespace strongroom::server::vault
