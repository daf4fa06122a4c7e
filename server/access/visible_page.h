// VisiblePage: one page of a name listing, keeping only the names the caller may read.
//
// Listings (ListKeys, ListRoles, ListIssuers, ListCertificates) need `read` on the
// collection ("transit/keys") to run at all, and show an entry only to a caller allowed
// `read` on its own resource (`resource_prefix` + name, e.g. "transit/keys/payments").
//
// `fetch(page_token, &next)` returns one page of the engine's listing in name order and sets
// `next` to the token of the following page ("" at the end); a page token is the name the
// next page starts after. VisiblePage returns at most `page_size` (0: 100, above 1000: 1000)
// readable names starting after `page_token`, reading at most kMaxScannedPages engine pages,
// and sets `next` to the name to continue after, or "" once the listing is exhausted. A
// client that follows next_page_token until it is empty sees every readable name once; a
// page may hold fewer names than asked for, even none, before the end. Errors are fetch's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/access/policy.h"
#include "server/access/principal.h"

namespace strongroom::server::access {

inline constexpr int kMaxScannedPages = 10;

absl::StatusOr<std::vector<std::string>> VisiblePage(
    const PolicySet& policies, const Principal& principal, absl::string_view resource_prefix,
    uint32_t page_size, absl::string_view page_token,
    absl::FunctionRef<absl::StatusOr<std::vector<std::string>>(const std::string& page_token,
                                                               std::string* next)>
        fetch,
    std::string* next);

}  // namespace strongroom::server::access
