// Fuzzes certificate signing requests through what Ca::SignCertificate does before it signs:
// ParseCsr (PEM, self-signature), CsrPublicKey, CheckCsrKey, NamesFromCsr and CheckRequest
// against a role, then BuildCertificate with a software issuer for what the role allows
// (which must be issued or refused as INVALID_ARGUMENT).
// The first byte picks the role (bit 0) and the requested ttl in days (bits 1-7); the rest
// is the DER request, wrapped in PEM here. A CSR whose signature does not verify goes on
// unverified: its key is the requester's, so any content can come with a valid signature.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "pki/certificate_builder.h"
#include "pki/role_policy.h"

namespace strongroom::pki {
namespace {

void Fail(const std::string& what) {
  std::fprintf(stderr, "csr: %s\n", what.c_str());
  std::abort();
}

v1::Role MakeRole(int which) {
  v1::Role role;
  if (which == 0) {
    role.set_name("broad");
    role.add_allowed_domains("example.com");
    role.add_allowed_domains("*.glob.example");
    role.add_allowed_domains("w*b-*.example.org");
    role.set_allow_subdomains(true);
    role.set_allow_bare_domains(true);
    role.set_allow_glob_domains(true);
    role.set_allow_localhost(true);
    role.set_allow_ip_sans(true);
    role.add_allowed_uri_sans("spiffe://prod.example/ns/*/sa/*");
    role.add_allowed_uri_sans("urn:*");
    role.set_key_bits(3072);
    role.mutable_max_ttl()->set_seconds(90 * 24 * 3600);
  } else {
    role.set_name("narrow");
    role.add_allowed_domains("svc.internal");
    role.set_allow_subdomains(true);
    role.mutable_ttl()->set_seconds(24 * 3600);
  }
  role.set_server_flag(true);
  role.set_client_flag(true);
  return role;
}

// A self-signed software CA, as the issuer of what passes the checks.
struct Issuer {
  hsm::EvpPkeyPtr key;
  BuiltCertificate certificate;
};

const Issuer& TheIssuer() {
  static const Issuer* const issuer = [] {
    auto* i = new Issuer;
    auto key = GenerateSoftwareKey(v1::EC_P256);
    if (!key.ok()) Fail(key.status().ToString());
    i->key = *std::move(key);
    CertificateParams params;
    params.names.common_name = "fuzz-ca";
    params.public_key = i->key.get();
    params.not_before = absl::Now() - absl::Minutes(1);
    params.not_after = absl::Now() + absl::Hours(24 * 3650);
    params.is_ca = true;
    auto built = BuildCertificate(params, Signer{i->key.get(), nullptr, nullptr});
    if (!built.ok()) Fail(built.status().ToString());
    i->certificate = *std::move(built);
    return i;
  }();
  return *issuer;
}

std::string Pem(const uint8_t* der, size_t size) {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio(bio.get(), "CERTIFICATE REQUEST", "", der, static_cast<long>(size)) <= 0) {
    Fail("cannot write PEM");
  }
  char* text = nullptr;
  long n = BIO_get_mem_data(bio.get(), &text);
  return std::string(text, n > 0 ? static_cast<size_t>(n) : 0);
}

void FuzzOne(const uint8_t* data, size_t size) {
  static const v1::Role kRoles[] = {MakeRole(0), MakeRole(1)};
  if (size < 2) return;  // PEM cannot wrap an empty request
  const v1::Role& role = kRoles[data[0] & 1];
  const absl::Duration requested_ttl = absl::Hours(24) * (data[0] >> 1);
  const uint8_t* der = data + 1;
  const size_t der_size = size - 1;

  absl::StatusOr<hsm::X509ReqPtr> parsed = ParseCsr(Pem(der, der_size));
  hsm::X509ReqPtr csr;
  if (parsed.ok()) {
    csr = *std::move(parsed);
  } else {
    if (!absl::IsInvalidArgument(parsed.status())) Fail(parsed.status().ToString());
    const unsigned char* p = der;
    csr.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(der_size)));
    ERR_clear_error();
    if (csr == nullptr) return;
  }
  absl::StatusOr<hsm::EvpPkeyPtr> key = CsrPublicKey(csr.get());
  if (!key.ok()) return;
  if (!CheckCsrKey(role, key->get()).ok()) return;
  absl::StatusOr<NameRequest> names = NamesFromCsr(csr.get());
  if (!names.ok()) return;
  // As Ca::SignCertificate: the common name joins the SAN before the checks.
  *names = CertificateNames(role, *std::move(names), /*exclude_cn_from_sans=*/false);
  const absl::Time now = absl::Now();
  const Issuer& issuer = TheIssuer();
  const absl::Time issuer_not_after = now + absl::Hours(24 * 365);
  absl::Duration ttl;
  if (!CheckRequest(role, *names, requested_ttl, issuer_not_after, now, &ttl).ok()) return;
  if (role.server_flag() && names->dns_sans.empty() && names->ip_sans.empty() &&
      names->uri_sans.empty()) {
    Fail("a server certificate without a subjectAltName passed the checks");
  }
  if (ttl <= absl::ZeroDuration() || ttl > issuer_not_after - now ||
      (role.has_max_ttl() && ttl > absl::Seconds(role.max_ttl().seconds()))) {
    Fail("granted ttl outside the role's and issuer's bounds");
  }
  CertificateParams params;
  params.names = *names;
  params.public_key = key->get();
  params.public_key_info = X509_REQ_get_X509_PUBKEY(csr.get());
  params.not_before = now;
  params.not_after = now + ttl;
  params.server_auth = role.server_flag();
  params.client_auth = role.client_flag();
  auto built = BuildCertificate(
      params, Signer{issuer.key.get(), nullptr, issuer.certificate.certificate.get()});
  // What the role allows is issued, or refused as bad input where the builder is stricter
  // than OpenSSL's key parser (e.g. odd algorithm parameters in the key info), never INTERNAL.
  if (!built.ok() && !absl::IsInvalidArgument(built.status())) Fail(built.status().ToString());
}

}  // namespace
}  // namespace strongroom::pki

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  strongroom::pki::FuzzOne(data, size);
  return 0;
}
