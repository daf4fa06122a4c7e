#include "server/json_object.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace strongroom::server {
namespace {

// Whether the objects and arrays of `json` nest at most `bounds.max_depth` deep and each
// holds at most `bounds.max_items` items (counted by its own commas; brackets and commas inside
// strings do not count). A scan, not a parse: malformed input is left to the parser.
absl::Status CheckBounds(absl::string_view json, JsonBounds bounds, absl::string_view what) {
  // Commas seen so far in each open container; the outermost is commas[0].
  std::vector<size_t> commas;
  commas.reserve(static_cast<size_t>(std::max(bounds.max_depth, 0)) + 1);
  bool in_string = false, escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (commas.size() >= static_cast<size_t>(bounds.max_depth)) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " has objects and arrays nested more than ", bounds.max_depth, " deep"));
      }
      commas.push_back(0);
    } else if (c == '}' || c == ']') {
      if (!commas.empty()) commas.pop_back();
    } else if (c == ',' && !commas.empty() && ++commas.back() >= bounds.max_items) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has an array or object of more than ", bounds.max_items, " items"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseJsonObject(absl::string_view text, JsonBounds bounds, absl::string_view what,
                             google::protobuf::Struct* out) {
  if (absl::Status s = CheckBounds(text, bounds, what); !s.ok()) return s;
  // The parser's message quotes the text around the fault: the caller gets the problem only.
  google::protobuf::StringPiece input(text.data(), text.size());
  if (!google::protobuf::util::JsonStringToMessage(input, out).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a JSON object in UTF-8"));
  }
  return absl::OkStatus();
}

}  // namespace strongroom::server
