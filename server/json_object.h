// Untrusted JSON objects into google::protobuf::Struct, bounded before the parser runs: the
// one JSON reader for network input (Vault API bodies, JOSE headers and keys, JWT claims).
// protobuf's JSON parser takes time quadratic in the nesting of arrays, so nesting is checked
// by a linear scan first. Errors name the problem and never quote the input (it may hold
// plaintext or tokens).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace strongroom::server {

// Parses `text` as one JSON object into *out. INVALID_ARGUMENT "<what> has objects and
// arrays nested more than <max_depth> deep" or "<what> must be a JSON object in UTF-8".
absl::Status ParseJsonObject(absl::string_view text, int max_depth, absl::string_view what,
                             google::protobuf::Struct* out);

}  // namespace strongroom::server
