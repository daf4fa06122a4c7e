// JSON string literals, written the one way the server writes them (audit lines, Vault API
// replies, HTTP errors).
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace strongroom::server {

// Appends `text` as a JSON string literal with its quotes. Control characters, '"' and
// '\\' are escaped; bytes that are not valid UTF-8 become U+FFFD, so the output is always
// valid JSON.
void AppendJsonString(absl::string_view text, std::string* out);

// Length of the valid UTF-8 sequence (RFC 3629) starting at text[i] (2 to 4), or 0 if
// there is none (a stray, overlong, surrogate or out-of-range sequence).
size_t Utf8SequenceLength(absl::string_view text, size_t i);

}  // namespace strongroom::server
