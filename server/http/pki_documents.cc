#include "server/http/pki_documents.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pki/ocsp_responder.h"

namespace strongroom::server {
namespace {

// An HTTP-date (RFC 9110 IMF-fixdate).
std::string HttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
}

std::string ETagOf(absl::string_view body) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  return absl::StrCat(
      "\"", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 16)), "\"");
}

// Whether If-None-Match (a list of entity tags, or "*") names `etag`; weak comparison, as
// RFC 9110 13.1.2 prescribes for it.
bool NoneMatchNames(const HttpRequest& request, absl::string_view etag) {
  auto [begin, end] = request.headers.equal_range("if-none-match");
  for (auto it = begin; it != end; ++it) {
    for (absl::string_view tag : absl::StrSplit(it->second, ',')) {
      tag = absl::StripAsciiWhitespace(tag);
      absl::ConsumePrefix(&tag, "W/");
      if (tag == "*" || tag == etag) return true;
    }
  }
  return false;
}

// The HTTP response for a distribution-point document or the Ca's error.
HttpResponse DocumentResponse(const HttpRequest& request,
                              absl::StatusOr<pki::PkiDocument> doc) {
  if (doc.ok()) return CachedDocumentResponse(request, *std::move(doc), absl::Now());
  HttpResponse response;
  // A document that does not exist yet (an issuer without its certificate) is not found.
  const bool not_yet = doc.status().code() == absl::StatusCode::kFailedPrecondition;
  response.status = HttpStatusOf(not_yet ? absl::StatusCode::kNotFound : doc.status().code());
  switch (response.status) {
    case 404:
      response.body = not_yet ? "issuer has no certificate yet\n" : "unknown issuer\n";
      break;
    case 400:
      response.body = "bad request\n";
      break;
    case 503:
      response.body = "sealed\n";
      break;
    default:
      response.body = "internal error\n";
  }
  return response;
}

bool HasFormat(const HttpRequest& request, const std::string& format) {
  auto it = request.params.find("format");
  return it != request.params.end() && it->second == format;
}

}  // namespace

HttpResponse CachedDocumentResponse(const HttpRequest& request, pki::PkiDocument doc,
                                    absl::Time now) {
  HttpResponse response;
  response.content_type = std::move(doc.content_type);
  if (!doc.validity.has_value()) {
    // An OCSP error (tryLater while sealed, ...) must not be served from a cache later.
    if (response.content_type == "application/ocsp-response") {
      response.headers.emplace_back("Cache-Control", "no-store");
    }
    response.body = std::move(doc.body);
    return response;
  }
  const std::string etag = ETagOf(doc.body);
  const int64_t max_age =
      std::max<int64_t>(0, absl::ToInt64Seconds(doc.validity->next_update - now));
  response.headers = {
      {"Cache-Control", absl::StrCat("max-age=", max_age, ", public, no-transform, must-revalidate")},
      {"Last-Modified", HttpDate(doc.validity->this_update)},
      {"Expires", HttpDate(doc.validity->next_update)},
      {"ETag", etag},
  };
  if (request.method == "GET" && NoneMatchNames(request, etag)) {
    response.status = 304;
    return response;
  }
  response.body = std::move(doc.body);
  return response;
}

namespace {

// `answer` with the caching headers; a pre-signed answer says so to the gate.
HttpResponse OcspResponse(const HttpRequest& request, pki::OcspAnswer answer) {
  HttpResponse response =
      CachedDocumentResponse(request, pki::OcspDocument(std::move(answer.response)), absl::Now());
  response.presigned = answer.presigned;
  response.audit_detail = answer.audit_detail();
  return response;
}

}  // namespace

std::vector<PkiDocumentRoute> PkiDocumentRoutes(pki::Ca* ca,
                                                std::shared_ptr<const pki::OcspResponder> ocsp) {
  std::vector<PkiDocumentRoute> routes;
  routes.push_back({"GET", "/v1/pki/{issuer}/ca", [ca](const HttpRequest& request) {
                      return DocumentResponse(
                          request, pki::IssuerCertificateDocument(
                                       *ca, request.path_params.at("issuer"),
                                       HasFormat(request, "der")));
                    }});
  routes.push_back({"GET", "/v1/pki/{issuer}/crl", [ca](const HttpRequest& request) {
                      return DocumentResponse(
                          request, pki::CrlDocument(*ca, request.path_params.at("issuer"),
                                                    HasFormat(request, "pem")));
                    }});
  routes.push_back({"POST", "/v1/pki/{issuer}/ocsp", [ocsp](const HttpRequest& request) {
                      return OcspResponse(
                          request, ocsp->Respond(request.path_params.at("issuer"), request.body));
                    }});
  routes.push_back(
      {"GET", "/v1/pki/{issuer}/ocsp/{request...}", [ocsp](const HttpRequest& request) {
         return OcspResponse(request, ocsp->RespondToGet(request.path_params.at("issuer"),
                                                         request.path_params.at("request")));
       }});
  return routes;
}

}  // namespace strongroom::server
