// AllRights: a CallerRights that allows everything, for tests of pki::Ca's own behaviour
// (what a caller may do is the server's policy, tested in server/access). Test-only.
#pragma once

#include "pki/caller_rights.h"

namespace strongroom::pki::testing {

class AllRights final : public CallerRights {
 public:
  absl::Status CheckIssuer(IssuerUse, absl::string_view) const override { return absl::OkStatus(); }
  absl::Status CheckNames(const NameRequest&) const override { return absl::OkStatus(); }
};

}  // namespace strongroom::pki::testing
