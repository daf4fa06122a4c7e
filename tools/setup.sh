#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Strongroom need. Idempotent:
# apt-get runs only when something is missing. Nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap bazel-platforms g++ libc6-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libssl-dev libabsl-dev libsqlite3-dev libyaml-cpp-dev libcli11-dev
  libp11-kit-dev googletest libgtest-dev libgmock-dev libcpp-httplib-dev
  # the HSM for development and tests, and outside tools that inspect it
  softhsm2 opensc gnutls-bin openssl
  # metrics: promtool checks the exposition, a real Prometheus scrapes it in tests
  prometheus curl
  # an independent gRPC client for end-to-end tests
  python3 python3-grpcio
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
