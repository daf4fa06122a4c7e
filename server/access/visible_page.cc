#include "server/access/visible_page.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace strongroom::server::access {

absl::StatusOr<std::vector<std::string>> VisiblePage(
    const PolicySet& policies, const Principal& principal, absl::string_view resource_prefix,
    uint32_t page_size, absl::string_view page_token,
    absl::FunctionRef<absl::StatusOr<std::vector<std::string>>(const std::string& page_token,
                                                               std::string* next)>
        fetch,
    std::string* next) {
  const size_t wanted = page_size == 0 ? 100 : std::min<uint32_t>(page_size, 1000);
  next->clear();
  std::vector<std::string> visible;
  std::string token(page_token);
  for (int pages = 0; pages < kMaxScannedPages; ++pages) {
    std::string engine_next;
    absl::StatusOr<std::vector<std::string>> names = fetch(token, &engine_next);
    if (!names.ok()) return names.status();
    for (size_t i = 0; i < names->size(); ++i) {
      std::string& name = (*names)[i];
      if (!policies.Check(principal, Operation::kRead, absl::StrCat(resource_prefix, name)).ok()) {
        continue;
      }
      visible.push_back(std::move(name));
      if (visible.size() == wanted) {
        // More may follow unless this was the listing's last name.
        if (i + 1 < names->size() || !engine_next.empty()) *next = visible.back();
        return visible;
      }
    }
    if (engine_next.empty()) return visible;
    token = std::move(engine_next);
  }
  *next = std::move(token);  // the last name looked at
  return visible;
}

}  // namespace strongroom::server::access
