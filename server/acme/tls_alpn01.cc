// The tls-alpn-01 probe (RFC 8737; IP identifiers per RFC 8738): a TLS handshake offering
// only ALPN "acme-tls/1" with SNI the name (or the IP's reverse-mapping name); the server must
// select acme-tls/1 and present a certificate whose only subjectAltName is the identifier and
// that carries the critical acmeIdentifier extension holding SHA-256(key authorization).
// The certificate is otherwise not verified: the extension is the proof.
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "server/acme/probe.h"

namespace strongroom::server::acme::probe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

constexpr char kAlpn[] = "\x0a" "acme-tls/1";
constexpr absl::string_view kAcmeTls1 = "acme-tls/1";
constexpr char kAcmeIdentifierOid[] = "1.3.6.1.5.5.7.1.31";

// ReverseName is the RFC 8738 SNI for an IP identifier: "4.3.2.1.in-addr.arpa" or the
// nibbles of an IPv6 address reversed under "ip6.arpa".
std::string ReverseName(const asio::ip::address& address) {
  std::string out;
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    for (int i = 3; i >= 0; --i) absl::StrAppend(&out, bytes[i], ".");
    return absl::StrCat(out, "in-addr.arpa");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  const auto bytes = address.to_v6().to_bytes();
  for (int i = 15; i >= 0; --i) {
    out.push_back(kHex[bytes[i] & 0xf]);
    out.push_back('.');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back('.');
  }
  return absl::StrCat(out, "ip6.arpa");
}

// CheckCertificate returns "" when `certificate` answers the challenge, else the problem.
std::string CheckCertificate(X509* certificate, const ValidationRequest& request,
                             const std::string& name) {
  int critical = -1;
  hsm::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, &critical, nullptr)));
  if (critical == -2) return "certificate has more than one subjectAltName extension";
  if (!names || sk_GENERAL_NAME_num(names.get()) != 1) {
    return "certificate must have exactly one subjectAltName";
  }
  const GENERAL_NAME* san = sk_GENERAL_NAME_value(names.get(), 0);
  if (request.identifier_is_ip) {
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(name, ec);
    std::string expected;
    if (address.is_v4()) {
      const auto bytes = address.to_v4().to_bytes();
      expected.assign(bytes.begin(), bytes.end());
    } else {
      const auto bytes = address.to_v6().to_bytes();
      expected.assign(bytes.begin(), bytes.end());
    }
    if (san->type != GEN_IPADD ||
        absl::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(san->d.iPAddress)),
                          ASN1_STRING_length(san->d.iPAddress)) != expected) {
      return "certificate's subjectAltName is not the identifier's IP address";
    }
  } else {
    if (san->type != GEN_DNS ||
        absl::AsciiStrToLower(absl::string_view(
            reinterpret_cast<const char*>(ASN1_STRING_get0_data(san->d.dNSName)),
            ASN1_STRING_length(san->d.dNSName))) != name) {
      return "certificate's subjectAltName is not the identifier's name";
    }
  }

  hsm::Asn1ObjectPtr oid(OBJ_txt2obj(kAcmeIdentifierOid, 1));
  const int at = X509_get_ext_by_OBJ(certificate, oid.get(), -1);
  if (at < 0) return "certificate has no acmeIdentifier extension";
  if (X509_get_ext_by_OBJ(certificate, oid.get(), at) >= 0) {
    return "certificate has more than one acmeIdentifier extension";
  }
  X509_EXTENSION* extension = X509_get_ext(certificate, at);
  if (!X509_EXTENSION_get_critical(extension)) {
    return "certificate's acmeIdentifier extension is not critical";
  }
  // The extension's value is the DER of an OCTET STRING holding the 32-byte digest.
  unsigned char expected[2 + SHA256_DIGEST_LENGTH] = {0x04, SHA256_DIGEST_LENGTH};
  SHA256(reinterpret_cast<const unsigned char*>(request.key_authorization.data()),
         request.key_authorization.size(), expected + 2);
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(extension);
  if (!Equal(absl::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                               ASN1_STRING_length(value)),
             absl::string_view(reinterpret_cast<const char*>(expected), sizeof(expected)))) {
    return "certificate's acmeIdentifier is not the SHA-256 of the key authorization";
  }
  return "";
}

}  // namespace

ValidationOutcome TlsAlpn01(const Context& context, const Target& target,
                            const ValidationRequest& request, const std::string& name) {
  const uint16_t port =
      target.port != 0 ? target.port : static_cast<uint16_t>(context.options.tls_alpn01_port);
  const std::string where = absl::StrCat(name, " port ", port);

  asio::ssl::context tls(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  tls.set_verify_mode(asio::ssl::verify_none);
  beast::ssl_stream<beast::tcp_stream> stream(context.io, tls);
  SSL* ssl = stream.native_handle();
  const std::string sni =
      request.identifier_is_ip ? ReverseName(asio::ip::make_address(name)) : name;
  if (SSL_set_tlsext_host_name(ssl, sni.c_str()) != 1 ||
      SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(kAlpn),
                          sizeof(kAlpn) - 1) != 0) {
    return Fail("tls", "cannot set SNI and ALPN for the handshake");
  }

  error_code ec = Connect(context, target, port, beast::get_lowest_layer(stream));
  if (ec) return Fail("connection", absl::StrCat("connecting to ", where, ": ", Describe(ec)));
  ec = Await(context.io, [&](auto handler) {
    stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
  });
  if (ec) return Fail("tls", absl::StrCat("TLS handshake with ", where, ": ", Describe(ec)));

  const unsigned char* selected = nullptr;
  unsigned int selected_length = 0;
  SSL_get0_alpn_selected(ssl, &selected, &selected_length);
  if (absl::string_view(reinterpret_cast<const char*>(selected), selected_length) != kAcmeTls1) {
    return Fail("tls", absl::StrCat(where, " did not negotiate ALPN acme-tls/1"));
  }
  hsm::X509Ptr certificate(SSL_get1_peer_certificate(ssl));
  if (!certificate) return Fail("tls", absl::StrCat(where, " presented no certificate"));
  if (std::string problem = CheckCertificate(certificate.get(), request, name); !problem.empty()) {
    return Fail("incorrectResponse", absl::StrCat(where, ": ", problem));
  }
  return Pass();
}

}  // namespace strongroom::server::acme::probe
