// PkiApi: roles and issuers (generation, intermediate signing and installation).
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "pki/certificate_builder.h"
#include "server/access/pki_rights.h"
#include "server/http/vault/pki.h"
#include "server/http/vault/pki_internal.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using pki_internal::Caller;
using pki_internal::CertificateData;
using pki_internal::GateResolved;
using pki_internal::GetList;
using pki_internal::ParseFields;
using pki_internal::SplitPem;

// A boolean field with Vault's default when absent.
absl::StatusOr<bool> BoolOr(const Struct& body, const std::string& name, bool fallback) {
  if (Field(body, name) == nullptr) return fallback;
  return GetBool(body, name, name);
}

// Vault's key_type and key_bits ("rsa" 2048/3072/4096, "ec" 256/384) as a PkiKeyType.
absl::StatusOr<v1::PkiKeyType> KeyTypeOf(const Struct& body) {
  absl::StatusOr<const std::string*> type = GetString(body, "key_type", "key_type");
  if (!type.ok()) return type.status();
  absl::StatusOr<std::optional<uint64_t>> bits = GetUint(body, "key_bits", "key_bits", 1 << 16);
  if (!bits.ok()) return bits.status();
  const std::string name = *type == nullptr || (*type)->empty() ? "rsa" : **type;
  const uint64_t n = bits->value_or(0);
  if (name == "rsa") {
    if (n == 0 || n == 2048) return v1::RSA2048;
    if (n == 3072) return v1::RSA3072;
    if (n == 4096) return v1::RSA4096;
    return absl::InvalidArgumentError("key_bits: rsa keys are 2048, 3072 or 4096 bits");
  }
  if (name == "ec") {
    if (n == 0 || n == 256) return v1::EC_P256;
    if (n == 384) return v1::EC_P384;
    return absl::InvalidArgumentError("key_bits: ec keys are 256 (P-256) or 384 (P-384) bits");
  }
  return absl::InvalidArgumentError(
      "key_type: Strongroom takes \"rsa\" (2048, 3072, 4096) or \"ec\" (256, 384)");
}

// Vault's (key_type, key_bits) of a PkiKeyType.
std::pair<const char*, int> VaultKeyType(v1::PkiKeyType type) {
  switch (type) {
    case v1::EC_P384: return {"ec", 384};
    case v1::RSA2048: return {"rsa", 2048};
    case v1::RSA3072: return {"rsa", 3072};
    case v1::RSA4096: return {"rsa", 4096};
    default: return {"ec", 256};
  }
}

int64_t Seconds(const google::protobuf::Duration& d) { return d.seconds(); }

Json RoleData(const v1::Role& role) {
  const auto [key_type, key_bits] = VaultKeyType(role.key_type());
  return Json::Object()
      .Set("issuer_ref", role.issuer_name())
      .Set("allowed_domains", Json::Strings({role.allowed_domains().begin(),
                                             role.allowed_domains().end()}))
      .Set("allow_subdomains", role.allow_subdomains())
      .Set("allow_bare_domains", role.allow_bare_domains())
      .Set("allow_glob_domains", role.allow_glob_domains())
      .Set("allow_localhost", role.allow_localhost())
      .Set("allow_ip_sans", role.allow_ip_sans())
      .Set("allowed_uri_sans", Json::Strings({role.allowed_uri_sans().begin(),
                                              role.allowed_uri_sans().end()}))
      .Set("server_flag", role.server_flag())
      .Set("client_flag", role.client_flag())
      .Set("key_type", key_type)
      .Set("key_bits", key_bits)
      .Set("ttl", Seconds(role.ttl()))
      .Set("max_ttl", Seconds(role.max_ttl()))
      .Set("no_store", role.no_store())
      .Set("exclude_cn_from_sans", role.exclude_cn_from_sans());
}

// Vault's role fields as a Role named `name`; absent fields take Vault's defaults.
absl::StatusOr<v1::Role> RoleOf(const std::string& name, const Struct& body) {
  v1::Role role;
  role.set_name(name);
  absl::StatusOr<const std::string*> given = GetString(body, "name", "name");
  if (!given.ok()) return given.status();
  if (*given != nullptr && **given != name) {
    return absl::InvalidArgumentError("name: must be the role name in the path");
  }
  absl::StatusOr<const std::string*> issuer = GetString(body, "issuer_ref", "issuer_ref");
  if (!issuer.ok()) return issuer.status();
  role.set_issuer_name(*issuer == nullptr || (*issuer)->empty() ? kDefaultIssuer : **issuer);
  for (auto [field, out] : {std::pair{"allowed_domains", role.mutable_allowed_domains()},
                            std::pair{"allowed_uri_sans", role.mutable_allowed_uri_sans()}}) {
    absl::StatusOr<std::vector<std::string>> list = GetList(body, field);
    if (!list.ok()) return list.status();
    for (std::string& item : *list) out->Add(std::move(item));
  }
  struct Flag {
    const char* name;
    bool fallback;
    void (v1::Role::*set)(bool);
  };
  for (const Flag& flag : {Flag{"allow_subdomains", false, &v1::Role::set_allow_subdomains},
                           Flag{"allow_bare_domains", false, &v1::Role::set_allow_bare_domains},
                           Flag{"allow_glob_domains", false, &v1::Role::set_allow_glob_domains},
                           Flag{"allow_localhost", true, &v1::Role::set_allow_localhost},
                           Flag{"allow_ip_sans", true, &v1::Role::set_allow_ip_sans},
                           Flag{"server_flag", true, &v1::Role::set_server_flag},
                           Flag{"client_flag", true, &v1::Role::set_client_flag},
                           Flag{"no_store", false, &v1::Role::set_no_store},
                           Flag{"exclude_cn_from_sans", false,
                                &v1::Role::set_exclude_cn_from_sans}}) {
    absl::StatusOr<bool> value = BoolOr(body, flag.name, flag.fallback);
    if (!value.ok()) return value.status();
    (role.*flag.set)(*value);
  }
  absl::StatusOr<v1::PkiKeyType> key_type = KeyTypeOf(body);
  if (!key_type.ok()) return key_type.status();
  role.set_key_type(*key_type);
  // A role's key_bits is the least RSA size it signs CSRs for: that of its key type.
  if (VaultKeyType(*key_type).first == std::string("rsa")) {
    role.set_key_bits(VaultKeyType(*key_type).second);
  }
  for (auto [field, out] : {std::pair{"ttl", role.mutable_ttl()},
                            std::pair{"max_ttl", role.mutable_max_ttl()}}) {
    absl::StatusOr<absl::Duration> d = GetDuration(body, field, field);
    if (!d.ok()) return d.status();
    if (*d > absl::ZeroDuration()) out->set_seconds(absl::ToInt64Seconds(*d));
  }
  return role;
}

// The subject common name of a PEM CSR ("" if it has none); INVALID_ARGUMENT if it does
// not parse.
absl::StatusOr<std::string> CsrCommonName(const std::string& pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  hsm::X509ReqPtr csr(bio == nullptr ? nullptr
                                     : PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (csr == nullptr) return absl::InvalidArgumentError("csr: not a PEM certificate request");
  X509_NAME* subject = X509_REQ_get_subject_name(csr.get());
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return std::string();
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     ASN1_STRING_length(data));
}

Json IssuerData(const v1::Issuer& issuer) {
  const auto [key_type, key_bits] = VaultKeyType(issuer.key_type());
  return Json::Object()
      .Set("issuer_id", issuer.issuer_name())
      .Set("issuer_name", issuer.issuer_name())
      .Set("is_default", issuer.issuer_name() == kDefaultIssuer)
      .Set("common_name", issuer.common_name())
      .Set("key_type", key_type)
      .Set("key_bits", key_bits)
      .Set("key_uri", issuer.key_uri())
      .Set("certificate", issuer.certificate_pem())
      .Set("ca_chain", Json::Strings(SplitPem(issuer.chain_pem())))
      .Set("serial_number", pki_internal::VaultSerial(issuer.serial_number()));
}

}  // namespace

HttpResponse PkiApi::ReadRole(const HttpRequest& request) const {
  v1::GetRoleRequest get;
  get.set_name(PathParam(request, "name"));
  absl::StatusOr<v1::Role> role = ca_->GetRole(get);
  if (absl::IsNotFound(role.status())) return NotFound();
  if (!role.ok()) return StatusError(role.status());
  return Envelope(200, RoleData(*role));
}

HttpResponse PkiApi::WriteRole(const HttpRequest& request) const {
  Body body;
  if (absl::Status s = ParseFields(
          request,
          {"name", "issuer_ref", "allowed_domains", "allow_subdomains", "allow_bare_domains",
           "allow_glob_domains", "allow_localhost", "allow_ip_sans", "allowed_uri_sans",
           "server_flag", "client_flag", "key_type", "key_bits", "ttl", "max_ttl", "no_store",
           "exclude_cn_from_sans"},
          "role", &body);
      !s.ok()) {
    return StatusError(s);
  }
  absl::StatusOr<v1::Role> role = RoleOf(PathParam(request, "name"), body.json);
  if (!role.ok()) return StatusError(role.status());
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  const std::shared_ptr<const access::PolicySet> policies = policies_();
  const access::PolicyCallerRights rights(*policies, **caller);
  absl::StatusOr<v1::Role> stored = ca_->PutRole(*role, rights);
  if (!stored.ok()) return StatusError(stored.status());
  return Envelope(200, RoleData(*stored));
}

HttpResponse PkiApi::DeleteRole(const HttpRequest& request) const {
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  v1::DeleteRoleRequest del;
  del.set_name(PathParam(request, "name"));
  const std::shared_ptr<const access::PolicySet> policies = policies_();
  const access::PolicyCallerRights rights(*policies, **caller);
  absl::StatusOr<v1::DeleteRoleResponse> deleted = ca_->DeleteRole(del, rights);
  // Vault answers 204 for deleting what does not exist too.
  if (!deleted.ok() && !absl::IsNotFound(deleted.status())) return StatusError(deleted.status());
  HttpResponse response;
  response.status = 204;
  return response;
}

HttpResponse PkiApi::ListRoles(const HttpRequest& request) const {
  if (!pki_internal::IsList(request)) return pki_internal::ListOnly();
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  bool truncated = false;
  absl::StatusOr<std::vector<std::string>> names = VisibleNames(
      *policies_(), **caller, "pki/roles/",
      EnginePages<v1::ListRolesRequest>(
          [this](const v1::ListRolesRequest& list) { return ca_->ListRoles(list); },
          [](const v1::ListRolesResponse& page) -> const auto& { return page.names(); }),
      &truncated);
  if (!names.ok()) return StatusError(names.status());
  return ListReply(*names, std::nullopt, truncated);
}

HttpResponse PkiApi::ListIssuers(const HttpRequest& request) const {
  if (!pki_internal::IsList(request)) return pki_internal::ListOnly();
  absl::StatusOr<const access::Principal*> caller = Caller(request);
  if (!caller.ok()) return StatusError(caller.status());
  bool truncated = false;
  absl::StatusOr<std::vector<std::string>> names = VisibleNames(
      *policies_(), **caller, "pki/issuers/",
      EnginePages<v1::ListIssuersRequest>(
          [this](const v1::ListIssuersRequest& list) { return ca_->ListIssuers(list); },
          [](const v1::ListIssuersResponse& page) -> const auto& { return page.issuer_names(); }),
      &truncated);
  if (!names.ok()) return StatusError(names.status());
  Json key_info = Json::Object();
  for (const std::string& name : *names) {
    key_info.Set(name, Json::Object()
                           .Set("issuer_name", name)
                           .Set("is_default", name == kDefaultIssuer));
  }
  return ListReply(*names, std::move(key_info), truncated);
}

HttpResponse PkiApi::ReadIssuer(const HttpRequest& request) const {
  v1::GetIssuerRequest get;
  get.set_issuer_name(PathParam(request, "issuer"));
  absl::StatusOr<v1::Issuer> issuer = ca_->GetIssuer(get);
  if (absl::IsNotFound(issuer.status())) return NotFound();
  if (!issuer.ok()) return StatusError(issuer.status());
  return Envelope(200, IssuerData(*issuer));
}

HttpResponse PkiApi::ReadIssuersConfig(const HttpRequest&) const {
  return Envelope(200, Json::Object()
                           .Set("default", kDefaultIssuer)
                           .Set("default_follows_latest_issuer", false));
}

HttpResponse PkiApi::GenerateRoot(const HttpRequest& request) const {
  Body body;
  if (absl::Status s = ParseFields(
          request, {"common_name", "issuer_name", "ttl", "key_type", "key_bits", "format"},
          "root/generate", &body);
      !s.ok()) {
    return StatusError(s);
  }
  absl::StatusOr<std::string> name = GateResolved(request, body.json, "issuer_name");
  if (!name.ok()) return StatusError(name.status());
  absl::StatusOr<const std::string*> cn = GetString(body.json, "common_name", "common_name");
  if (!cn.ok()) return StatusError(cn.status());
  if (*cn == nullptr || (*cn)->empty()) return JsonErrors(400, {"common_name: required"});
  absl::StatusOr<v1::PkiKeyType> key_type = KeyTypeOf(body.json);
  if (!key_type.ok()) return StatusError(key_type.status());
  absl::StatusOr<absl::Duration> ttl = GetDuration(body.json, "ttl", "ttl");
  if (!ttl.ok()) return StatusError(ttl.status());
  absl::StatusOr<const std::string*> format = GetString(body.json, "format", "format");
  if (!format.ok()) return StatusError(format.status());
  if (*format != nullptr && !(*format)->empty() && **format != "pem") {
    return JsonErrors(400, {"format: only \"pem\" is supported"});
  }
  v1::CreateRootIssuerRequest create;
  create.set_issuer_name(*name);
  create.set_common_name(**cn);
  create.set_key_type(*key_type);
  if (*ttl > absl::ZeroDuration()) create.mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
  absl::StatusOr<v1::Issuer> issuer = ca_->CreateRootIssuer(create);
  if (!issuer.ok()) return StatusError(issuer.status());
  absl::StatusOr<Json> data = CertificateData(issuer->certificate_pem(), issuer->chain_pem(),
                                              issuer->serial_number(), nullptr);
  if (!data.ok()) return StatusError(data.status());
  data->Set("issuer_id", issuer->issuer_name());
  data->Set("issuer_name", issuer->issuer_name());
  data->Set("key_id", issuer->key_uri());
  return Envelope(200, *std::move(data));
}

HttpResponse PkiApi::GenerateIntermediate(const HttpRequest& request) const {
  Body body;
  if (absl::Status s = ParseFields(request,
                                   {"common_name", "issuer_name", "key_type", "key_bits", "format"},
                                   "intermediate/generate", &body);
      !s.ok()) {
    return StatusError(s);
  }
  absl::StatusOr<std::string> name = GateResolved(request, body.json, "issuer_name");
  if (!name.ok()) return StatusError(name.status());
  absl::StatusOr<const std::string*> cn = GetString(body.json, "common_name", "common_name");
  if (!cn.ok()) return StatusError(cn.status());
  if (*cn == nullptr || (*cn)->empty()) return JsonErrors(400, {"common_name: required"});
  absl::StatusOr<v1::PkiKeyType> key_type = KeyTypeOf(body.json);
  if (!key_type.ok()) return StatusError(key_type.status());
  absl::StatusOr<const std::string*> format = GetString(body.json, "format", "format");
  if (!format.ok()) return StatusError(format.status());
  if (*format != nullptr && !(*format)->empty() && **format != "pem") {
    return JsonErrors(400, {"format: only \"pem\" is supported"});
  }
  v1::CreateIntermediateIssuerRequest create;
  create.set_issuer_name(*name);
  create.set_common_name(**cn);
  create.set_key_type(*key_type);
  absl::StatusOr<v1::CreateIntermediateIssuerResponse> created =
      ca_->CreateIntermediateIssuer(create);
  if (!created.ok()) return StatusError(created.status());
  return Envelope(200, Json::Object()
                           .Set("csr", created->csr_pem())
                           .Set("issuer_id", created->issuer().issuer_name())
                           .Set("issuer_name", created->issuer().issuer_name())
                           .Set("key_id", created->issuer().key_uri()));
}

HttpResponse PkiApi::SignIntermediate(const HttpRequest& request) const {
  // issuer/{issuer}/sign-intermediate names the issuer in the path; root/sign-intermediate
  // in the body's issuer_ref, resolved by the gate (default: the default issuer).
  const bool in_path = !PathParam(request, "issuer").empty();
  Body body;
  absl::Status parsed =
      in_path ? ParseFields(request, {"csr", "common_name", "ttl", "max_path_length", "format"},
                            "sign-intermediate", &body)
              : ParseFields(request,
                            {"csr", "common_name", "ttl", "max_path_length", "format",
                             "issuer_ref"},
                            "sign-intermediate", &body);
  if (!parsed.ok()) return StatusError(parsed);
  absl::StatusOr<std::string> issuer = in_path ? PathParam(request, "issuer")
                                               : GateResolved(request, body.json, "issuer_ref");
  if (!issuer.ok()) return StatusError(issuer.status());
  absl::StatusOr<const std::string*> csr = GetString(body.json, "csr", "csr");
  if (!csr.ok()) return StatusError(csr.status());
  if (*csr == nullptr || (*csr)->empty()) return JsonErrors(400, {"csr: required"});
  absl::StatusOr<std::string> csr_cn = CsrCommonName(**csr);
  if (!csr_cn.ok()) return StatusError(csr_cn.status());
  absl::StatusOr<const std::string*> cn = GetString(body.json, "common_name", "common_name");
  if (!cn.ok()) return StatusError(cn.status());
  if (*cn != nullptr && !(*cn)->empty() && **cn != *csr_cn) {
    return JsonErrors(400, {"common_name: must be the CSR's subject common name (Strongroom signs "
                        "the subject the intermediate asked for)"});
  }
  absl::StatusOr<const std::string*> format = GetString(body.json, "format", "format");
  if (!format.ok()) return StatusError(format.status());
  if (*format != nullptr && !(*format)->empty() && **format != "pem") {
    return JsonErrors(400, {"format: only \"pem\" is supported"});
  }
  v1::SignIntermediateRequest sign;
  sign.set_issuer_name(*issuer);
  sign.set_csr_pem(**csr);
  absl::StatusOr<absl::Duration> ttl = GetDuration(body.json, "ttl", "ttl");
  if (!ttl.ok()) return StatusError(ttl.status());
  if (*ttl > absl::ZeroDuration()) sign.mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
  // Vault's max_path_length: -1 (its default) for no limit.
  const Value* path_length = Field(body.json, "max_path_length");
  if (!(path_length != nullptr && path_length->kind_case() == Value::kNumberValue &&
        path_length->number_value() == -1)) {
    absl::StatusOr<std::optional<uint64_t>> limit =
        GetUint(body.json, "max_path_length", "max_path_length", 16);
    if (!limit.ok()) return StatusError(limit.status());
    if (limit->has_value()) sign.set_max_path_length(static_cast<uint32_t>(**limit));
  }
  absl::StatusOr<v1::SignedCertificate> signed_cert = ca_->SignIntermediate(sign);
  if (!signed_cert.ok()) return StatusError(signed_cert.status());
  absl::StatusOr<Json> data =
      CertificateData(signed_cert->certificate_pem(), signed_cert->ca_chain_pem(),
                      signed_cert->serial_number(), nullptr);
  if (!data.ok()) return StatusError(data.status());
  return Envelope(200, *std::move(data));
}

HttpResponse PkiApi::SetSigned(const HttpRequest& request) const {
  Body body;
  if (absl::Status s =
          ParseFields(request, {"certificate", "issuer_name"}, "intermediate/set-signed", &body);
      !s.ok()) {
    return StatusError(s);
  }
  absl::StatusOr<std::string> name = GateResolved(request, body.json, "issuer_name");
  if (!name.ok()) return StatusError(name.status());
  absl::StatusOr<const std::string*> bundle = GetString(body.json, "certificate", "certificate");
  if (!bundle.ok()) return StatusError(bundle.status());
  std::vector<std::string> pems = *bundle == nullptr ? std::vector<std::string>()
                                                     : SplitPem(**bundle);
  if (pems.empty()) return JsonErrors(400, {"certificate: required (PEM)"});
  v1::ImportIssuerCertificateRequest import;
  import.set_issuer_name(*name);
  import.set_certificate_pem(pems.front());
  for (size_t i = 1; i < pems.size(); ++i) import.mutable_chain_pem()->append(pems[i]);
  if (pems.size() == 1) {
    // Only the certificate, as Vault's clients send it when its issuer is in the same mount:
    // the chain is that issuer's.
    absl::StatusOr<std::string> chain = ParentChain(pems.front());
    if (!chain.ok()) return StatusError(chain.status());
    import.set_chain_pem(*chain);
  }
  absl::StatusOr<v1::Issuer> issuer = ca_->ImportIssuerCertificate(import);
  if (!issuer.ok()) return StatusError(issuer.status());
  return Envelope(200, Json::Object()
                           .Set("imported_issuers", Json::Strings({issuer->issuer_name()}))
                           .Set("issuer_name", issuer->issuer_name()));
}

absl::StatusOr<std::string> PkiApi::ParentChain(const std::string& certificate_pem) const {
  absl::StatusOr<hsm::X509Ptr> cert = pki::ParseCertificatePem(certificate_pem);
  if (!cert.ok()) return absl::InvalidArgumentError("certificate: not a PEM certificate");
  const PageFetch issuer_pages = EnginePages<v1::ListIssuersRequest>(
      [this](const v1::ListIssuersRequest& list) { return ca_->ListIssuers(list); },
      [](const v1::ListIssuersResponse& page) -> const auto& { return page.issuer_names(); });
  std::string token;
  do {
    std::string next;
    absl::StatusOr<std::vector<std::string>> names = issuer_pages(token, &next);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      v1::GetIssuerRequest get;
      get.set_issuer_name(name);
      absl::StatusOr<v1::Issuer> issuer = ca_->GetIssuer(get);
      if (!issuer.ok() || issuer->certificate_pem().empty()) continue;
      absl::StatusOr<hsm::X509Ptr> parent = pki::ParseCertificatePem(issuer->certificate_pem());
      if (parent.ok() && X509_check_issued(parent->get(), cert->get()) == X509_V_OK) {
        return issuer->chain_pem();
      }
    }
    token = std::move(next);
  } while (!token.empty());
  return absl::InvalidArgumentError(
      "certificate: its issuer is not an issuer here; send its chain after it in the bundle");
}

}  // namespace strongroom::server::vault
