// PkiApi: Vault's PKI engine over HTTP, mounted at /v1/<mount> (pki.mount, default "pki";
// paths below are relative to it), a translation layer between
// Vault's JSON shapes and status codes and pki::Ca (the engine the gRPC Pki service uses).
//
//   issuance     POST|PUT issue/{role}, sign/{role} (format "pem" or "pem_bundle"), revoke;
//                GET cert/{serial}; LIST certs (or GET certs?list=true)
//   documents    GET ca (DER), ca/pem, ca_chain, crl (DER), crl/pem, and as JSON like
//                cert/{serial}: cert/ca, cert/ca_chain, cert/crl; POST ocsp,
//                GET ocsp/{request} -- the default issuer's, unauthenticated like
//                /v1/pki/{issuer}/ca|crl|ocsp
//   roles        GET|POST|PUT|DELETE roles/{name}; LIST roles (or GET roles?list=true)
//   issuers      LIST issuers (or GET ?list=true); GET issuer/{issuer}; GET config/issuers;
//                POST|PUT root/generate/internal, intermediate/generate/internal,
//                root/sign-intermediate, issuer/{issuer}/sign-intermediate,
//                intermediate/set-signed. Anything ".../exported" answers 400: CA keys are
//                created in the HSM and never leave it.
//
// The default issuer is the issuer named "default" (kDefaultIssuer): Vault resolves the
// issuer reference "default" to its default issuer, and Strongroom names every issuer, so
// the name is the reference. It is what the document routes serve, what a role without
// issuer_ref is bound to, what root/generate and intermediate/generate create without
// issuer_name, what intermediate/set-signed installs into without issuer_name and what
// root/sign-intermediate signs with without issuer_ref. A mount holding a root and an
// intermediate names the root (e.g. "root") and leaves the intermediate "default".
//
// Authorization: the access gate admits each route with the operation and resource the
// matching gRPC call has (server/access/routes.cc); objects Vault names in the body
// (revoke's serial_number, issuer_name, issuer_ref) are resolved by the gate and read here
// from path_params, so the check, the engine and the audit record name the same object.
// Role writes and issuance apply the caller-rights rule (server/access/pki_rights.h) with
// the gate's policy set, and listings show only what the caller may read, as over gRPC.
//
// Errors are Vault's {"errors":[...]}: bad input 400 naming the field (unknown or
// unsupported fields are refused, not ignored), permission denied 403, reads of what does
// not exist 404, sealed 503. Private keys appear only in issue/{role}'s reply (private_key, and
// certificate with pem_bundle). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pki/ca.h"
#include "pki/ocsp_responder.h"
#include "server/access/policy.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

inline constexpr char kDefaultIssuer[] = "default";

class PkiApi {
 public:
  // `ca` is not owned and must outlive the routes; either may be null for a listing of
  // Routes() only. `mount` is one path segment (server/config.cc checks it).
  // `ocsp` answers the OCSP routes (the server shares one responder, and its pre-signed
  // responses, with the PKI documents); without one, the API makes its own over `ca`.
  PkiApi(pki::Ca* ca, PolicySource policies, std::string mount = "pki",
         std::shared_ptr<const pki::OcspResponder> ocsp = nullptr);

  // The routes, with the literal mount as their first segment after /v1, so that they win
  // over other engines' "/v1/{mount}/..." patterns.
  std::vector<VaultRoute> Routes() const;
  // The name server/access/routes.cc lists `pattern` under: routes.cc names PKI routes under
  // the default mount ("/v1/pki/..."); other patterns are returned unchanged.
  std::string TablePattern(const std::string& pattern) const;

  // Issuance (pki_issue.cc).
  HttpResponse Issue(const HttpRequest& request) const;
  HttpResponse Sign(const HttpRequest& request) const;
  HttpResponse Revoke(const HttpRequest& request) const;
  HttpResponse ReadCert(const HttpRequest& request) const;
  HttpResponse ListCerts(const HttpRequest& request) const;
  // cert/ca, cert/ca_chain and cert/crl: the default issuer's certificate, chain and CRL
  // (PEM) in the JSON shape of cert/{serial}, as Vault serves them.
  HttpResponse SpecialCert(absl::string_view which) const;
  // Documents of the default issuer.
  HttpResponse CaDocument(const HttpRequest& request, bool pem) const;
  HttpResponse CaChain(const HttpRequest& request) const;
  HttpResponse CrlDocument(const HttpRequest& request, bool pem) const;
  HttpResponse Ocsp(const HttpRequest& request) const;
  HttpResponse OcspGet(const HttpRequest& request) const;

  // Roles and issuers (pki_admin.cc).
  HttpResponse ReadRole(const HttpRequest& request) const;
  HttpResponse WriteRole(const HttpRequest& request) const;
  HttpResponse DeleteRole(const HttpRequest& request) const;
  HttpResponse ListRoles(const HttpRequest& request) const;
  HttpResponse ListIssuers(const HttpRequest& request) const;
  HttpResponse ReadIssuer(const HttpRequest& request) const;
  HttpResponse ReadIssuersConfig(const HttpRequest& request) const;
  HttpResponse GenerateRoot(const HttpRequest& request) const;
  HttpResponse GenerateIntermediate(const HttpRequest& request) const;
  HttpResponse SignIntermediate(const HttpRequest& request) const;
  HttpResponse SetSigned(const HttpRequest& request) const;
  HttpResponse RefuseExport(const HttpRequest& request) const;

 private:
  // The chain of the issuer here that issued `certificate_pem` (INVALID_ARGUMENT if none).
  absl::StatusOr<std::string> ParentChain(const std::string& certificate_pem) const;

  pki::Ca* const ca_;
  const PolicySource policies_;
  const std::string mount_;
  std::shared_ptr<const pki::OcspResponder> ocsp_;
};

}  // namespace strongroom::server::vault
