#include "pki/internal/encoding.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pki/certificate_builder.h"
#include "pki/signer.h"

namespace strongroom::pki::internal {

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string CertificateDer(X509* cert) { return hsm::DerOf(i2d_X509, cert); }

hsm::X509Ptr CertificateFromDer(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return hsm::X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::string CertificatePemOfDer(absl::string_view der) {
  hsm::X509Ptr cert = CertificateFromDer(der);
  return cert ? CertificateToPem(cert.get()) : "";
}

absl::StatusOr<std::vector<hsm::X509Ptr>> ParseCertificates(absl::string_view field,
                                                            absl::string_view pem) {
  std::vector<hsm::X509Ptr> out = ParseCertificateChainPem(pem);
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": no PEM certificate"));
  }
  return out;
}

absl::Time NotAfter(X509* cert) {
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert));
  return absl::Now() + absl::Hours(24) * days + absl::Seconds(secs);
}

hsm::EvpPkeyPtr PublicKeyFromDer(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return hsm::EvpPkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

absl::Status PrivateKeyPem(EVP_PKEY* key, std::string* out) {
  hsm::BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      !PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return absl::InternalError(absl::StrCat("encoding the private key: ", DrainOpenSslErrors()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  out->assign(data, static_cast<size_t>(len));
  return absl::OkStatus();
}

std::string CrlPemOfDer(absl::string_view der) {
  const std::string b64 = absl::Base64Escape(der);
  std::string pem = "-----BEGIN X509 CRL-----\n";
  pem.reserve(b64.size() + b64.size() / 64 + 64);
  for (size_t i = 0; i < b64.size(); i += 64) {
    absl::StrAppend(&pem, absl::string_view(b64).substr(i, 64), "\n");
  }
  pem += "-----END X509 CRL-----\n";
  return pem;
}

}  // namespace strongroom::pki::internal
