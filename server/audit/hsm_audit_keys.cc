#include "server/audit/hsm_audit_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstring>

#include "absl/memory/memory.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::server::audit {
namespace {

// Runs `generate` unless `exists`; losing a race to another creator is fine.
absl::Status CreateIfMissing(absl::StatusOr<bool> exists, absl::Status (*generate)(hsm::Hsm*),
                             hsm::Hsm* hsm) {
  if (!exists.ok()) return exists.status();
  if (*exists) return absl::OkStatus();
  absl::Status generated = generate(hsm);
  return absl::IsAlreadyExists(generated) ? absl::OkStatus() : generated;
}

absl::StatusOr<std::string> PublicKeyPem(absl::string_view der) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  hsm::EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, der.size()));
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (key == nullptr || bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return absl::InternalError("audit signing key: cannot encode the public key as PEM");
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HsmAuditSigner>> HsmAuditSigner::Create(hsm::Hsm* hsm) {
  absl::Status created = CreateIfMissing(
      hsm->PrivateKeyExists(kAuditSigningKeyLabel),
      [](hsm::Hsm* h) {
        return h->GenerateKeyPair(kAuditSigningKeyLabel, hsm::KeyPairType::kEcP256);
      },
      hsm);
  if (!created.ok()) return created;
  absl::StatusOr<std::string> der = hsm->PublicKeyDer(kAuditSigningKeyLabel);
  if (!der.ok()) return der.status();
  return absl::WrapUnique(new HsmAuditSigner(hsm, *std::move(der)));
}

absl::StatusOr<std::string> HsmAuditSigner::SignDigest(absl::string_view sha256_digest) {
  return hsm_->Sign(kAuditSigningKeyLabel, hsm::SignScheme::kEcdsa, hsm::HashAlgorithm::kSha256,
                    sha256_digest);
}

absl::Status HsmAuditSigner::WritePublicKeyPem(const std::string& path) const {
  absl::StatusOr<std::string> pem = PublicKeyPem(public_key_der_);
  if (!pem.ok()) return pem.status();
  std::string temp = path + ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write(fd, pem->data(), pem->size()) == static_cast<ssize_t>(pem->size()) &&
            fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) close(fd);
  if (ok && rename(temp.c_str(), path.c_str()) == 0) return absl::OkStatus();
  if (ok) err = errno;
  unlink(temp.c_str());
  return absl::UnavailableError(
      absl::StrCat("cannot write audit public key ", path, ": ", std::strerror(err)));
}

absl::StatusOr<std::unique_ptr<AuditHasher>> AuditHasher::Create(hsm::Hsm* hsm) {
  absl::Status created = CreateIfMissing(
      hsm->SecretKeyExists(kAuditHmacKeyLabel),
      [](hsm::Hsm* h) { return h->GenerateHmacKey(kAuditHmacKeyLabel); }, hsm);
  if (!created.ok()) return created;
  return absl::WrapUnique(new AuditHasher(hsm));
}

absl::StatusOr<std::string> AuditHasher::HexHmac(absl::string_view data) {
  absl::StatusOr<std::string> mac =
      hsm_->Hmac(kAuditHmacKeyLabel, hsm::HashAlgorithm::kSha256, data);
  if (!mac.ok()) return mac.status();
  return absl::BytesToHexString(*mac);
}

}  // namespace strongroom::server::audit
