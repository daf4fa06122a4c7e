// Certificate builder: X.509 v3 certificates and PKCS#10 requests signed by a Signer (an
// HSM key through hsm::HsmProvider or a software key).
//
// Only what the caller passes goes into a certificate: a CSR contributes its public key
// (after its self-signature is verified) and, if the caller asks with NamesFromCsr, its
// subject CN and SANs; its requested extensions are never copied, so a CSR asking for
// CA:TRUE still gets CA:FALSE. Names are encoded directly (never through OpenSSL's
// configuration syntax), so a name cannot inject extra fields. Callers check names and keys
// against a Role (role_policy.h) first.
//
// Stateless and thread-safe (each call uses its own OpenSSL objects).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hsm/openssl_ptr.h"
#include "pki/name_request.h"
#include "pki/signer.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki {

struct CertificateParams {
  NameRequest names;               // subject CN (may be empty with SANs) and SANs
  EVP_PKEY* public_key = nullptr;  // the subject's public key (not owned; not the signer's
                                   // provider key: parse it from Hsm::PublicKeyDer)
  // Optional: public_key's SubjectPublicKeyInfo as already encoded (e.g. the CSR's,
  // X509_REQ_get_X509_PUBKEY), copied verbatim instead of re-encoding public_key, which
  // costs OpenSSL 3.0 an encoder lookup (~0.2 ms). Not owned; must be public_key's.
  const X509_PUBKEY* public_key_info = nullptr;
  absl::Time not_before;
  absl::Time not_after;

  // CA certificates: basicConstraints CA:TRUE (critical) with max_path_length if set,
  // keyUsage keyCertSign+cRLSign (critical), no extendedKeyUsage. Leaves: CA:FALSE
  // (critical), keyUsage digitalSignature (+keyEncipherment for RSA keys), critical.
  bool is_ca = false;
  std::optional<int> max_path_length;
  // extendedKeyUsage serverAuth / clientAuth for leaves (from Role server_flag / client_flag);
  // omitted if both are false.
  bool server_auth = false;
  bool client_auth = false;

  // Authority information access and CRL distribution point; each omitted if empty.
  std::string issuing_certificate_url;
  std::string ocsp_url;
  std::string crl_distribution_point;
};

struct BuiltCertificate {
  hsm::X509Ptr certificate;
  std::string serial_number;  // lowercase hex, no colons
  std::string der;            // the certificate's encoding
  std::string pem;            // the same, as PEM
};

// BuildCertificate builds and signs a certificate for `params`. With signer.certificate
// nullptr the certificate is self-signed (issuer = subject; signer.key must be the private
// half of params.public_key); otherwise the issuer name and AKI come from
// signer.certificate (which must carry an SKI and match signer.key). The serial is 159
// random bits, positive; the SKI is the SHA-1 of the public key bits and the AKI the
// issuer's SKI. INVALID_ARGUMENT for bad parameters (named); FAILED_PRECONDITION if the
// signer key does not match or the issuer certificate has no SKI; INTERNAL (with OpenSSL's
// errors) if signing fails.
absl::StatusOr<BuiltCertificate> BuildCertificate(const CertificateParams& params,
                                                  const Signer& signer);

// ParseCsr parses a PEM CSR and verifies its self-signature. INVALID_ARGUMENT
// "csr: ..." if it does not parse or the signature does not verify.
absl::StatusOr<hsm::X509ReqPtr> ParseCsr(absl::string_view pem);

// CsrPublicKey returns a new reference to the CSR's public key.
absl::StatusOr<hsm::EvpPkeyPtr> CsrPublicKey(X509_REQ* csr);

// NamesFromCsr reads the CSR's subject CN and its requested DNS, IP and URI SANs, for
// callers whose request gives no names (they still go through CheckNames).
// INVALID_ARGUMENT if the CSR requests another SAN type, which would be silently dropped.
absl::StatusOr<NameRequest> NamesFromCsr(X509_REQ* csr);

// BuildCsr builds a CSR with subject CN `common_name` for `public_key` (not owned), signed
// by signer.key (e.g. a new intermediate's HSM key; signer.certificate is ignored). The CSR
// carries no extensions; the parent decides them when it signs.
absl::StatusOr<hsm::X509ReqPtr> BuildCsr(absl::string_view common_name, EVP_PKEY* public_key,
                                         const Signer& signer);

// GenerateSoftwareKey creates a software key pair of `type` (for IssueCertificate, which
// returns the private key once). PKI_KEY_TYPE_UNSPECIFIED means EC_P256.
absl::StatusOr<hsm::EvpPkeyPtr> GenerateSoftwareKey(v1::PkiKeyType type);

// RandomSerial returns a positive 159-bit random serial number.
absl::StatusOr<hsm::Asn1IntegerPtr> RandomSerial();
// SerialToHex formats a serial as lowercase hex without colons or leading zero bytes (the
// form of CanonicalSerial in serial.h).
std::string SerialToHex(const ASN1_INTEGER* serial);

// PEM encodings. PemOfDer wraps `der` as a PEM block of `type` (e.g. PEM_STRING_X509).
std::string PemOfDer(const char* type, absl::string_view der);
std::string CertificateToPem(X509* certificate);
std::string CsrToPem(X509_REQ* csr);
absl::StatusOr<hsm::X509Ptr> ParseCertificatePem(absl::string_view pem);
// Every PEM certificate in `pem`, in order, up to the first block that is not one (text
// between blocks is skipped, as OpenSSL's PEM reader does); empty if there is none.
std::vector<hsm::X509Ptr> ParseCertificateChainPem(absl::string_view pem);

}  // namespace strongroom::pki
