// Transit: the operations of strongroom.v1.Transit, over the keyring, the software
// primitives (WRAPPED keys) and the HSM (HSM-resident keys).
//
// Methods take and return the API messages so the gRPC service is a thin adapter.
// Request-level problems (unknown key, wrong key type, too many items, sealed) fail the
// call; per-item problems (malformed ciphertext, missing context, version below
// min_decryption_version, authentication failure) become that item's error, and a failed
// authentication says only "decryption failed". Plaintext is never put in an error or a
// log. Batches take one keyring lookup and one encryption-count reservation per call.
// Thread-safe; no lock is held while items are processed.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "hsm/hsm.h"
#include "kms/keyring.h"
#include "strongroom/v1/transit.pb.h"

namespace strongroom::kms {

struct TransitLimits {
  size_t max_batch_items = 10000;
  size_t max_plaintext_bytes = size_t{1} << 20;  // also the limit for sign/hmac input
};

class Transit {
 public:
  Transit(Keyring* keyring, hsm::Hsm* hsm, TransitLimits limits = {})
      : keyring_(keyring), hsm_(hsm), limits_(limits) {}

  absl::StatusOr<v1::Key> CreateKey(const v1::CreateKeyRequest& request);
  absl::StatusOr<v1::Key> GetKey(const v1::GetKeyRequest& request);
  absl::StatusOr<v1::ListKeysResponse> ListKeys(const v1::ListKeysRequest& request);
  absl::StatusOr<v1::Key> RotateKey(const v1::RotateKeyRequest& request);
  absl::StatusOr<v1::Key> UpdateKeyConfig(const v1::UpdateKeyConfigRequest& request);
  absl::StatusOr<v1::DeleteKeyResponse> DeleteKey(const v1::DeleteKeyRequest& request);
  absl::StatusOr<v1::Key> TrimKey(const v1::TrimKeyRequest& request);
  absl::StatusOr<v1::EncryptResponse> Encrypt(const v1::EncryptRequest& request);
  absl::StatusOr<v1::DecryptResponse> Decrypt(const v1::DecryptRequest& request);
  absl::StatusOr<v1::RewrapResponse> Rewrap(const v1::RewrapRequest& request);
  absl::StatusOr<v1::GenerateDataKeyResponse> GenerateDataKey(
      const v1::GenerateDataKeyRequest& request);
  absl::StatusOr<v1::SignResponse> Sign(const v1::SignRequest& request);
  absl::StatusOr<v1::VerifyResponse> Verify(const v1::VerifyRequest& request);
  absl::StatusOr<v1::HmacResponse> Hmac(const v1::HmacRequest& request);
  absl::StatusOr<v1::VerifyResponse> VerifyHmac(const v1::VerifyHmacRequest& request);

 private:
  struct SealInput {
    absl::string_view plaintext;
    absl::string_view associated_data;
    absl::string_view context;
  };
  class Ciphers;  // one request's AEAD contexts, by key version (transit.cc)
  // Encrypts one item with `version` of `key`, appending the envelope to *out.
  absl::Status SealOne(const TransitKey& key, uint32_t version, const VersionMaterial& material,
                       const SealInput& in, Ciphers& ciphers, std::string* out);
  // Decrypts one envelope, appending the plaintext to *out; sets *version.
  absl::Status OpenOne(const TransitKey& key, absl::string_view ciphertext,
                       absl::string_view associated_data, absl::string_view context,
                       Ciphers& ciphers, std::string* out, uint32_t* version);
  absl::StatusOr<std::shared_ptr<const TransitKey>> AeadKey(absl::string_view name);
  // What an encrypting call works with: the snapshot and version chosen for `count`
  // encryptions (counted), and that version's material.
  struct Encryption {
    std::shared_ptr<const TransitKey> key;
    uint32_t version;
    const VersionMaterial* material;  // valid while `key` is held
  };
  absl::StatusOr<Encryption> PrepareEncryption(absl::string_view key_name, uint32_t requested,
                                               uint64_t count);
  absl::Status CheckBatch(size_t items) const;

  Keyring* const keyring_;
  hsm::Hsm* const hsm_;
  const TransitLimits limits_;
};

// The API form of a key snapshot (versions with public keys in PEM for asymmetric types).
v1::Key KeyToProto(const TransitKey& key);

}  // namespace strongroom::kms
