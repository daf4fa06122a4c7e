// Keyring: transit keys — their configuration, versions and material — and the only
// writer of their records.
//
// Every change (create, rotate, config, trim, delete, encryption-count reservations) is one
// compare-and-set transaction on the key's record, retried on conflict, after which the
// keyring installs a new immutable TransitKey snapshot (each commit bumps the record's
// generation, and an older snapshot never replaces a newer one). Readers (the hot path) take a
// snapshot with Get(): a shard reader lock and a shared_ptr copy, never a global lock, and
// keep using it while the key rotates. Snapshots of one key share their VersionSlots, which
// hold the lazily unwrapped material and the encryption counter of each version.
//
// Material of WRAPPED keys comes from the HSM's RNG (asymmetric keys from OpenSSL after
// mixing in HSM randomness) and is stored wrapped by the barrier; HSM-resident keys are
// HSM objects. Imported keys (BYOK, Vault's import format, see hsm.h) are unwrapped inside
// the HSM with the per-token wrapping key kImportWrappingLabel: HSM-resident ones into a
// non-extractable HSM key (never in clear in this process), WRAPPED ones read once from the
// HSM and wrapped by the barrier like generated material. On seal the keyring drops every snapshot
// and its material. Encryption counts are reserved in blocks in storage before use, so a version
// never exceeds `max_encryptions_per_version` (the NIST SP 800-38D bound for random 96-bit nonces),
// even across restarts; a version that reaches it rotates the key. Blocks are taken by
// compare-and-set on the key's record, so across nodes sharing a storage they never overlap.
// Across nodes (WatchChanges): a change of a key's record by another node reloads its
// snapshot here; while the watcher cannot confirm freshness, Get reads the record from
// storage instead of trusting the snapshot. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "hsm/secret_data.h"
#include "kms/barrier.h"
#include "kms/change_watcher.h"
#include "kms/crypto/signature.h"
#include "kms/key_type.h"
#include "kms/records.pb.h"
#include "kms/storage.h"

namespace strongroom::kms {

// The usable material of one key version. WRAPPED versions carry their bytes (unwrapped
// by the barrier); HSM-resident versions carry the labels of their HSM objects: the key
// and, beside it, the version's HMAC key (`<label>-hmac`).
struct VersionMaterial {
  std::shared_ptr<const hsm::SecretData> raw;       // hmac key || key (WRAPPED)
  absl::Span<const uint8_t> hmac_key;               // the version's HMAC key (WRAPPED)
  absl::Span<const uint8_t> key;                    // AEAD/HMAC key bytes (WRAPPED symmetric)
  std::unique_ptr<crypto::PrivateKey> private_key;  // WRAPPED asymmetric
  std::unique_ptr<crypto::PublicKey> public_key;    // asymmetric
  std::string hsm_label;                            // HSM-resident
  std::string hsm_hmac_label;                       // HSM-resident
};

// The labels of the HSM objects of an HSM-resident version labelled `label`.
std::vector<std::string> HsmObjectLabels(const std::string& label);

// Per-version state shared by every snapshot of a key. Its material lives as long as the
// slot: until seal drops the snapshots and the last in-flight request lets go.
class VersionSlot {
 public:
  explicit VersionSlot(uint32_t version) : version_(version) {}
  uint32_t version() const { return version_; }

 private:
  friend class Keyring;
  const uint32_t version_;
  // This process's budget of encryptions (reserved in storage) and how much it has used.
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> reserved_{0};
  absl::Mutex reserve_mu_;                                 // one storage reservation at a time
  std::atomic<const VersionMaterial*> material_{nullptr};  // set once, by the loader
  absl::Mutex load_mu_;
  std::unique_ptr<const VersionMaterial> owned_material_ ABSL_GUARDED_BY(load_mu_);
};

// An immutable view of one key.
class TransitKey {
 public:
  const TransitKeyRecord& record() const { return record_; }
  const std::string& name() const { return record_.name(); }
  KeyType type() const { return type_; }
  Residency residency() const {
    return record_.hsm_resident() ? Residency::kHsm : Residency::kWrapped;
  }
  uint32_t latest_version() const { return record_.latest_version(); }
  // The slot of `version`, or nullptr if it is not available (trimmed or not yet created).
  std::shared_ptr<VersionSlot> slot(uint32_t version) const;
  const TransitVersionRecord* version_record(uint32_t version) const;

 private:
  friend class Keyring;
  TransitKeyRecord record_;
  KeyType type_ = KeyType::kAes256Gcm;
  std::vector<std::shared_ptr<VersionSlot>> slots_;  // index = version - min_available
};

struct KeyringOptions {
  uint64_t max_encryptions_per_version = uint64_t{1} << 32;
  // Encryptions reserved in storage at a time (at most this many are lost per version
  // when the process restarts).
  uint64_t reservation_block = uint64_t{1} << 20;
  absl::Duration min_auto_rotate_period = absl::Hours(1);
};

struct CreateKeyOptions {
  std::string name;
  KeyType type = KeyType::kAes256Gcm;
  Residency residency = Residency::kWrapped;
  bool derived = false;
  bool convergent = false;
  absl::Duration auto_rotate_period = absl::ZeroDuration();
};

// A key to import, as Vault's import endpoints receive it.
struct WrappedKeyImport {
  std::string ciphertext;  // RSA-OAEP(ephemeral AES key) || AES-KWP(target key), raw bytes
  hsm::OaepHash hash = hsm::OaepHash::kSha256;
  ~WrappedKeyImport();  // cleanses ciphertext (it is wrapped, but keep memory clean)
};

struct ImportKeyOptions {
  CreateKeyOptions key;  // convergent keys cannot be imported
  // Whether Rotate may add generated versions; auto_rotate_period requires it.
  bool allow_rotation = false;
};

// The label of the RSA-4096 key pair that receives imported keys (one per token).
inline constexpr char kImportWrappingLabel[] = "strongroom-import-wrapping";

struct KeyConfigUpdate {
  std::optional<uint32_t> min_decryption_version;
  std::optional<uint32_t> min_encryption_version;
  std::optional<bool> deletion_allowed;
  std::optional<absl::Duration> auto_rotate_period;
};

class Keyring {
 public:
  Keyring(hsm::Hsm* hsm, Storage* storage, Barrier* barrier, KeyringOptions options = {});

  // INVALID_ARGUMENT names the bad field; ALREADY_EXISTS if the name is taken.
  absl::StatusOr<std::shared_ptr<const TransitKey>> Create(const CreateKeyOptions& options);
  // The current snapshot; NOT_FOUND if there is no such key.
  absl::StatusOr<std::shared_ptr<const TransitKey>> Get(absl::string_view name);
  // Names after `page_token` (exclusive), up to page_size; *next is empty on the last page.
  absl::StatusOr<std::vector<std::string>> List(absl::string_view page_token, size_t page_size,
                                                std::string* next);
  absl::StatusOr<std::shared_ptr<const TransitKey>> Rotate(absl::string_view name);
  absl::StatusOr<std::shared_ptr<const TransitKey>> UpdateConfig(absl::string_view name,
                                                                 const KeyConfigUpdate& update);
  absl::StatusOr<std::shared_ptr<const TransitKey>> Trim(absl::string_view name,
                                                         uint32_t min_available_version);
  // FAILED_PRECONDITION unless deletion_allowed.
  absl::Status Delete(absl::string_view name);

  // The DER SubjectPublicKeyInfo of the import wrapping key, created in the HSM on first
  // use (RSA-4096, private half non-extractable and usable only to unwrap).
  absl::StatusOr<std::string> ImportWrappingKeyDer();
  // Creates a key whose version 1 is `wrapped`. ALREADY_EXISTS if the name is taken;
  // INVALID_ARGUMENT for input that does not unwrap or is not a key of the type, for
  // convergent keys, auto_rotate_period without allow_rotation, and HSM residency for types
  // other than aes256-gcm (the HSM holds imported asymmetric keys only as WRAPPED ones).
  absl::StatusOr<std::shared_ptr<const TransitKey>> Import(const ImportKeyOptions& options,
                                                           const WrappedKeyImport& wrapped);
  // Adds `wrapped` as the next version of the imported key `name`. FAILED_PRECONDITION if
  // the key was not imported.
  absl::StatusOr<std::shared_ptr<const TransitKey>> ImportVersion(absl::string_view name,
                                                                  const WrappedKeyImport& wrapped);

  // The material of `version` of `key`, unwrapped on first use; valid while `key` is
  // held. NOT_FOUND if the version is not available; UNAVAILABLE while sealed.
  absl::StatusOr<const VersionMaterial*> Material(const TransitKey& key, uint32_t version);

  // Takes `count` encryptions from `version`'s budget, reserving more in storage when
  // needed. RESOURCE_EXHAUSTED if the version would pass its limit (the caller rotates and
  // retries with the new version, see EncryptionVersion).
  absl::Status CountEncryptions(const TransitKey& key, uint32_t version, uint64_t count);
  // Picks the version for `count` encryptions: `requested` (0 = latest) after checking
  // min_encryption_version, counting them; rotates the key first if the latest version is
  // spent. Returns the snapshot used (possibly newer than `key`) and the version.
  absl::StatusOr<std::pair<std::shared_ptr<const TransitKey>, uint32_t>> EncryptionVersion(
      std::shared_ptr<const TransitKey> key, uint32_t requested, uint64_t count);

  // Rotates every key whose auto_rotate_period has passed since its latest version was
  // created, each write requiring `lease` (the background lease this job runs by). Returns
  // how many keys rotated; FAILED_PRECONDITION, and no further rotation, once the lease no
  // longer holds.
  absl::StatusOr<int> RotateDueKeys(absl::Time now, const LeaseFence& lease);

  // Drops every snapshot and its material (called on seal).
  void Clear();

  // Keeps the snapshots current with changes other nodes commit (see above). Call once,
  // before `watcher` starts; it must outlive the keyring.
  void WatchChanges(ChangeWatcher* watcher);

  // The snapshots currently loaded (keys used since the last unseal), in no particular
  // order. Read-only, for metrics; takes each shard's reader lock in turn.
  std::vector<std::shared_ptr<const TransitKey>> Snapshots() const;
  const KeyringOptions& options() const { return options_; }

 private:
  using Mutation = std::function<absl::Status(TransitKeyRecord*, WriteBatch*)>;
  // Reads the record, applies `mutate`, commits with CAS (retrying on conflict) and
  // installs the new snapshot.
  absl::StatusOr<std::shared_ptr<const TransitKey>> Mutate(absl::string_view name,
                                                           const Mutation& mutate);
  absl::StatusOr<std::shared_ptr<const TransitKey>> Load(absl::string_view name);
  // Reloads a loaded snapshot of `name` from storage (drops it if it is gone or fails to load).
  absl::Status Refresh(absl::string_view name);
  // Adds a version to `name` (the one rotate path): with `from_latest`, only while the
  // latest version is still that one, else CANCELLED. HSM objects made by attempts that
  // did not commit are destroyed; those of the committed version are kept.
  // With `imported`, the new version is that key (import_version) instead of a new one.
  // With `lease`, the write requires it (WriteBatch::RequireLease).
  absl::StatusOr<std::shared_ptr<const TransitKey>> RotateFrom(
      absl::string_view name, std::optional<uint32_t> from_latest,
      const WrappedKeyImport* imported = nullptr, const LeaseFence* lease = nullptr);
  // Create and Import: version 1 is generated, or `imported`.
  absl::StatusOr<std::shared_ptr<const TransitKey>> CreateWith(const CreateKeyOptions& options,
                                                               const WrappedKeyImport* imported,
                                                               bool allow_rotation);
  std::shared_ptr<const TransitKey> Install(TransitKeyRecord record);
  // Makes version `version` of a key: material wrapped into `batch`, HSM objects created.
  // HSM objects it creates are added to *hsm_labels (to destroy if the commit fails). With
  // `imported`, the version's key is that one, unwrapped in the HSM.
  absl::StatusOr<TransitVersionRecord> NewVersion(const TransitKeyRecord& key, uint32_t version,
                                                  WriteBatch* batch,
                                                  std::vector<std::string>* hsm_labels,
                                                  const WrappedKeyImport* imported = nullptr);
  absl::StatusOr<std::unique_ptr<const VersionMaterial>> LoadMaterial(const TransitKey& key,
                                                                      uint32_t version);
  // INVALID_ARGUMENT unless `period` is 0 (never) or at least min_auto_rotate_period.
  absl::Status CheckAutoRotatePeriod(absl::Duration period) const;
  // Best-effort destruction of HSM objects no committed record refers to.
  void DestroyHsmObjects(const std::vector<std::string>& labels);

  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<const TransitKey>> keys ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(absl::string_view name);

  hsm::Hsm* const hsm_;
  Storage* const storage_;
  Barrier* const barrier_;
  const KeyringOptions options_;
  const ChangeWatcher* watcher_ = nullptr;
  // One creation of the import wrapping key at a time (two would share a label).
  absl::Mutex wrapping_key_mu_;
  static constexpr size_t kShards = 32;
  Shard shards_[kShards];
};

// Checks a key name: 1-128 characters of [A-Za-z0-9._-], not starting with '.' or '-'.
absl::Status ValidateKeyName(absl::string_view name);

}  // namespace strongroom::kms
