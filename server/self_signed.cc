#include "server/self_signed.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "server/files.h"

namespace strongroom::server {
namespace {

using hsm::BignumPtr;
using hsm::BioPtr;
using hsm::EvpPkeyPtr;
using hsm::X509Ptr;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

absl::Status WriteBio(const std::string& path, BIO* bio, int mode) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return WriteNewFile(path, absl::string_view(data, len > 0 ? len : 0), mode);
}

bool AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  hsm::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

absl::Status EnsureSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                         bool* created) {
  *created = false;
  bool have_cert = Exists(cert_path), have_key = Exists(key_path);
  if (have_cert && have_key) return absl::OkStatus();
  if (have_cert != have_key) {
    return absl::FailedPreconditionError(absl::StrCat(
        "found ", have_cert ? cert_path : key_path, " but not ", have_cert ? key_path : cert_path,
        "; remove it to have a new self-signed certificate made, or configure grpc.tls"));
  }
  if (absl::Status s = MakeDirs(Parent(cert_path)); !s.ok()) return s;
  if (absl::Status s = MakeDirs(Parent(key_path)); !s.ok()) return s;

  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  unsigned char serial_bytes[16];
  if (!key || !cert || RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return absl::InternalError("cannot generate the self-signed TLS key");
  }
  serial_bytes[0] &= 0x7f;  // A positive INTEGER.
  BignumPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  X509_NAME* name = X509_get_subject_name(cert.get());
  bool ok = serial && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600) != nullptr &&
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("Strongroom"), -1, -1,
                                       0) == 1 &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                                       0) == 1 &&
            X509_set_issuer_name(cert.get(), name) == 1 &&
            X509_set_pubkey(cert.get(), key.get()) == 1 &&
            AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
            AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature") &&
            AddExtension(cert.get(), NID_ext_key_usage, "serverAuth") &&
            AddExtension(cert.get(), NID_subject_key_identifier, "hash") &&
            AddExtension(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
            X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return absl::InternalError("cannot build the self-signed TLS certificate");

  BioPtr key_pem(BIO_new(BIO_s_secmem()));  // Cleansed on free.
  BioPtr cert_pem(BIO_new(BIO_s_mem()));
  if (!key_pem || !cert_pem ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_pem.get(), cert.get()) != 1) {
    return absl::InternalError("cannot encode the self-signed TLS certificate");
  }
  if (absl::Status s = WriteBio(key_path, key_pem.get(), 0600); !s.ok()) return s;
  if (absl::Status s = WriteBio(cert_path, cert_pem.get(), 0644); !s.ok()) {
    unlink(key_path.c_str());
    return s;
  }
  *created = true;
  return absl::OkStatus();
}

}  // namespace strongroom::server
