// The audit log's line format, shared by the writer (audit_log.cc) and the verifier
// (audit_verify.cc): JSON string escaping, the flat JSON object parser, the chain hash and
// the checkpoint digest. See audit_log.h for the format itself. Depends only on absl and
// OpenSSL. Internal to server/audit.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace strongroom::server::audit::internal {

using Sha256 = std::array<uint8_t, 32>;

// SHA-256 of `bytes`. A line's chain hash (the next line's "prev") is that of its bytes
// without the newline.
Sha256 Sha256Of(absl::string_view bytes);
// Appends the lowercase hex of `hash` (64 characters).
void AppendHex(const Sha256& hash, std::string* out);

// The digest a checkpoint's "sig" signs: SHA-256 over "strongroom-audit-checkpoint\0",
// `seq` as 8 bytes big-endian and `prev` (the hash of the line before the checkpoint).
// Since every line carries the hash of the one before it, the signature commits to every
// earlier line, in every earlier file of the chain.
Sha256 CheckpointDigest(uint64_t seq, const Sha256& prev);

// Appends the object member ,"<name>":<text as a JSON string>.
void AppendStringMember(absl::string_view name, absl::string_view text, std::string* out);
// Appends `time` as RFC 3339 UTC with microseconds: "2026-11-23T22:51:38.123456Z".
void AppendTime(absl::Time time, std::string* out);
// Parses what AppendTime writes.
bool ParseTime(absl::string_view text, absl::Time* time);

// One member of a line's JSON object: a string (unescaped) or an unsigned integer.
struct Field {
  std::string name;
  bool is_number = false;
  std::string text;     // when !is_number
  uint64_t number = 0;  // when is_number
};

// Parses one line written by the audit log: a single JSON object without whitespace whose
// values are strings or unsigned integers. INVALID_ARGUMENT naming what is wrong.
absl::StatusOr<std::vector<Field>> ParseLine(absl::string_view line);

}  // namespace strongroom::server::audit::internal
