// Encodings the CA's records and replies use: certificate DER and PEM, CRL PEM, public keys
// from DER, the PKCS#8 PEM of a software private key, and protobuf times.
//
// Functions that parse return nullptr (or an empty string) on malformed input; callers turn
// that into the error of their context. Stateless and thread-safe.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::pki::internal {

google::protobuf::Timestamp ToProto(absl::Time t);  // whole seconds
absl::Time FromProto(const google::protobuf::Timestamp& t);
absl::Duration FromProto(const google::protobuf::Duration& d);

// The DER of `cert` ("" if it does not encode).
std::string CertificateDer(X509* cert);
hsm::X509Ptr CertificateFromDer(absl::string_view der);
// The PEM of a DER certificate ("" if it does not parse).
std::string CertificatePemOfDer(absl::string_view der);
// Every certificate in `pem`, in order. INVALID_ARGUMENT naming `field` if there is none.
absl::StatusOr<std::vector<hsm::X509Ptr>> ParseCertificates(absl::string_view field,
                                                            absl::string_view pem);
// `cert`'s notAfter.
absl::Time NotAfter(X509* cert);
// A SubjectPublicKeyInfo in DER, as a key of the default library context.
hsm::EvpPkeyPtr PublicKeyFromDer(absl::string_view der);
// The PKCS#8 PEM of `key`, built in a secure-heap BIO (cleansed when freed) and copied once
// into *out, the reply that returns it. INTERNAL with OpenSSL's errors if it does not encode.
absl::Status PrivateKeyPem(EVP_PKEY* key, std::string* out);
// PEM of a DER CRL (RFC 7468 "X509 CRL", 64-character lines), without parsing it again.
std::string CrlPemOfDer(absl::string_view der);

}  // namespace strongroom::pki::internal
