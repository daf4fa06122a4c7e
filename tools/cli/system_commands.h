// The `strongroom.v1.System` commands: status, seal, unseal, rotate-root-key.
//
// Subcommand groups follow one pattern: tools/cli/<group>_commands.{h,cc} exports
//   void Add<Group>Commands(CLI::App& app, const GlobalOptions& options);
// which main() calls once before parsing. It adds subcommands to `app` whose callbacks
// run after parsing, when `options` holds the final flags with environment defaults
// applied, and which must outlive parsing. A callback prints its reply to stdout and
// reports a failure by throwing CLI::RuntimeError(<one-line message>, 1); main() prints
// "strongroom: <message>" to stderr and exits 1.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/cli/client.h"

namespace strongroom::cli {

void AddSystemCommands(CLI::App& app, const GlobalOptions& options);

}  // namespace strongroom::cli
