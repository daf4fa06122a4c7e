// The `strongroom.v1.Auth` commands: token create, lookup-self, renew-self, revoke-self,
// lookup, revoke, list, whoami (see system_commands.h for the pattern).
//
// `token create` prints the new token once (or writes it to a new 0600 --out file and
// prints only its accessor); no other command prints a token. The token a command sends
// comes from --token-file / STRONGROOM_TOKEN / STRONGROOM_TOKEN_FILE (see client.h).
#pragma once

#include <CLI/CLI.hpp>

#include "tools/cli/client.h"

namespace strongroom::cli {

void AddTokenCommands(CLI::App& app, const GlobalOptions& options);

}  // namespace strongroom::cli
