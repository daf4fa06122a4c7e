#!/usr/bin/env bash
# Installs what is needed, builds, provisions a SoftHSM token under the state directory
# and runs strongroomd on its embedded defaults (SoftHSM + SQLite, gRPC on 127.0.0.1:7400).
#   State: $STRONGROOM_STATE_DIR, else $XDG_STATE_HOME/strongroom, else ~/.local/state/strongroom
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077  # the state directory holds the token and PIN files: owner only

tools/setup.sh
bazel build //server:strongroomd //tools/cli:strongroom

state="${STRONGROOM_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/strongroom}"
mkdir -p "$state/softhsm-tokens"
# SoftHSM keeps this project's token in the state directory, not in /var/lib/softhsm.
if [ ! -f "$state/softhsm2.conf" ]; then
  printf 'directories.tokendir = %s/softhsm-tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$state" > "$state/softhsm2.conf"
fi
export SOFTHSM2_CONF="$state/softhsm2.conf"
export STRONGROOM_STATE_DIR="$state"

# Creates the token and its random PINs (0600 files) on first run; a no-op afterwards.
bazel-bin/server/strongroomd init-token
# Every call needs credentials: the one-time root token of the first start (1 h), then the
# tokens or client certificates made with it (README "Access control and audit").
echo "CLI: STRONGROOM_TOKEN_FILE=$state/root-token $PWD/bazel-bin/tools/cli/strongroom status" >&2
exec bazel-bin/server/strongroomd "$@"
