// The audit commands: `strongroom audit verify FILE... [--public-key PEM]` checks audit log
// files (server/audit/audit_log.h) offline, without a server: exit 0 with a summary, or
// exit 1 naming the first failing file:line and the problem. Lines after the last
// checkpoint are not signed yet: they are a warning on stderr, not a failure. See
// system_commands.h for the pattern.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/cli/client.h"

namespace strongroom::cli {

void AddAuditCommands(CLI::App& app, const GlobalOptions& options);

}  // namespace strongroom::cli
