#include "server/json_object.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace strongroom::server {
namespace {

// Whether the objects and arrays of `json` nest at most `limit` deep; brackets inside
// strings do not count. A scan, not a parse: malformed input is left to the parser.
bool NestingWithin(absl::string_view json, int limit) {
  int depth = 0;
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
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

}  // namespace

absl::Status ParseJsonObject(absl::string_view text, int max_depth, absl::string_view what,
                             google::protobuf::Struct* out) {
  if (!NestingWithin(text, max_depth)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has objects and arrays nested more than ", max_depth, " deep"));
  }
  // The parser's message quotes the text around the fault: the caller gets the problem only.
  google::protobuf::StringPiece input(text.data(), text.size());
  if (!google::protobuf::util::JsonStringToMessage(input, out).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a JSON object in UTF-8"));
  }
  return absl::OkStatus();
}

}  // namespace strongroom::server
