// Log: the operational log — timestamped lines on stderr, one per event.
//
// Never pass a PIN, key, token or plaintext: messages are built from names, codes and
// counts only. The audit log is separate. Thread-safe.
#pragma once

#include "absl/strings/string_view.h"

namespace strongroom::server {

enum class LogLevel { kInfo, kWarning, kError };

void Log(LogLevel level, absl::string_view message);
inline void LogInfo(absl::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(absl::string_view message) { Log(LogLevel::kWarning, message); }
inline void LogError(absl::string_view message) { Log(LogLevel::kError, message); }

}  // namespace strongroom::server
