// Fuzzes OCSP requests (RFC 6960, the DER POST body or the decoded GET form) through
// BuildOcspResponse, which OcspResponder::Respond calls with the issuer's key: the request's
// parse, every CertID's issuer hashes and serial, the status lookup, the nonce and the
// signed answer. The issuer here is a fixed software key and certificate, so that the seed
// requests (made with `openssl ocsp -issuer`, see testdata/fuzz/README.md) name it. Serials
// ending in hex 0-3 are good, 4-7 revoked, 8 an INVALID_ARGUMENT lookup (as for over-long
// serials), 9 an UNAVAILABLE one, others unknown. Whatever the input, the answer must be a
// DER OCSPResponse, and a successful one must answer each single request once.
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "pki/ocsp_responder.h"

namespace strongroom::pki {
namespace {

// A throwaway EC P-256 test key and its self-signed certificate (CN=fuzz-ocsp-ca); they sign
// nothing outside this fuzzer.
constexpr char kIssuerKey[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgA8ihRofX58+6EuDN
78oH6s/LcjKYH9KZH3hGH6dz3gyhRANCAAQslL4xG50o7cGbCfvgYRimYU9eQua5
y+oxin13ZwFF7DZB2BqhJ4rcjKAzGdQZ+/LfJNr8jkujipbY/9LNaReo
-----END PRIVATE KEY-----
)";
constexpr char kIssuerCertificate[] = R"(-----BEGIN CERTIFICATE-----
MIIBhDCCASugAwIBAgIUZPIKrjuu/icQkU4DtR9BuuoLeZwwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZnV6ei1vY3NwLWNhMCAXDTI2MTIwMzEwNDgzNFoYDzIxMjYx
MTA5MTA0ODM0WjAXMRUwEwYDVQQDDAxmdXp6LW9jc3AtY2EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQslL4xG50o7cGbCfvgYRimYU9eQua5y+oxin13ZwFF7DZB
2BqhJ4rcjKAzGdQZ+/LfJNr8jkujipbY/9LNaReoo1MwUTAfBgNVHSMEGDAWgBTE
hOOQelT3u1qTLEM6SfKYYCGDYzAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQWBBTE
hOOQelT3u1qTLEM6SfKYYCGDYzAKBggqhkjOPQQDAgNHADBEAiATF+pGyx/Vwr+m
kmwdBy0br+wlPd+jApSA0gsHP+JrIgIgVHhpTdSUvNOyw/dp91ZxJ8L2/y9gbP10
Lut68jUesDg=
-----END CERTIFICATE-----
)";

void Fail(const char* what) {
  std::fprintf(stderr, "ocsp: %s\n", what);
  std::abort();
}

struct Issuer {
  hsm::EvpPkeyPtr key;
  hsm::X509Ptr certificate;
};

const Issuer& TheIssuer() {
  static const Issuer* const issuer = [] {
    auto* i = new Issuer;
    hsm::BioPtr key(BIO_new_mem_buf(kIssuerKey, -1));
    i->key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr));
    hsm::BioPtr cert(BIO_new_mem_buf(kIssuerCertificate, -1));
    i->certificate.reset(PEM_read_bio_X509(cert.get(), nullptr, nullptr, nullptr));
    if (i->key == nullptr || i->certificate == nullptr) Fail("cannot read the test issuer");
    return i;
  }();
  return *issuer;
}

absl::StatusOr<Ca::CertificateStatus> Lookup(const std::string& serial_hex) {
  Ca::CertificateStatus status;
  const char last = serial_hex.empty() ? 'f' : serial_hex.back();
  if (last >= '0' && last <= '3') {
    status.kind = Ca::CertificateStatus::kGood;
  } else if (last >= '4' && last <= '7') {
    status.kind = Ca::CertificateStatus::kRevoked;
    status.revocation_time = absl::FromUnixSeconds(1700000000);
  } else if (last == '8') {
    return absl::InvalidArgumentError("serial_number: too long");
  } else if (last == '9') {
    return absl::UnavailableError("sealed");
  }
  return status;
}

}  // namespace
}  // namespace strongroom::pki

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pki = strongroom::pki;
  const pki::Issuer& issuer = pki::TheIssuer();
  const std::string answer = pki::BuildOcspResponse(
      absl::string_view(reinterpret_cast<const char*>(data), size),
      pki::Signer{issuer.key.get(), nullptr, issuer.certificate.get()}, pki::Lookup, absl::Now(),
      absl::Hours(1));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(answer.data());
  OCSP_RESPONSE* response = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(answer.size()));
  if (response == nullptr) pki::Fail("the answer is not a DER OCSPResponse");
  if (OCSP_response_status(response) == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    const unsigned char* q = data;
    OCSP_REQUEST* request = d2i_OCSP_REQUEST(nullptr, &q, static_cast<long>(size));
    OCSP_BASICRESP* basic = OCSP_response_get1_basic(response);
    if (request == nullptr || basic == nullptr ||
        OCSP_resp_count(basic) != OCSP_request_onereq_count(request)) {
      pki::Fail("a successful answer does not answer each single request once");
    }
    OCSP_BASICRESP_free(basic);
    OCSP_REQUEST_free(request);
  }
  OCSP_RESPONSE_free(response);
  return 0;
}
