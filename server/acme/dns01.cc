// The dns-01 probe (RFC 8555 section 8.4): one TXT record of _acme-challenge.<name>, asked of
// the configured resolver, must be base64url(SHA-256(key authorization)).
#include <openssl/sha.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/acme/dns_client.h"
#include "server/acme/probe.h"
#include "server/jose/jose.h"

namespace strongroom::server::acme::probe {
namespace {

std::string DigestBase64Url(absl::string_view key_authorization) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_authorization.data()),
         key_authorization.size(), digest);
  return jose::Base64UrlEncode(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace

ValidationOutcome Dns01(const Context& context, const ValidationRequest& request,
                        const std::string& name) {
  const std::string record = absl::StrCat("_acme-challenge.", name);
  std::optional<boost::asio::ip::udp::endpoint> resolver = ResolverEndpoint(context.options);
  if (!resolver) return Fail("dns", "no DNS resolver configured");
  absl::StatusOr<std::vector<std::string>> values =
      QueryDns(*resolver, record, kDnsTxt, context.deadline);
  if (!values.ok()) {
    return Fail(absl::IsNotFound(values.status()) ? "unauthorized" : "dns",
                absl::StrCat("TXT ", record, ": ", values.status().message()));
  }
  const std::string expected = DigestBase64Url(request.key_authorization);
  for (const std::string& value : *values) {
    if (Equal(value, expected)) return Pass();
  }
  return Fail("incorrectResponse",
              absl::StrCat("no TXT record of ", record, " (of ", values->size(),
                           ") is the key authorization's digest"));
}

}  // namespace strongroom::server::acme::probe
