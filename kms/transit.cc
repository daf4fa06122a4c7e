#include "kms/transit.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <deque>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "hsm/secret_data.h"
#include "kms/ciphertext.h"
#include "kms/crypto/aead.h"
#include "kms/crypto/hkdf.h"
#include "kms/crypto/mac.h"

namespace strongroom::kms {
namespace {

using crypto::kAeadNonceSize;
using crypto::kAeadTagSize;

absl::StatusOr<crypto::HashAlgorithm> HashOf(v1::HashAlgorithm hash) {
  switch (hash) {
    case v1::HASH_ALGORITHM_UNSPECIFIED:
    case v1::SHA2_256:
      return crypto::HashAlgorithm::kSha256;
    case v1::SHA2_384:
      return crypto::HashAlgorithm::kSha384;
    case v1::SHA2_512:
      return crypto::HashAlgorithm::kSha512;
    default:
      return absl::InvalidArgumentError("hash_algorithm: unknown value");
  }
}

crypto::AeadAlgorithm AeadOf(KeyType type) {
  switch (type) {
    case KeyType::kAes128Gcm:
      return crypto::AeadAlgorithm::kAes128Gcm;
    case KeyType::kChaCha20Poly1305:
      return crypto::AeadAlgorithm::kChaCha20Poly1305;
    default:
      return crypto::AeadAlgorithm::kAes256Gcm;
  }
}

void SetError(const absl::Status& s, v1::ItemError* error) {
  error->set_code(static_cast<int>(s.code()));
  error->set_message(std::string(s.message()));
}

// Nonces for random-nonce encryption, drawn from a per-thread buffer so a batch does not
// call into the RNG once per item.
absl::Status RandomNonce(uint8_t* out) {
  thread_local uint8_t buffer[kAeadNonceSize * 256];
  thread_local size_t left = 0;
  if (left == 0) {
    if (RAND_bytes(buffer, sizeof(buffer)) != 1) {
      return absl::InternalError("random number generator failed");
    }
    left = sizeof(buffer);
  }
  left -= kAeadNonceSize;
  std::memcpy(out, buffer + left, kAeadNonceSize);
  OPENSSL_cleanse(buffer + left, kAeadNonceSize);
  return absl::OkStatus();
}

void AppendLengthPrefixed(absl::string_view s, std::string* out) {
  uint64_t n = s.size();
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(n >> shift));
  out->append(s.data(), s.size());
}

// Checks that `version` of `key` may be used to decrypt or verify.
absl::Status CheckReadVersion(const TransitKey& key, uint32_t version, absl::string_view field) {
  const TransitKeyRecord& r = key.record();
  if (version > r.latest_version()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": version ", version, " does not exist (latest is ", r.latest_version(), ")"));
  }
  if (version < r.min_available_version()) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": version ", version, " was trimmed"));
  }
  if (version < r.min_decryption_version()) {
    return absl::FailedPreconditionError(absl::StrCat(field, ": version ", version,
                                                      " is below min_decryption_version ",
                                                      r.min_decryption_version()));
  }
  return absl::OkStatus();
}

// The version a new signature or HMAC uses: `requested`, or the latest if 0. It must be
// available and not below min_encryption_version (FAILED_PRECONDITION).
absl::StatusOr<uint32_t> WriteVersion(const TransitKey& key, uint32_t requested) {
  const TransitKeyRecord& r = key.record();
  uint32_t version = requested == 0 ? r.latest_version() : requested;
  if (version > r.latest_version() || version < r.min_available_version()) {
    return absl::InvalidArgumentError(absl::StrCat("key_version: ", version, " is not available"));
  }
  if (r.min_encryption_version() != 0 && version < r.min_encryption_version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key_version: ", version, " is below min_encryption_version ", r.min_encryption_version()));
  }
  return version;
}

absl::Status WrongType(const TransitKey& key, absl::string_view operation) {
  return absl::InvalidArgumentError(absl::StrCat("key '", key.name(), "' of type ",
                                                 KeyTypeName(key.type()), " cannot ", operation));
}

std::string PemOf(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  hsm::EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, der.size()));
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!pkey || !bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

// The HMAC of `input` under a version: its HMAC key in the HSM for HSM-resident keys,
// else the key itself (type hmac) or the version's wrapped HMAC key.
absl::StatusOr<std::string> VersionHmac(const TransitKey& key, const VersionMaterial& material,
                                        crypto::HashAlgorithm hash, absl::string_view input,
                                        hsm::Hsm* hsm) {
  if (key.residency() == Residency::kHsm) {
    return hsm->Hmac(material.hsm_hmac_label, hash, input);
  }
  std::string tag;
  absl::Span<const uint8_t> mac_key =
      key.type() == KeyType::kHmac ? material.key : material.hmac_key;
  if (absl::Status s = crypto::HmacCompute(hash, mac_key, input, &tag); !s.ok()) return s;
  return tag;
}

}  // namespace

v1::Key KeyToProto(const TransitKey& key) {
  const TransitKeyRecord& r = key.record();
  v1::Key out;
  out.set_name(r.name());
  out.set_type(ApiKeyType(key.type()));
  out.set_residency(r.hsm_resident() ? v1::HSM : v1::WRAPPED);
  out.set_latest_version(r.latest_version());
  out.set_min_decryption_version(r.min_decryption_version());
  out.set_min_encryption_version(r.min_encryption_version());
  out.set_min_available_version(r.min_available_version());
  out.set_deletion_allowed(r.deletion_allowed());
  out.set_derived(r.derived());
  out.set_convergent(r.convergent());
  out.mutable_auto_rotate_period()->set_seconds(r.auto_rotate_seconds());
  *out.mutable_create_time() = r.create_time();
  *out.mutable_update_time() = r.update_time();
  for (const TransitVersionRecord& v : r.versions()) {
    v1::KeyVersion* kv = out.add_versions();
    kv->set_version(v.version());
    *kv->mutable_create_time() = v.create_time();
    if (!v.public_key_der().empty()) kv->set_public_key_pem(PemOf(v.public_key_der()));
    if (IsAead(key.type())) kv->set_encryptions(v.encryptions_reserved());
  }
  return out;
}

absl::Status Transit::CheckBatch(size_t items) const {
  if (items == 0) return absl::InvalidArgumentError("items: at least one item is required");
  if (items > limits_.max_batch_items) {
    return absl::ResourceExhaustedError(absl::StrCat("items: ", items, " exceeds the limit of ",
                                                     limits_.max_batch_items, " per request"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Transit::AeadKey(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Get(name);
  if (!key.ok()) return key.status();
  if (!IsAead((*key)->type())) return WrongType(**key, "encrypt or decrypt");
  return key;
}

absl::StatusOr<Transit::Encryption> Transit::PrepareEncryption(absl::string_view key_name,
                                                               uint32_t requested, uint64_t count) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = AeadKey(key_name);
  if (!key.ok()) return key.status();
  auto chosen = keyring_->EncryptionVersion(*std::move(key), requested, count);
  if (!chosen.ok()) return chosen.status();
  auto& [snapshot, version] = *chosen;
  absl::StatusOr<const VersionMaterial*> material = keyring_->Material(*snapshot, version);
  if (!material.ok()) return material.status();
  return Encryption{std::move(snapshot), version, *material};
}

absl::StatusOr<v1::Key> Transit::CreateKey(const v1::CreateKeyRequest& request) {
  std::optional<KeyType> type = KeyTypeOf(request.type());
  if (!type.has_value()) return absl::InvalidArgumentError("type: unknown key type");
  if (request.residency() != v1::WRAPPED && request.residency() != v1::HSM) {
    return absl::InvalidArgumentError("residency: unknown value");
  }
  CreateKeyOptions options;
  options.name = request.name();
  options.type = *type;
  options.residency = request.residency() == v1::HSM ? Residency::kHsm : Residency::kWrapped;
  options.derived = request.derived();
  options.convergent = request.convergent();
  options.auto_rotate_period = absl::Seconds(request.auto_rotate_period().seconds()) +
                               absl::Nanoseconds(request.auto_rotate_period().nanos());
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Create(options);
  if (!key.ok()) return key.status();
  return KeyToProto(**key);
}

absl::StatusOr<v1::Key> Transit::GetKey(const v1::GetKeyRequest& request) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Get(request.name());
  if (!key.ok()) return key.status();
  return KeyToProto(**key);
}

absl::StatusOr<v1::ListKeysResponse> Transit::ListKeys(const v1::ListKeysRequest& request) {
  if (request.page_size() > 1000) {
    return absl::InvalidArgumentError("page_size: at most 1000");
  }
  size_t page_size = request.page_size() == 0 ? 100 : request.page_size();
  v1::ListKeysResponse response;
  absl::StatusOr<std::vector<std::string>> names =
      keyring_->List(request.page_token(), page_size, response.mutable_next_page_token());
  if (!names.ok()) return names.status();
  for (std::string& name : *names) response.add_names(std::move(name));
  return response;
}

absl::StatusOr<v1::Key> Transit::RotateKey(const v1::RotateKeyRequest& request) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Rotate(request.name());
  if (!key.ok()) return key.status();
  return KeyToProto(**key);
}

absl::StatusOr<v1::Key> Transit::UpdateKeyConfig(const v1::UpdateKeyConfigRequest& request) {
  KeyConfigUpdate update;
  if (request.has_min_decryption_version()) {
    update.min_decryption_version = request.min_decryption_version();
  }
  if (request.has_min_encryption_version()) {
    update.min_encryption_version = request.min_encryption_version();
  }
  if (request.has_deletion_allowed()) update.deletion_allowed = request.deletion_allowed();
  if (request.has_auto_rotate_period()) {
    update.auto_rotate_period = absl::Seconds(request.auto_rotate_period().seconds()) +
                                absl::Nanoseconds(request.auto_rotate_period().nanos());
  }
  absl::StatusOr<std::shared_ptr<const TransitKey>> key =
      keyring_->UpdateConfig(request.name(), update);
  if (!key.ok()) return key.status();
  return KeyToProto(**key);
}

absl::StatusOr<v1::DeleteKeyResponse> Transit::DeleteKey(const v1::DeleteKeyRequest& request) {
  if (absl::Status s = keyring_->Delete(request.name()); !s.ok()) return s;
  return v1::DeleteKeyResponse();
}

absl::StatusOr<v1::Key> Transit::TrimKey(const v1::TrimKeyRequest& request) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key =
      keyring_->Trim(request.name(), request.min_available_version());
  if (!key.ok()) return key.status();
  return KeyToProto(**key);
}

// The AEAD contexts of one request, one per key version of a WRAPPED, non-derived key,
// each set up on first use: the items of a batch share it instead of setting the key up
// one by one.
class Transit::Ciphers {
 public:
  absl::StatusOr<crypto::AeadContext*> For(const TransitKey& key, uint32_t version,
                                           const VersionMaterial& material) {
    for (auto& [v, context] : contexts_) {
      if (v == version) return &context;
    }
    absl::StatusOr<crypto::AeadContext> created =
        crypto::AeadContext::Create(AeadOf(key.type()), material.key);
    if (!created.ok()) return created.status();
    contexts_.emplace_back(version, *std::move(created));
    return &contexts_.back().second;
  }

 private:
  std::deque<std::pair<uint32_t, crypto::AeadContext>> contexts_;  // stable addresses
};

absl::Status Transit::SealOne(const TransitKey& key, uint32_t version,
                              const VersionMaterial& material, const SealInput& in,
                              Ciphers& ciphers, std::string* out) {
  if (in.plaintext.size() > limits_.max_plaintext_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("plaintext: ", in.plaintext.size(),
                                                   " bytes exceeds the limit of ",
                                                   limits_.max_plaintext_bytes));
  }
  const bool derived = key.record().derived();
  if (derived && in.context.empty()) {
    return absl::InvalidArgumentError("context: required for a derived key");
  }
  // payload = nonce || ciphertext || tag, built in a per-thread scratch buffer (no
  // allocation per item once it has grown; wiped after use).
  thread_local std::string payload;
  payload.assign(kAeadNonceSize, '\0');
  payload.reserve(kAeadNonceSize + in.plaintext.size() + kAeadTagSize);
  absl::Cleanup wipe = [] { hsm::CleanseString(&payload); };
  uint8_t nonce[kAeadNonceSize];
  if (key.record().convergent()) {
    // Deterministic: the same plaintext and context give the same nonce (and ciphertext).
    std::string data;
    AppendLengthPrefixed(in.context, &data);
    data.append(in.plaintext.data(), in.plaintext.size());
    std::string mac;
    absl::Status s =
        crypto::HmacCompute(crypto::HashAlgorithm::kSha256, material.hmac_key, data, &mac);
    hsm::CleanseString(&data);
    if (!s.ok()) return s;
    std::memcpy(nonce, mac.data(), kAeadNonceSize);
  } else if (absl::Status s = RandomNonce(nonce); !s.ok()) {
    return s;
  }
  std::memcpy(payload.data(), nonce, kAeadNonceSize);
  absl::Span<const uint8_t> nonce_span(nonce, kAeadNonceSize);
  if (key.residency() == Residency::kHsm) {
    absl::StatusOr<std::string> ct = hsm_->AesGcmEncrypt(
        material.hsm_label, nonce_span, in.associated_data,
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(in.plaintext.data()),
                            in.plaintext.size()));
    if (!ct.ok()) return ct.status();
    payload.append(*ct);
  } else if (derived) {
    absl::StatusOr<hsm::SecretData> dk =
        crypto::HkdfSha256(material.key, "", in.context, material.key.size());
    if (!dk.ok()) return dk.status();
    std::string nonce_copy(payload);
    if (absl::Status s = crypto::AeadSeal(
            AeadOf(key.type()), dk->RevealSecret(),
            absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(nonce_copy.data()),
                                kAeadNonceSize),
            in.associated_data, in.plaintext, &payload);
        !s.ok()) {
      return s;
    }
  } else {
    absl::StatusOr<crypto::AeadContext*> cipher = ciphers.For(key, version, material);
    if (!cipher.ok()) return cipher.status();
    uint8_t nonce_copy[kAeadNonceSize];
    std::memcpy(nonce_copy, nonce, kAeadNonceSize);  // `payload` may move as it grows
    if (absl::Status s = (*cipher)->Seal(absl::MakeConstSpan(nonce_copy), in.associated_data,
                                         in.plaintext, &payload);
        !s.ok()) {
      return s;
    }
  }
  AppendEnvelope(version, payload, out);
  return absl::OkStatus();
}

absl::Status Transit::OpenOne(const TransitKey& key, absl::string_view ciphertext,
                              absl::string_view associated_data, absl::string_view context,
                              Ciphers& ciphers, std::string* out, uint32_t* version) {
  absl::StatusOr<Envelope> env = ParseEnvelope(ciphertext, "ciphertext");
  if (!env.ok()) return env.status();
  *version = env->version;
  if (absl::Status s = CheckReadVersion(key, env->version, "ciphertext"); !s.ok()) return s;
  if (env->payload.size() < kAeadNonceSize + kAeadTagSize) {
    return absl::InvalidArgumentError("ciphertext: too short");
  }
  if (key.record().derived() && context.empty()) {
    return absl::InvalidArgumentError("context: required for a derived key");
  }
  absl::StatusOr<const VersionMaterial*> material = keyring_->Material(key, env->version);
  if (!material.ok()) return material.status();
  absl::Span<const uint8_t> nonce(reinterpret_cast<const uint8_t*>(env->payload.data()),
                                  kAeadNonceSize);
  absl::string_view sealed = absl::string_view(env->payload).substr(kAeadNonceSize);
  absl::Status s;
  if (key.residency() == Residency::kHsm) {
    absl::StatusOr<hsm::SecretData> pt =
        hsm_->AesGcmDecrypt((*material)->hsm_label, nonce, associated_data, sealed);
    if (!pt.ok()) return pt.status();
    absl::string_view bytes = pt->RevealSecretAsString();
    out->append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  if (key.record().derived()) {
    absl::StatusOr<hsm::SecretData> dk =
        crypto::HkdfSha256((*material)->key, "", context, (*material)->key.size());
    if (!dk.ok()) return dk.status();
    return crypto::AeadOpen(AeadOf(key.type()), dk->RevealSecret(), nonce, associated_data, sealed,
                            out);
  }
  absl::StatusOr<crypto::AeadContext*> cipher = ciphers.For(key, env->version, **material);
  if (!cipher.ok()) return cipher.status();
  return (*cipher)->Open(nonce, associated_data, sealed, out);
}

absl::StatusOr<v1::EncryptResponse> Transit::Encrypt(const v1::EncryptRequest& request) {
  if (absl::Status s = CheckBatch(request.items_size()); !s.ok()) return s;
  absl::StatusOr<Encryption> enc =
      PrepareEncryption(request.key_name(), request.key_version(), request.items_size());
  if (!enc.ok()) return enc.status();
  const auto& [snapshot, version, material] = *enc;
  v1::EncryptResponse response;
  response.mutable_results()->Reserve(request.items_size());
  Ciphers ciphers;
  for (const v1::EncryptRequest::Item& item : request.items()) {
    v1::EncryptResponse::Result* result = response.add_results();
    result->set_reference(item.reference());
    absl::Status s = SealOne(*snapshot, version, *material,
                             {item.plaintext(), item.associated_data(), item.context()}, ciphers,
                             result->mutable_ciphertext());
    if (s.ok()) {
      result->set_key_version(version);
    } else {
      SetError(s, result->mutable_error());
    }
  }
  return response;
}

absl::StatusOr<v1::DecryptResponse> Transit::Decrypt(const v1::DecryptRequest& request) {
  if (absl::Status s = CheckBatch(request.items_size()); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = AeadKey(request.key_name());
  if (!key.ok()) return key.status();
  v1::DecryptResponse response;
  response.mutable_results()->Reserve(request.items_size());
  Ciphers ciphers;
  for (const v1::DecryptRequest::Item& item : request.items()) {
    v1::DecryptResponse::Result* result = response.add_results();
    result->set_reference(item.reference());
    uint32_t version = 0;
    absl::Status s = OpenOne(**key, item.ciphertext(), item.associated_data(), item.context(),
                             ciphers, result->mutable_plaintext(), &version);
    if (s.ok()) {
      result->set_key_version(version);
    } else {
      result->clear_plaintext();
      SetError(s, result->mutable_error());
    }
  }
  return response;
}

absl::StatusOr<v1::RewrapResponse> Transit::Rewrap(const v1::RewrapRequest& request) {
  if (absl::Status s = CheckBatch(request.items_size()); !s.ok()) return s;
  absl::StatusOr<Encryption> enc =
      PrepareEncryption(request.key_name(), request.key_version(), request.items_size());
  if (!enc.ok()) return enc.status();
  const auto& [snapshot, version, material] = *enc;
  v1::RewrapResponse response;
  Ciphers ciphers;
  std::string plaintext;  // each item's, only passing through; cleansed after each
  for (const v1::RewrapRequest::Item& item : request.items()) {
    v1::EncryptResponse::Result* result = response.add_results();
    result->set_reference(item.reference());
    uint32_t old_version = 0;
    absl::Status s = OpenOne(*snapshot, item.ciphertext(), item.associated_data(), item.context(),
                             ciphers, &plaintext, &old_version);
    if (s.ok()) {
      s = SealOne(*snapshot, version, *material,
                  {plaintext, item.associated_data(), item.context()}, ciphers,
                  result->mutable_ciphertext());
    }
    hsm::CleanseString(&plaintext);
    if (s.ok()) {
      result->set_key_version(version);
    } else {
      result->clear_ciphertext();
      SetError(s, result->mutable_error());
    }
  }
  return response;
}

absl::StatusOr<v1::GenerateDataKeyResponse> Transit::GenerateDataKey(
    const v1::GenerateDataKeyRequest& request) {
  uint32_t bits = request.bits() == 0 ? 256 : request.bits();
  if (bits != 128 && bits != 256 && bits != 512) {
    return absl::InvalidArgumentError("bits: must be 128, 256 or 512");
  }
  absl::StatusOr<Encryption> enc = PrepareEncryption(request.key_name(), request.key_version(), 1);
  if (!enc.ok()) return enc.status();
  const auto& [snapshot, version, material] = *enc;
  if (snapshot->record().derived() && request.context().empty()) {
    return absl::InvalidArgumentError("context: required for a derived key");
  }
  hsm::SecretData dek(bits / 8);
  if (RAND_priv_bytes(dek.MutableSecret().data(), dek.size()) != 1) {
    return absl::InternalError("random number generator failed");
  }
  v1::GenerateDataKeyResponse response;
  Ciphers ciphers;
  if (absl::Status s = SealOne(*snapshot, version, *material,
                               {dek.RevealSecretAsString(), "", request.context()}, ciphers,
                               response.mutable_ciphertext());
      !s.ok()) {
    return s;
  }
  response.set_key_version(version);
  if (request.include_plaintext()) response.set_plaintext(std::string(dek.RevealSecretAsString()));
  return response;
}

namespace {

struct SigningParams {
  crypto::SignOptions options;
  hsm::SignScheme hsm_scheme;
};

absl::StatusOr<SigningParams> SigningParamsFor(const TransitKey& key, v1::HashAlgorithm hash,
                                               v1::SignatureAlgorithm algorithm, bool prehashed) {
  if (!IsAsymmetric(key.type())) return WrongType(key, "sign or verify");
  absl::StatusOr<crypto::HashAlgorithm> h = HashOf(hash);
  if (!h.ok()) return h.status();
  SigningParams p;
  p.options.hash = *h;
  p.options.prehashed = prehashed;
  bool rsa = key.type() == KeyType::kRsa2048 || key.type() == KeyType::kRsa3072 ||
             key.type() == KeyType::kRsa4096;
  if (algorithm != v1::SIGNATURE_ALGORITHM_UNSPECIFIED && algorithm != v1::PSS &&
      algorithm != v1::PKCS1V15) {
    return absl::InvalidArgumentError("signature_algorithm: unknown value");
  }
  if (!rsa && algorithm != v1::SIGNATURE_ALGORITHM_UNSPECIFIED) {
    return absl::InvalidArgumentError("signature_algorithm: only RSA keys take pss or pkcs1v15");
  }
  if (key.type() == KeyType::kEd25519 && prehashed) {
    return absl::InvalidArgumentError("prehashed: Ed25519 signs the message itself");
  }
  p.options.padding =
      algorithm == v1::PKCS1V15 ? crypto::RsaPadding::kPkcs1 : crypto::RsaPadding::kPss;
  p.hsm_scheme = !rsa                        ? hsm::SignScheme::kEcdsa
                 : algorithm == v1::PKCS1V15 ? hsm::SignScheme::kRsaPkcs1
                                             : hsm::SignScheme::kRsaPss;
  return p;
}

}  // namespace

absl::StatusOr<v1::SignResponse> Transit::Sign(const v1::SignRequest& request) {
  if (request.input().size() > limits_.max_plaintext_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("input: exceeds the limit of ", limits_.max_plaintext_bytes, " bytes"));
  }
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Get(request.key_name());
  if (!key.ok()) return key.status();
  absl::StatusOr<SigningParams> params = SigningParamsFor(
      **key, request.hash_algorithm(), request.signature_algorithm(), request.prehashed());
  if (!params.ok()) return params.status();
  absl::StatusOr<uint32_t> version = WriteVersion(**key, request.key_version());
  if (!version.ok()) return version.status();
  absl::StatusOr<const VersionMaterial*> material = keyring_->Material(**key, *version);
  if (!material.ok()) return material.status();
  absl::StatusOr<std::string> sig;
  if ((*key)->residency() == Residency::kHsm) {
    std::string digest;
    if (request.prehashed()) {
      digest = request.input();
    } else if (absl::Status s = crypto::Digest(params->options.hash, request.input(), &digest);
               !s.ok()) {
      return s;
    }
    sig = hsm_->Sign((*material)->hsm_label, params->hsm_scheme, params->options.hash,
                     digest);
  } else {
    sig = (*material)->private_key->Sign(params->options, request.input());
  }
  if (!sig.ok()) return sig.status();
  v1::SignResponse response;
  response.set_signature(FormatEnvelope(*version, *sig));
  response.set_key_version(*version);
  return response;
}

absl::StatusOr<v1::VerifyResponse> Transit::Verify(const v1::VerifyRequest& request) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Get(request.key_name());
  if (!key.ok()) return key.status();
  absl::StatusOr<SigningParams> params = SigningParamsFor(
      **key, request.hash_algorithm(), request.signature_algorithm(), request.prehashed());
  if (!params.ok()) return params.status();
  absl::StatusOr<Envelope> env = ParseEnvelope(request.signature(), "signature");
  if (!env.ok()) return env.status();
  if (absl::Status s = CheckReadVersion(**key, env->version, "signature"); !s.ok()) return s;
  absl::StatusOr<const VersionMaterial*> material = keyring_->Material(**key, env->version);
  if (!material.ok()) return material.status();
  absl::StatusOr<bool> valid =
      (*material)->public_key->Verify(params->options, request.input(), env->payload);
  if (!valid.ok()) return valid.status();
  v1::VerifyResponse response;
  response.set_valid(*valid);
  return response;
}

absl::StatusOr<v1::HmacResponse> Transit::Hmac(const v1::HmacRequest& request) {
  if (request.input().size() > limits_.max_plaintext_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("input: exceeds the limit of ", limits_.max_plaintext_bytes, " bytes"));
  }
  absl::StatusOr<crypto::HashAlgorithm> hash = HashOf(request.hash_algorithm());
  if (!hash.ok()) return hash.status();
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Get(request.key_name());
  if (!key.ok()) return key.status();
  absl::StatusOr<uint32_t> version = WriteVersion(**key, request.key_version());
  if (!version.ok()) return version.status();
  absl::StatusOr<const VersionMaterial*> material = keyring_->Material(**key, *version);
  if (!material.ok()) return material.status();
  absl::StatusOr<std::string> tag = VersionHmac(**key, **material, *hash, request.input(), hsm_);
  if (!tag.ok()) return tag.status();
  v1::HmacResponse response;
  response.set_hmac(FormatEnvelope(*version, *tag));
  response.set_key_version(*version);
  return response;
}

absl::StatusOr<v1::VerifyResponse> Transit::VerifyHmac(const v1::VerifyHmacRequest& request) {
  absl::StatusOr<crypto::HashAlgorithm> hash = HashOf(request.hash_algorithm());
  if (!hash.ok()) return hash.status();
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = keyring_->Get(request.key_name());
  if (!key.ok()) return key.status();
  absl::StatusOr<Envelope> env = ParseEnvelope(request.hmac(), "hmac");
  if (!env.ok()) return env.status();
  if (absl::Status s = CheckReadVersion(**key, env->version, "hmac"); !s.ok()) return s;
  absl::StatusOr<const VersionMaterial*> material = keyring_->Material(**key, env->version);
  if (!material.ok()) return material.status();
  absl::StatusOr<std::string> tag = VersionHmac(**key, **material, *hash, request.input(), hsm_);
  if (!tag.ok()) return tag.status();
  v1::VerifyResponse response;
  response.set_valid(tag->size() == env->payload.size() &&
                     CRYPTO_memcmp(tag->data(), env->payload.data(), tag->size()) == 0);
  return response;
}

}  // namespace strongroom::kms
