// Vault's listings (LIST, or GET with ?list=true) for every engine: transit keys, PKI roles,
// issuers and certificates, token accessors.
//
// VisibleNames reads a listing through access::VisiblePage, so it holds only the names the
// caller may `read` (resource_prefix + name), and never more than kMaxListed of them;
// ListReply is Vault's reply to one. Thread-compatible: no state.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

inline constexpr size_t kMaxListed = 10000;

// One page of an engine's listing in name order: the names after `page_token` and, in *next,
// the token of the following page ("" at the end).
using PageFetch = std::function<absl::StatusOr<std::vector<std::string>>(
    const std::string& page_token, std::string* next)>;

// The names after `after` that `principal` may read, at most `max_names` (at most
// kMaxListed), in order; *truncated tells whether more may follow. Errors are fetch's.
absl::StatusOr<std::vector<std::string>> VisibleNames(const access::PolicySet& policies,
                                                      const access::Principal& principal,
                                                      absl::string_view resource_prefix,
                                                      const PageFetch& fetch, bool* truncated,
                                                      absl::string_view after = "",
                                                      size_t max_names = kMaxListed);

// Vault's LIST reply: data.keys (and data.key_info when given), with a warning when
// `truncated`; 404 for an empty listing, as Vault answers.
HttpResponse ListReply(const std::vector<std::string>& keys, std::optional<Json> key_info,
                       bool truncated);

// The PageFetch of a paged engine listing: `list` answers a Request (page_size,
// page_token) with a StatusOr of a Response (next_page_token), whose names `names` picks.
template <typename Request, typename List, typename Names>
PageFetch EnginePages(List list, Names names) {
  return [list = std::move(list), names = std::move(names)](
             const std::string& page_token,
             std::string* next) -> absl::StatusOr<std::vector<std::string>> {
    Request request;
    request.set_page_size(1000);
    request.set_page_token(page_token);
    auto page = list(request);
    if (!page.ok()) return page.status();
    *next = page->next_page_token();
    const auto& field = names(*page);
    return std::vector<std::string>(field.begin(), field.end());
  };
}

}  // namespace strongroom::server::vault
