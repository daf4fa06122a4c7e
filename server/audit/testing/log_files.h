// Helpers for the audit log tests: fresh folders, sample events, and reading and rewriting
// log files line by line. Test-only; failures abort the test with a gtest failure.
#pragma once

#include <string>
#include <vector>

#include "server/audit/audit_log.h"

namespace strongroom::server::audit::testing {

// A new empty folder `name` under $TEST_TMPDIR (an existing one is emptied).
std::string FreshDir(const std::string& name);
// A plausible request event; `i` varies its request id and resource.
AuditEvent SampleEvent(int i);
// The file's lines without their newlines (a partial last line included as it is).
std::vector<std::string> ReadLines(const std::string& path);
// Writes `lines`, each followed by a newline.
void WriteLines(const std::string& path, const std::vector<std::string>& lines);
// The log's files oldest first: the rotated files beside `path` by first seq, then `path`.
std::vector<std::string> LogFiles(const std::string& path);

}  // namespace strongroom::server::audit::testing
