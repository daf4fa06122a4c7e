#include "server/http/vault/pki.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "hsm/openssl_ptr.h"
#include "pki/certificate_builder.h"
#include "server/http/vault/pki_internal.h"

namespace strongroom::server::vault {

PkiApi::PkiApi(pki::Ca* ca, PolicySource policies, std::string mount,
               std::shared_ptr<const pki::OcspResponder> ocsp)
    : ca_(ca),
      policies_(std::move(policies)),
      mount_(std::move(mount)),
      ocsp_(ocsp != nullptr || ca == nullptr ? std::move(ocsp)
                                             : std::make_shared<pki::OcspResponder>(ca)) {}

std::vector<VaultRoute> PkiApi::Routes() const {
  // The mount is a literal segment so that these patterns win over other engines'
  // "/v1/{mount}/..." ones (e.g. transit's sign/{key}).
  const std::string m = absl::StrCat("/v1/", mount_);
  auto bind = [this](HttpResponse (PkiApi::*handler)(const HttpRequest&) const) {
    return [this, handler](const HttpRequest& request) { return (this->*handler)(request); };
  };
  std::vector<VaultRoute> routes;
  // Vault's own clients write with PUT, others with POST: every write answers both.
  // `body` names the resource's fields the body carries (routes.cc: {serial_number}, ...).
  auto write = [&](const std::string& path, HttpHandler handler,
                   VaultRoute::ResourceParamsFn body = nullptr) {
    routes.push_back({"POST", m + path, handler, body});
    routes.push_back({"PUT", m + path, std::move(handler), std::move(body)});
  };
  const auto issuer_name = [] { return BodyFields({{"issuer_name", kDefaultIssuer}}); };
  auto list = [&](const std::string& path, HttpHandler handler) {
    routes.push_back({"LIST", m + path, handler});
    routes.push_back({"GET", m + path, std::move(handler)});
  };
  // Issuance.
  write("/issue/{role}", bind(&PkiApi::Issue));
  write("/sign/{role}", bind(&PkiApi::Sign));
  write("/revoke", bind(&PkiApi::Revoke), BodyFields({{"serial_number", ""}}));
  routes.push_back({"GET", m + "/cert/{serial}", bind(&PkiApi::ReadCert)});
  // Vault's special serials, more specific than {serial}.
  for (const char* special : {"ca", "ca_chain", "crl"}) {
    routes.push_back({"GET", absl::StrCat(m, "/cert/", special),
                      [this, special](const HttpRequest&) { return SpecialCert(special); }});
  }
  list("/certs", bind(&PkiApi::ListCerts));
  // The default issuer's documents.
  routes.push_back({"GET", m + "/ca", [this](const HttpRequest& r) { return CaDocument(r, false); }});
  routes.push_back({"GET", m + "/ca/pem", [this](const HttpRequest& r) { return CaDocument(r, true); }});
  routes.push_back({"GET", m + "/ca_chain", bind(&PkiApi::CaChain)});
  routes.push_back({"GET", m + "/crl", [this](const HttpRequest& r) { return CrlDocument(r, false); }});
  routes.push_back({"GET", m + "/crl/pem", [this](const HttpRequest& r) { return CrlDocument(r, true); }});
  routes.push_back({"POST", m + "/ocsp", bind(&PkiApi::Ocsp)});
  routes.push_back({"GET", m + "/ocsp/{request...}", bind(&PkiApi::OcspGet)});
  // Roles.
  routes.push_back({"GET", m + "/roles/{name}", bind(&PkiApi::ReadRole)});
  write("/roles/{name}", bind(&PkiApi::WriteRole));
  routes.push_back({"DELETE", m + "/roles/{name}", bind(&PkiApi::DeleteRole)});
  list("/roles", bind(&PkiApi::ListRoles));
  // Issuers.
  list("/issuers", bind(&PkiApi::ListIssuers));
  routes.push_back({"GET", m + "/issuer/{issuer}", bind(&PkiApi::ReadIssuer)});
  routes.push_back({"GET", m + "/config/issuers", bind(&PkiApi::ReadIssuersConfig)});
  write("/root/generate/internal", bind(&PkiApi::GenerateRoot), issuer_name());
  write("/intermediate/generate/internal", bind(&PkiApi::GenerateIntermediate), issuer_name());
  write("/root/sign-intermediate", bind(&PkiApi::SignIntermediate),
        BodyFields({{"issuer_ref", kDefaultIssuer}}));
  write("/issuer/{issuer}/sign-intermediate", bind(&PkiApi::SignIntermediate));
  write("/intermediate/set-signed", bind(&PkiApi::SetSigned), issuer_name());
  for (const char* exported : {"/root/generate/exported", "/intermediate/generate/exported",
                               "/issuers/generate/root/exported",
                               "/issuers/generate/intermediate/exported"}) {
    write(exported, bind(&PkiApi::RefuseExport), issuer_name());
  }
  return routes;
}

std::string PkiApi::TablePattern(const std::string& pattern) const {
  const std::string prefix = absl::StrCat("/v1/", mount_, "/");
  if (pattern.rfind(prefix, 0) != 0) return pattern;
  return absl::StrCat("/v1/pki/", pattern.substr(prefix.size()));
}

HttpResponse PkiApi::RefuseExport(const HttpRequest&) const {
  return JsonErrors(400, {"exported CA keys are not supported: Strongroom creates CA keys in the HSM "
                      "and they never leave it; use .../internal"});
}

namespace pki_internal {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status ParseFields(const HttpRequest& request, std::initializer_list<absl::string_view> known,
                         absl::string_view what, Body* body) {
  if (absl::Status s = ParseBody(request.body, &body->json); !s.ok()) return s;
  std::vector<std::string> unknown;
  for (const auto& [name, value] : body->json.fields()) {
    if (std::find(known.begin(), known.end(), name) == known.end()) unknown.push_back(name);
  }
  if (unknown.empty()) return absl::OkStatus();
  std::sort(unknown.begin(), unknown.end());
  // The field names come from the body: cut each so an error stays small.
  for (std::string& name : unknown) {
    if (name.size() > 64) name = absl::StrCat(name.substr(0, 64), "...");
  }
  if (unknown.size() > 8) unknown.resize(8);
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported ", what, " field(s): ", absl::StrJoin(unknown, ", "),
      " (Strongroom takes: ", absl::StrJoin(known, ", "), ")"));
}

absl::StatusOr<std::vector<std::string>> GetList(const Struct& s, const std::string& name) {
  std::vector<std::string> out;
  const Value* v = Field(s, name);
  if (v == nullptr) return out;
  auto add = [&out](absl::string_view item) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out.emplace_back(item);
  };
  if (v->kind_case() == Value::kStringValue) {
    for (absl::string_view item : absl::StrSplit(v->string_value(), ',')) add(item);
    return out;
  }
  if (v->kind_case() != Value::kListValue) {
    return TypeError(name, "a list of strings or a comma-separated string");
  }
  for (const Value& item : v->list_value().values()) {
    if (item.kind_case() != Value::kStringValue) return TypeError(name, "a list of strings");
    add(item.string_value());
  }
  return out;
}

std::string VaultSerial(absl::string_view hex) {
  std::string out;
  // Canonical serials have whole bytes, except zero ("0").
  if (hex.size() % 2 == 1) out.push_back('0');
  for (char c : hex) {
    if (out.size() % 3 == 2) out.push_back(':');
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> SplitPem(absl::string_view pem) {
  std::vector<std::string> out;
  constexpr absl::string_view kEnd = "-----END ";
  size_t start = pem.find("-----BEGIN ");
  while (start != absl::string_view::npos) {
    size_t end = pem.find(kEnd, start);
    if (end == absl::string_view::npos) break;
    size_t eol = pem.find("-----", end + kEnd.size());
    if (eol == absl::string_view::npos) break;
    eol += 5;
    out.push_back(absl::StrCat(pem.substr(start, eol - start), "\n"));
    start = pem.find("-----BEGIN ", eol);
  }
  return out;
}

absl::StatusOr<CertificateFacts> FactsOf(absl::string_view pem) {
  absl::StatusOr<hsm::X509Ptr> cert = pki::ParseCertificatePem(pem);
  if (!cert.ok()) return cert.status();
  CertificateFacts facts;
  const ASN1_TIME* not_after = X509_get0_notAfter(cert->get());
  struct tm tm;
  if (not_after == nullptr || ASN1_TIME_to_tm(not_after, &tm) != 1) {
    return absl::InvalidArgumentError("certificate: unreadable notAfter");
  }
  facts.not_after = timegm(&tm);
  switch (EVP_PKEY_get_base_id(X509_get0_pubkey(cert->get()))) {
    case EVP_PKEY_RSA:
      facts.key_type = "rsa";
      break;
    case EVP_PKEY_EC:
      facts.key_type = "ec";
      break;
    default:
      break;
  }
  return facts;
}

// Vault's data for a signed certificate: certificate, issuing_ca, ca_chain, serial_number,
// expiration.
absl::StatusOr<Json> CertificateData(const std::string& certificate_pem,
                                     const std::string& chain_pem, const std::string& serial,
                                     std::string* key_type) {
  absl::StatusOr<pki_internal::CertificateFacts> facts = FactsOf(certificate_pem);
  if (!facts.ok()) return absl::InternalError("the issued certificate does not parse");
  if (key_type != nullptr) *key_type = facts->key_type;
  std::vector<std::string> chain = SplitPem(chain_pem);
  Json data = Json::Object();
  data.Set("certificate", certificate_pem);
  data.Set("issuing_ca", chain.empty() ? std::string() : chain.front());
  data.Set("ca_chain", Json::Strings(chain));
  data.Set("serial_number", VaultSerial(serial));
  data.Set("expiration", facts->not_after);
  return data;
}

absl::StatusOr<std::string> GateResolved(const HttpRequest& request, const Struct& body,
                                         const std::string& field) {
  absl::StatusOr<const std::string*> value = GetString(body, field, field);
  if (!value.ok()) return value.status();
  return PathParam(request, field.c_str());
}

bool IsList(const HttpRequest& request) {
  if (request.method == "LIST") return true;
  auto it = request.params.find("list");
  return request.method == "GET" && it != request.params.end() && it->second == "true";
}

HttpResponse ListOnly() {
  HttpResponse response = JsonErrors(405, {"this path lists: use LIST, or GET with ?list=true"});
  response.headers.emplace_back("Allow", "LIST, GET");
  return response;
}

absl::StatusOr<const access::Principal*> Caller(const HttpRequest& request) {
  if (request.principal == nullptr) return absl::PermissionDeniedError("no admitted caller");
  return request.principal;
}

}  // namespace pki_internal
}  // namespace strongroom::server::vault
