#include "pki/internal/records.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace strongroom::pki::internal {

absl::Status ValidateName(absl::string_view field, absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1 to 128 characters"));
  }
  if (name[0] == '.' || name[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not start with '.' or '-'"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": only letters, digits, '.', '_' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status NotFound(absl::string_view what, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no ", what, " named '", name, "'"));
}

absl::StatusOr<std::vector<std::string>> ListNames(kms::Storage* storage, absl::string_view prefix,
                                                   uint32_t page_size, absl::string_view token,
                                                   std::string* next) {
  if (page_size == 0) page_size = kDefaultPageSize;
  page_size = std::min(page_size, kMaxPageSize);
  std::string after = token.empty() ? "" : absl::StrCat(prefix, token);
  auto entries = storage->List(prefix, after, page_size + 1);
  if (!entries.ok()) return entries.status();
  std::vector<std::string> names;
  next->clear();
  for (const kms::Entry& e : *entries) {
    if (names.size() == page_size) {
      *next = names.back();
      break;
    }
    names.push_back(e.key.substr(prefix.size()));
  }
  return names;
}

}  // namespace strongroom::pki::internal
