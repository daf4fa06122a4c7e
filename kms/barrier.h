// Barrier: the seal state and the KEK that wraps every key stored in Storage.
//
// Unseal() logs in to the HSM and finds the current KEK ("strongroom-kek-<n>", an
// AES-256 key that never leaves the HSM), creating KEK 1 on first use. Wrap() encrypts key
// material under the current KEK inside the HSM and adds the record to a caller's
// WriteBatch, so key metadata and material commit together. Unwrap() reads and decrypts a
// record on first use and caches the material (in SecretData) until Seal(), which drops
// and cleanses every cached key and logs out of the HSM. Records are bound by AAD to
// (name, version, type, KEK version): a record moved or swapped in storage fails to
// unwrap with DATA_LOSS. RotateKek() re-wraps every record under a new KEK in one
// transaction. Across nodes (WatchChanges): a KEK rotated by another node becomes the KEK of
// new records here, and a record deleted elsewhere leaves the cache; while the watcher
// cannot confirm freshness, Unwrap reads storage and Wrap re-reads the KEK state.
// Thread-safe; Unwrap of a cached key takes only a reader lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hsm/hsm.h"
#include "hsm/secret_data.h"
#include "kms/change_watcher.h"
#include "kms/storage.h"

namespace strongroom::kms {

// Identifies one version of one key's material.
struct KeyMaterialId {
  std::string name;  // non-empty, no '/'
  uint32_t version;  // >= 1
  std::string type;  // e.g. "aes256-gcm"; part of the binding
};

class Barrier {
 public:
  struct State {
    bool sealed;
    std::string sealed_reason;  // empty while unsealed
    uint32_t kek_version;       // 0 while sealed
  };

  // Starts sealed. `hsm` and `storage` must outlive the barrier.
  Barrier(hsm::Hsm* hsm, Storage* storage);

  // Logs in and finds (or, on an empty storage, creates) the current KEK. Idempotent.
  // UNAVAILABLE if the HSM is away; FAILED_PRECONDITION if storage names a KEK the token
  // does not have (the wrong token).
  absl::Status Unseal();
  // Drops every cached key and logs out. `reason` is reported by state().
  void Seal(absl::string_view reason);
  // Registers `listener`, called by every Seal() after the barrier's own cache is dropped,
  // so that holders of unwrapped material (the transit keyring) drop theirs too.
  void OnSeal(std::function<void()> listener);
  State state() const;
  // Lock-free read of the seal state, for the hot path.
  bool sealed() const { return sealed_flag_.load(std::memory_order_acquire); }
  // UNAVAILABLE "sealed: <reason>", for callers refusing work while sealed.
  absl::Status SealedError() const;

  // Wraps `material` under the current KEK and adds its record to `batch`
  // (kMustNotExist: versions are written once). UNAVAILABLE while sealed.
  absl::Status Wrap(const KeyMaterialId& id, const hsm::SecretData& material, WriteBatch* batch);
  // The material of `id`, from the cache or storage. NOT_FOUND if there is no record,
  // DATA_LOSS if the record does not unwrap under its binding (it was altered or moved),
  // UNAVAILABLE while sealed or when the HSM fails (a device fault is never DATA_LOSS).
  absl::StatusOr<std::shared_ptr<const hsm::SecretData>> Unwrap(const KeyMaterialId& id);
  // Adds the deletion of `id`'s record to `batch` and drops it from the cache.
  void Forget(const KeyMaterialId& id, WriteBatch* batch);

  // Creates KEK n+1 in the HSM and re-wraps every record under it, committing the records
  // and the new KEK state in one transaction (retried if a concurrent write interferes).
  // KEK n stays on the token, retired. Returns the new KEK version.
  absl::StatusOr<uint32_t> RotateKek();

  // Follows changes other nodes commit (see above). Call once, before `watcher` starts; it
  // must outlive the barrier.
  void WatchChanges(ChangeWatcher* watcher);

  // Storage key of `id`'s record.
  static std::string RecordKey(absl::string_view name, uint32_t version);
  static std::string KekLabel(uint32_t kek_version);

 private:
  absl::StatusOr<std::string> WrapRecord(const KeyMaterialId& id, const hsm::SecretData& material,
                                         uint32_t kek_version);
  absl::StatusOr<hsm::SecretData> UnwrapRecord(const KeyMaterialId& id, absl::string_view record);
  absl::Status RequireUnsealed() const;
  // Re-reads which KEK wraps new records (no-op while sealed).
  absl::Status ReloadKek();

  hsm::Hsm* const hsm_;
  Storage* const storage_;
  const ChangeWatcher* watcher_ = nullptr;

  mutable absl::Mutex mu_;
  bool sealed_ ABSL_GUARDED_BY(mu_) = true;
  std::atomic<bool> sealed_flag_{true};  // mirrors sealed_
  std::string sealed_reason_ ABSL_GUARDED_BY(mu_) = "not yet unsealed";
  uint32_t kek_version_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<const hsm::SecretData>> cache_
      ABSL_GUARDED_BY(mu_);

  absl::Mutex rotate_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one KEK rotation at a time
  absl::Mutex listeners_mu_;
  std::vector<std::function<void()>> seal_listeners_ ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace strongroom::kms
