#include "server/access/pki_rights.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace strongroom::server::access {

absl::Status PolicyCallerRights::CheckIssuer(IssuerUse use, absl::string_view issuer_name) const {
  Operation op = Operation::kPkiAdmin;
  switch (use) {
    case IssuerUse::kAdmin:
      op = Operation::kPkiAdmin;
      break;
    case IssuerUse::kIssue:
      op = Operation::kPkiIssue;
      break;
    case IssuerUse::kSign:
      op = Operation::kPkiSign;
      break;
  }
  return policies_.Check(caller_, op, absl::StrCat("pki/issuers/", issuer_name));
}

absl::Status PolicyCallerRights::CheckNames(const pki::NameRequest& names) const {
  const std::vector<std::string> held = policies_.PoliciesOf(caller_);
  if (std::find(held.begin(), held.end(), kRootPolicy) != held.end()) return absl::OkStatus();
  for (std::string& identity : IdentitiesNamed(names)) {
    Principal holder;
    holder.kind = Principal::Kind::kCertificate;
    holder.identity = std::move(identity);
    for (const std::string& policy : policies_.PoliciesOf(holder)) {
      if (std::find(held.begin(), held.end(), policy) != held.end()) continue;
      return absl::PermissionDeniedError(absl::StrCat(
          caller_.identity, " may not obtain a certificate naming ", holder.identity,
          ": that identity holds policy \"", policy, "\", which the caller does not hold"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> IdentitiesNamed(const pki::NameRequest& names) {
  std::vector<std::string> out(names.uri_sans.begin(), names.uri_sans.end());
  for (const std::string& dns : names.dns_sans) out.push_back(absl::StrCat("dns:", dns));
  if (!names.common_name.empty()) out.push_back(absl::StrCat("cn:", names.common_name));
  return out;
}

}  // namespace strongroom::server::access
