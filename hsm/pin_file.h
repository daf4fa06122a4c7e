// ReadPinFile: reads an HSM PIN from a file that only its owner can read.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "hsm/secret_data.h"

namespace strongroom::hsm {

// Returns the file's content without one trailing newline. Refuses, with
// PERMISSION_DENIED and a message naming the path and the fix, a file that is not a
// regular file, is a symlink, is not owned by the effective user, or grants any access
// to group or others. The PIN itself never appears in an error.
absl::StatusOr<SecretData> ReadPinFile(const std::string& path);

// Writes `pin` to a new file of mode 0600 (fails if the file exists).
absl::Status WritePinFile(const std::string& path, const SecretData& pin);

}  // namespace strongroom::hsm
