// Hsm: the operations Strongroom needs from a PKCS#11 token, by object label.
//
// Keys are token objects addressed by CKA_LABEL and created inside the token: secret and
// private keys are CKA_SENSITIVE, !CKA_EXTRACTABLE and CKA_PRIVATE, so their values never
// leave it; imported keys are unwrapped into the token (UnwrapAesKey). Every call goes through a
// SessionPool (leasing, login, reconnection after an outage). Object handles are cached per label
// and dropped when the pool reconnects. Thread-safe. Errors carry the PKCS#11 function and CKR_
// name, never key or PIN bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "hsm/hash_algorithm.h"
#include "hsm/pkcs11_module.h"
#include "hsm/secret_data.h"
#include "hsm/session_pool.h"

namespace strongroom::hsm {

struct HsmOptions {
  std::string module_path;
  std::string token_label;
  std::string pin_file;
  size_t max_sessions = 16;
  absl::Duration reconnect_interval = absl::Seconds(1);
};

struct TokenInfo {
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial_number;
  std::string library_description;
};

enum class KeyPairType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096 };

// How Sign() treats its input, which is always a digest of `hash`:
// kEcdsa -> DER ECDSA-Sig-Value; kRsaPkcs1 -> RSASSA-PKCS1-v1_5; kRsaPss -> RSASSA-PSS
// with MGF1 of the same hash and a salt as long as the digest.
enum class SignScheme { kEcdsa, kRsaPkcs1, kRsaPss };

// The hash of RSA-OAEP (and of its MGF1) in a key import (Vault's hash_function).
enum class OaepHash { kSha1, kSha224, kSha256, kSha384, kSha512 };

// Key import (BYOK) in Vault's format: wrapped = RSA-OAEP(wrapping key, 32-byte ephemeral
// AES key) || AES-KWP (RFC 5649) of the target key under the ephemeral key. Both unwraps
// run inside the token (CKM_RSA_PKCS_OAEP, then CKM_AES_KEY_WRAP_PAD, which is RFC 5649's
// KWP); the ephemeral key is a non-extractable session object destroyed after use. The
// largest wrapped input accepted:
inline constexpr size_t kMaxWrappedKeyBytes = 16384;

class Hsm {
 public:
  // Loads the module, finds the token and logs in (see SessionPool). Errors name the
  // module path or token label and say what to fix.
  static absl::StatusOr<std::unique_ptr<Hsm>> Open(const HsmOptions& options);

  // Initialises the first token-less slot of `module_path` as `label` and sets its user
  // PIN (C_InitToken, C_InitPIN). For development tokens such as SoftHSM.
  static absl::Status InitToken(const std::string& module_path, const std::string& label,
                                const SecretData& so_pin, const SecretData& user_pin);

  ~Hsm();

  const TokenInfo& token_info() const { return token_info_; }
  const std::string& module_path() const { return module_->path(); }
  FaultInjector& faults() { return module_->faults(); }
  // See Pkcs11Module::SetObserver: `observer` sees every later PKCS#11 call.
  void SetCallObserver(CallObserver* observer) { module_->SetObserver(observer); }
  // OK while the token answers; else the error that keeps it away.
  absl::Status health() const { return pool_->health(); }
  size_t sessions_in_use() const { return pool_->sessions_in_use(); }
  size_t sessions_open() const { return pool_->sessions_open(); }

  // Closes every session and logs out (seal) / logs in again (unseal).
  void Logout();
  absl::Status Login();

  // Fills `out` from the token's RNG.
  absl::Status GenerateRandom(absl::Span<uint8_t> out);

  // Creates an AES-256 key usable only for encrypt/decrypt. ALREADY_EXISTS if a secret
  // key with this label exists.
  absl::Status GenerateAesKey(const std::string& label);
  // Creates an EC or RSA key pair usable only for sign/verify. ALREADY_EXISTS if a
  // private key with this label exists.
  absl::Status GenerateKeyPair(const std::string& label, KeyPairType type);
  // Destroys every object labelled `label` (secret key, or private and public key).
  // Destroying nothing is not an error.
  absl::Status DestroyObjects(const std::string& label);
  // Creates a 512-bit generic secret usable only for HMAC (sign/verify).
  absl::Status GenerateHmacKey(const std::string& label);
  // HMAC of `data` with the generic secret `label`, inside the token.
  absl::StatusOr<std::string> Hmac(const std::string& label, HashAlgorithm hash,
                                   absl::string_view data);
  // Whether a secret (or private) key with this label exists.
  absl::StatusOr<bool> SecretKeyExists(const std::string& label);
  absl::StatusOr<bool> PrivateKeyExists(const std::string& label);

  // AES-256-GCM with a 96-bit `iv` and 128-bit tag, inside the token. Returns
  // ciphertext || tag. NOT_FOUND if the key does not exist.
  absl::StatusOr<std::string> AesGcmEncrypt(const std::string& label, absl::Span<const uint8_t> iv,
                                            absl::string_view aad,
                                            absl::Span<const uint8_t> plaintext);
  // Inverse of AesGcmEncrypt; any authentication failure is INVALID_ARGUMENT
  // "decryption failed". A device fault is UNAVAILABLE naming the CKR_ code: where the
  // module's answer could mean either (CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED), a round
  // trip of a known block under the same key decides, and the decryption is tried once
  // more if the device works.
  absl::StatusOr<SecretData> AesGcmDecrypt(const std::string& label, absl::Span<const uint8_t> iv,
                                           absl::string_view aad,
                                           absl::string_view ciphertext_and_tag);

  // Signs `digest` (the output of `hash`) with the private key `label`.
  absl::StatusOr<std::string> Sign(const std::string& label, SignScheme scheme, HashAlgorithm hash,
                                   absl::string_view digest);

  // Creates an RSA key pair (`type` must be an RSA type) whose private key can only unwrap
  // (CKA_UNWRAP, with every other use off), for receiving imported keys. ALREADY_EXISTS
  // if a private key with this label exists.
  absl::Status GenerateUnwrappingKeyPair(const std::string& label, KeyPairType type);
  // Unwraps `wrapped` (see kMaxWrappedKeyBytes above) with the private key `unwrapping_label`
  // into a new token AES-256 key `label`, usable only for encrypt/decrypt, sensitive and not
  // extractable: the target key is never in clear outside the token. INVALID_ARGUMENT
  // (naming the stage, never the bytes) if the input does not unwrap or is not a 32-byte
  // key; also if the token does not implement OAEP with `hash` (SoftHSM 2.6 has only SHA-1).
  absl::Status UnwrapAesKey(const std::string& unwrapping_label, OaepHash hash,
                            absl::string_view wrapped, const std::string& label);
  // Unwraps `wrapped` the same way, inside the token, into a session object whose value is
  // then read out and the object destroyed: for keys that are kept wrapped by the KEK
  // (the KEK wraps with AES-GCM and an AAD, which C_WrapKey cannot produce), so the target
  // key passes through this process once, in the returned SecretData.
  absl::StatusOr<SecretData> UnwrapSecret(const std::string& unwrapping_label, OaepHash hash,
                                          absl::string_view wrapped);
  // Whether the secret key `label` is sensitive and not extractable (CKA_SENSITIVE true,
  // CKA_EXTRACTABLE false, as read from the token).
  absl::StatusOr<bool> SecretKeyIsNonExtractable(const std::string& label);

  // The DER SubjectPublicKeyInfo of the key pair `label`, read from its public key object.
  absl::StatusOr<std::string> PublicKeyDer(const std::string& label);

 private:
  Hsm(std::unique_ptr<Pkcs11Module> module, std::unique_ptr<SessionPool> pool, TokenInfo info)
      : module_(std::move(module)), pool_(std::move(pool)), token_info_(std::move(info)) {}

  struct SecretKeySpec {
    CK_KEY_TYPE type;
    CK_ULONG bytes;
    CK_MECHANISM_TYPE mechanism;
    enum Usage { kEncrypt, kMac } usage;
  };
  // Creates a token secret key per `spec`; ALREADY_EXISTS if the label is taken.
  absl::Status GenerateSecretKey(const std::string& label, const SecretKeySpec& spec);
  // Finds the handle of the object of `cls` labelled `label` (cached per generation).
  absl::StatusOr<CK_OBJECT_HANDLE> Find(CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
                                        const std::string& label);
  // Runs fn(session, handle) on the object; a stale cached handle is looked up again.
  absl::Status WithObject(
      CK_OBJECT_CLASS cls, const std::string& label,
      const std::function<absl::Status(CK_SESSION_HANDLE, CK_OBJECT_HANDLE)>& fn);
  absl::StatusOr<bool> Exists(CK_OBJECT_CLASS cls, const std::string& label);
  // Generates a key pair per `pub`/`priv` templates (without label, id and key type).
  absl::Status GenerateKeyPairWith(const std::string& label, KeyPairType type,
                                   std::vector<CK_ATTRIBUTE> pub, std::vector<CK_ATTRIBUTE> priv);
  // Unwraps the ephemeral key of `wrapped` (the OAEP part) into a session AES key usable
  // only to unwrap, calls fn(session, ephemeral, kwp part) and destroys the ephemeral key.
  // With `settle`, an answer that could mean bad input or a device fault is settled by
  // UnwrapSelfCheck (which does not settle its own).
  absl::Status WithEphemeralKey(
      const std::string& unwrapping_label, OaepHash hash, absl::string_view wrapped,
      const std::function<absl::Status(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, absl::string_view)>& fn,
      bool settle = true);
  // OK if `unwrapping_label` unwraps a block wrapped right now with its public key.
  absl::Status UnwrapSelfCheck(const std::string& unwrapping_label, OaepHash hash);
  // One C_Decrypt of AES-GCM into *out, the module's answer unclassified.
  absl::Status AesGcmDecryptOnce(const std::string& label, absl::Span<const uint8_t> iv,
                                 absl::string_view aad, absl::string_view ciphertext_and_tag,
                                 SecretData* out);
  // OK if `label` encrypts and decrypts a known block correctly right now.
  absl::Status AesGcmSelfCheck(const std::string& label);

  std::unique_ptr<Pkcs11Module> module_;
  std::unique_ptr<SessionPool> pool_;
  TokenInfo token_info_;

  absl::Mutex cache_mu_;
  uint64_t cache_generation_ ABSL_GUARDED_BY(cache_mu_) = 0;
  absl::flat_hash_map<std::string, CK_OBJECT_HANDLE> handles_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace strongroom::hsm
