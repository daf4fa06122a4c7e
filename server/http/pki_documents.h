// PkiDocumentRoutes: the public PKI documents over HTTP — issuer certificates, CRLs and
// OCSP — as routes for any listener: the HTTPS API listener, and the plain-HTTP one whose
// URLs go into certificates (pki.base_url; RFC 5280 and RFC 6960 practice: a client checking
// revocation must not depend on another TLS validation).
//
//   GET  /v1/pki/{issuer}/ca                  issuer certificate: PEM; DER with ?format=der
//   GET  /v1/pki/{issuer}/crl                 current CRL: DER; PEM with ?format=pem
//   POST /v1/pki/{issuer}/ocsp                OCSP, the DER request as body (RFC 6960 A.1)
//   GET  /v1/pki/{issuer}/ocsp/{request...}   OCSP, the base64 request in the path
//
// Caching (RFC 5019 section 6): CRLs and successful OCSP responses carry Last-Modified
// (thisUpdate; an OCSP response's producedAt), Expires (nextUpdate), ETag (quoted hex SHA-256
// of the body) and Cache-Control "max-age=<seconds left until nextUpdate>, public,
// no-transform, must-revalidate", so a proxy or CDN can serve them until they are
// superseded; a GET whose If-None-Match names the current ETag gets 304 without a body.
// OCSP errors (malformedRequest, unauthorized, tryLater) carry "Cache-Control: no-store".
// Errors of the ca and crl routes are short text: 404 for an unknown issuer or one without a
// certificate yet, 400, 503 while sealed, 500.
//
// The routes read no credentials; callers put them behind the access gate (their operation
// is public in server/access/routes.cc). Handlers are thread-safe; `ca` must outlive them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pki/ca.h"
#include "pki/distribution.h"
#include "pki/ocsp_responder.h"
#include "server/http/server.h"

namespace strongroom::server {

struct PkiDocumentRoute {
  std::string method;
  std::string pattern;  // as routes.cc lists it
  HttpHandler handler;
};

// The four routes above over `ca`, answering OCSP with `ocsp` (the server's one responder,
// whose pre-signed responses the Vault PKI API shares). Register the same handlers on every
// listener that serves them.
std::vector<PkiDocumentRoute> PkiDocumentRoutes(pki::Ca* ca,
                                                std::shared_ptr<const pki::OcspResponder> ocsp);

// The response for `doc` to `request` at `now`, with the caching headers above (304 if
// the request's If-None-Match names it). Exposed for tests.
HttpResponse CachedDocumentResponse(const HttpRequest& request, pki::PkiDocument doc,
                                    absl::Time now);

}  // namespace strongroom::server
