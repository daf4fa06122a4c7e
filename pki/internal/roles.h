// Roles: the CA's role records ("pki/roles/<name>"), each bound to an issuer.
//
// Writing a role needs the caller's kAdmin rights on the issuer it names and, if the role
// exists, on the issuer it is bound to as stored; the write commits only if the role is
// still as checked (else ABORTED). Errors as pki/ca.h states them (the caller checks the
// barrier first). Thread-safe.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "kms/storage.h"
#include "pki/caller_rights.h"
#include "pki/internal/issuers.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki::internal {

class Roles {
 public:
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

 private:
  kms::Storage* const storage_;
  Issuers* const issuers_;
};

}  // namespace strongroom::pki::internal
