// DefaultStateDir: where strongroomd keeps its state when the config does not say, and
// where the CLI looks for the server's self-signed certificate. Shared by both.
#pragma once

#include <string>

namespace strongroom::server {

// $STRONGROOM_STATE_DIR, else $XDG_STATE_HOME/strongroom (if absolute), else
// $HOME/.local/state/strongroom, else /var/lib/strongroom.
std::string DefaultStateDir();

}  // namespace strongroom::server
