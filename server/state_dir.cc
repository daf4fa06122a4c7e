#include "server/state_dir.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace strongroom::server {

std::string DefaultStateDir() {
  if (const char* v = getenv("STRONGROOM_STATE_DIR"); v != nullptr && *v != '\0') return v;
  if (const char* v = getenv("XDG_STATE_HOME"); v != nullptr && *v == '/') {
    return absl::StrCat(v, "/strongroom");
  }
  if (const char* home = getenv("HOME"); home != nullptr && *home != '\0') {
    return absl::StrCat(home, "/.local/state/strongroom");
  }
  return "/var/lib/strongroom";
}

}  // namespace strongroom::server
