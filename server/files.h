// Small file helpers for the server: folders, new private files, atomic replacement.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace strongroom::server {

// Creates `path` and its missing parents with mode 0700 (existing folders are left as
// they are).
absl::Status MakeDirs(const std::string& path);

// The folder part of `path` ("/" for "/x").
std::string Parent(const std::string& path);

// Writes a new file with `mode`, fsynced; ALREADY_EXISTS if it exists (never follows
// symlinks).
absl::Status WriteNewFile(const std::string& path, absl::string_view content, int mode);

// Replaces `path` atomically (write to a temporary file, fsync, rename).
absl::Status ReplaceFile(const std::string& path, absl::string_view content, int mode);

}  // namespace strongroom::server
