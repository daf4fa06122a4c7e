// YamlToProto: reads a YAML document into any protobuf message, strictly, via reflection.
//
// Contract:
// - The top level is a mapping (an empty document yields an empty message); keys are the
//   proto field names. Scalars: string/bytes verbatim, bool as true/false only, integers in
//   decimal within the field's range, floats (.inf/.nan allowed), enums by value name.
//   Messages are mappings, repeated fields sequences, map<K, V> fields mappings, and
//   google.protobuf.Duration a non-negative string such as "90s" or "1h30m".
// - A null value (`key:` or `~`) leaves the field unset. Unknown keys, duplicate keys,
//   two members of one oneof, explicit YAML tags, several documents and mistyped values are
//   errors.
// - Errors are INVALID_ARGUMENT with one line, `<source_name>:<line>: <path>: <problem>`
//   (e.g. `cfg.yaml:7: hsm.pin_fle: unknown key (known keys: ...)`), or
//   `<source_name>:<line>: YAML syntax error: <msg>`. Values are quoted in errors only for
//   non-string fields whose names do not suggest a secret, and at most 40 bytes of them.
// - On error *out is cleared. No exception escapes. Input is capped at kMaxYamlBytes, must
//   be UTF-8, and aliases may not expand it much beyond its own size.
#pragma once

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace strongroom::server {

// Largest YAML input YamlToProto accepts.
inline constexpr size_t kMaxYamlBytes = size_t{4} << 20;

// Dotted key path ("grpc.address") -> 1-based line where that key was written.
using YamlKeyLines = absl::flat_hash_map<std::string, int>;

// Clears *out and fills it from yaml_text; source_name (usually the file path) prefixes
// every error message. When key_lines is given, it receives the line of every key set, so
// that later semantic checks can name the line too.
absl::Status YamlToProto(absl::string_view yaml_text, absl::string_view source_name,
                         google::protobuf::Message* out, YamlKeyLines* key_lines = nullptr);

}  // namespace strongroom::server
