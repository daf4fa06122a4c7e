#include "server/http/vault/listing.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/access/visible_page.h"

namespace strongroom::server::vault {

absl::StatusOr<std::vector<std::string>> VisibleNames(const access::PolicySet& policies,
                                                      const access::Principal& principal,
                                                      absl::string_view resource_prefix,
                                                      const PageFetch& fetch, bool* truncated,
                                                      absl::string_view after, size_t max_names) {
  max_names = std::min(max_names, kMaxListed);
  std::vector<std::string> names;
  std::string token(after);
  do {
    std::string next;
    const size_t want = std::min<size_t>(1000, max_names - names.size());
    absl::StatusOr<std::vector<std::string>> page = access::VisiblePage(
        policies, principal, resource_prefix, static_cast<uint32_t>(want), token,
        [&fetch](const std::string& page_token, std::string* more) {
          return fetch(page_token, more);
        },
        &next);
    if (!page.ok()) return page.status();
    for (std::string& name : *page) names.push_back(std::move(name));
    token = std::move(next);
  } while (!token.empty() && names.size() < max_names);
  *truncated = !token.empty();
  return names;
}

HttpResponse ListReply(const std::vector<std::string>& keys, std::optional<Json> key_info,
                       bool truncated) {
  if (keys.empty()) return NotFound();
  Json data = Json::Object().Set("keys", Json::Strings(keys));
  if (key_info.has_value()) data.Set("key_info", *std::move(key_info));
  std::vector<std::string> warnings;
  if (truncated) {
    warnings.push_back(absl::StrCat("only the first ", kMaxListed,
                                    " entries are listed; the gRPC API pages through all"));
  }
  return Envelope(200, std::move(data), Json(), warnings);
}

}  // namespace strongroom::server::vault
