#include "pki/internal/roles.h"

#include "absl/strings/str_cat.h"
#include "pki/internal/encoding.h"
#include "pki/internal/issuer_keys.h"
#include "pki/internal/records.h"
#include "pki/records.pb.h"
#include "pki/role_policy.h"

namespace strongroom::pki::internal {
namespace {

// The outcome of a role write that was checked against the role as loaded: ABORTED (the
// compare-and-set lost) means the role changed after the check.
absl::Status RoleChanged(absl::string_view name, absl::Status status) {
  if (!absl::IsAborted(status)) return status;
  return absl::AbortedError(absl::StrCat("role '", name, "' changed meanwhile; try again"));
}

}  // namespace

absl::StatusOr<v1::Role> Roles::Put(const v1::Role& role, const CallerRights& rights) {
  if (absl::Status s = ValidateName("name", role.name()); !s.ok()) return s;
  if (role.issuer_name().empty()) return absl::InvalidArgumentError("issuer_name: required");
  // Rights on the issuer the role will be bound to, and on the one it is bound to now (a
  // role bound to an issuer is part of what that issuer signs): checked before anything is
  // said about either issuer, and the write commits only over the role as checked.
  if (absl::Status s = rights.CheckIssuer(CallerRights::IssuerUse::kAdmin, role.issuer_name());
      !s.ok()) {
    return s;
  }
  int64_t revision = kms::WriteBatch::kMustNotExist;
  auto stored = Load(role.name(), &revision);
  if (stored.ok()) {
    if (absl::Status s = rights.CheckIssuer(CallerRights::IssuerUse::kAdmin, stored->issuer_name());
        !s.ok()) {
      return s;
    }
  } else if (!absl::IsNotFound(stored.status())) {
    return stored.status();
  }
  auto issuer = issuers_->LoadRecord(role.issuer_name());
  if (absl::IsNotFound(issuer.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuer_name: no issuer named '", role.issuer_name(), "'"));
  }
  if (!issuer.ok()) return issuer.status();
  if (auto type = HsmKeyType(role.key_type()); !type.ok()) return type.status();
  if (role.key_bits() != 0 && (role.key_bits() < kMinimumRsaBits || role.key_bits() > 8192)) {
    return absl::InvalidArgumentError("key_bits: must be 0 (2048) or between 2048 and 8192");
  }
  absl::Duration ttl = FromProto(role.ttl()), max_ttl = FromProto(role.max_ttl());
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("ttl: must not be negative");
  if (max_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_ttl: must not be negative");
  }
  if (max_ttl > absl::ZeroDuration() && ttl > max_ttl) {
    return absl::InvalidArgumentError("ttl: must not exceed max_ttl");
  }
  for (const std::string& d : role.allowed_domains()) {
    if (d.empty()) return absl::InvalidArgumentError("allowed_domains: empty entry");
  }
  RoleRecord record;
  record.set_role(role.SerializeAsString());
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kRolePrefix, role.name()), record.SerializeAsString(), revision);
  absl::Status committed = storage_->Commit(batch);
  Changed();  // also after a failed commit, whose outcome may be unknown
  if (!committed.ok()) return RoleChanged(role.name(), committed);
  return role;
}

absl::StatusOr<v1::Role> Roles::Load(absl::string_view name, int64_t* revision) {
  if (!ValidateName("role", name).ok()) return NotFound("role", name);
  auto entry = storage_->Get(absl::StrCat(kRolePrefix, name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound("role", name);
  if (revision != nullptr) *revision = (*entry)->revision;
  RoleRecord record;
  v1::Role role;
  if (!record.ParseFromString((*entry)->value) || !role.ParseFromString(record.role()) ||
      role.name() != name) {
    return absl::DataLossError(absl::StrCat("stored record of role '", name, "' is corrupt"));
  }
  return role;
}

absl::StatusOr<std::shared_ptr<const v1::Role>> Roles::Get(absl::string_view name) {
  return cache_.Get(name, [&]() -> absl::StatusOr<std::shared_ptr<const v1::Role>> {
    auto role = Load(name);
    if (!role.ok()) return role.status();
    return std::make_shared<const v1::Role>(*std::move(role));
  });
}

void Roles::WatchChanges(kms::ChangeWatcher* watcher) {
  cache_.Watch(watcher);
  watcher->Subscribe(
      kRolePrefix, [this](const kms::Change&) { Changed(); },
      [this] {
        Changed();
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ListRolesResponse> Roles::List(const v1::ListRolesRequest& request) {
  v1::ListRolesResponse response;
  auto names = ListNames(storage_, kRolePrefix, request.page_size(), request.page_token(),
                         response.mutable_next_page_token());
  if (!names.ok()) return names.status();
  for (std::string& n : *names) response.add_names(std::move(n));
  return response;
}

absl::StatusOr<v1::DeleteRoleResponse> Roles::Delete(const v1::DeleteRoleRequest& request,
                                                     const CallerRights& rights) {
  int64_t revision = 0;
  auto role = Load(request.name(), &revision);
  if (!role.ok()) return role.status();
  if (absl::Status s = rights.CheckIssuer(CallerRights::IssuerUse::kAdmin, role->issuer_name());
      !s.ok()) {
    return s;
  }
  kms::WriteBatch batch;
  batch.Delete(absl::StrCat(kRolePrefix, request.name()), revision);
  absl::Status committed = storage_->Commit(batch);
  Changed();
  if (!committed.ok()) return RoleChanged(request.name(), committed);
  return v1::DeleteRoleResponse();
}

}  // namespace strongroom::pki::internal
