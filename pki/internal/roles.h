// Roles: the CA's role records ("pki/roles/<name>"), each bound to an issuer.
//
// Writing a role needs the caller's kAdmin rights on the issuer it names and, if the role
// exists, on the issuer it is bound to as stored; the write commits only if the role is
// still as checked (else ABORTED). Get serves issuance from a cache (epoch_cache.h) whose
// epoch each role write here, and each one the change feed reports, advances. Errors as
// pki/ca.h states them (the caller checks the barrier first). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kms/change_watcher.h"
#include "kms/storage.h"
#include "pki/caller_rights.h"
#include "pki/internal/epoch_cache.h"
#include "pki/internal/issuers.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki::internal {

class Roles {
 public:
  static constexpr size_t kMaxCached = 4096;

  // Neither pointer is owned; both outlive this object.
  Roles(kms::Storage* storage, Issuers* issuers) : storage_(storage), issuers_(issuers) {}

  // Stores `role` after validating it (name, issuer exists, ttl <= max_ttl, key type/bits).
  absl::StatusOr<v1::Role> Put(const v1::Role& role, const CallerRights& rights);
  absl::StatusOr<v1::ListRolesResponse> List(const v1::ListRolesRequest& request);
  absl::StatusOr<v1::DeleteRoleResponse> Delete(const v1::DeleteRoleRequest& request,
                                                const CallerRights& rights);
  // The stored role (and its storage revision, if `revision` is not null); NOT_FOUND (also
  // for a malformed name).
  absl::StatusOr<v1::Role> Load(absl::string_view name, int64_t* revision = nullptr);
  // The role as Load gives it, from the cache while no role change has been seen since.
  absl::StatusOr<std::shared_ptr<const v1::Role>> Get(absl::string_view name);
  // Drops cached roles when `watcher` reports a role change (or re-checks everything), and
  // reads storage while it is not fresh. Call once, before `watcher` starts.
  void WatchChanges(kms::ChangeWatcher* watcher);
  size_t cached() const { return cache_.size(); }

 private:
  void Changed() { epoch_.fetch_add(1, std::memory_order_release); }

  kms::Storage* const storage_;
  Issuers* const issuers_;
  std::atomic<uint64_t> epoch_{0};
  EpochCache<std::shared_ptr<const v1::Role>> cache_{&epoch_, kMaxCached};
};

}  // namespace strongroom::pki::internal
