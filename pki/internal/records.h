// The CA's storage layout: the key prefixes of its records (pki/records.proto), the rule
// for issuer and role names, and paging over a prefix. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kms/storage.h"

namespace strongroom::pki::internal {

inline constexpr char kIssuerPrefix[] = "pki/issuers/";   // + name: IssuerRecord
inline constexpr char kRolePrefix[] = "pki/roles/";       // + name: RoleRecord
inline constexpr char kCertPrefix[] = "pki/certs/";       // + serial: CertificateRecord
inline constexpr char kRevokedPrefix[] = "pki/revoked/";  // + issuer/serial: CertificateRecord,
                                                          // only the fields a CRL entry needs
inline constexpr char kCrlPrefix[] = "pki/crls/";         // + issuer: CrlRecord
inline constexpr uint32_t kDefaultPageSize = 100;
inline constexpr uint32_t kMaxPageSize = 1000;

// OK if `name` is 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-';
// else INVALID_ARGUMENT naming `field` and the rule.
absl::Status ValidateName(absl::string_view field, absl::string_view name);
// NOT_FOUND "no <what> named '<name>'".
absl::Status NotFound(absl::string_view what, absl::string_view name);
// The names of the records under `prefix` (the key without it), a page of `page_size`
// (0: kDefaultPageSize; at most kMaxPageSize) after `token`; *next is the token of the next
// page, empty on the last.
absl::StatusOr<std::vector<std::string>> ListNames(kms::Storage* storage, absl::string_view prefix,
                                                   uint32_t page_size, absl::string_view token,
                                                   std::string* next);

}  // namespace strongroom::pki::internal
