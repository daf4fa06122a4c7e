// Untrusted JSON objects into google::protobuf::Struct, bounded before the parser runs: the
// one JSON reader for network input (Vault API bodies, JOSE headers and keys, JWT claims).
// protobuf's JSON parser takes time quadratic in the nesting of arrays, and builds a map entry
// or list value for every item, so nesting and the items of each array or object are counted by
// a linear scan first. Errors name the problem and never quote the input (it may hold
// plaintext or tokens).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace strongroom::server {

struct JsonBounds {
  int max_depth;     // objects and arrays nested in each other
  size_t max_items;  // items of any one array, members of any one object
};

// Parses `text` as one JSON object into *out. INVALID_ARGUMENT "<what> has objects and
// arrays nested more than <max_depth> deep", "<what> has an array or object of more than
// <max_items> items" or "<what> must be a JSON object in UTF-8".
absl::Status ParseJsonObject(absl::string_view text, JsonBounds bounds, absl::string_view what,
                             google::protobuf::Struct* out);

}  // namespace strongroom::server
