#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Strongroom need. Idempotent:
# apt-get runs only when something is missing; npm ci installs the pinned node-vault test
# client from the npm registry only when tests/node/node_modules is missing or outdated.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap bazel-platforms g++ libc6-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libssl-dev libabsl-dev libsqlite3-dev libyaml-cpp-dev libcli11-dev
  libp11-kit-dev googletest libgtest-dev libgmock-dev
  libboost1.81-dev libpq-dev
  # the cluster's database: tests start their own throwaway PostgreSQL clusters
  postgresql-15
  # automatic failover for it (tools/patroni_failover.sh, README "Running a cluster")
  patroni etcd-server etcd-client
  # the HSM for development and tests, and outside tools that inspect it
  softhsm2 opensc gnutls-bin openssl
  # metrics: promtool checks the exposition, a real Prometheus scrapes it in tests
  prometheus curl
  # an independent gRPC client for end-to-end tests
  python3 python3-grpcio
  # outside Vault client and peers the benchmarks compare against
  python3-hvac nginx-light wrk golang-cfssl
  # outside ACME clients for the ACME end-to-end tests, and a raw JWS signer
  certbot lego python3-jwcrypto
  # fuzzing (tools/fuzz.sh): clang with libFuzzer, the sanitizer runtimes and lld
  clang-14 libfuzzer-14-dev libclang-rt-14-dev lld-14
)

# Node.js runs node-vault, the independent Vault client of tests/node. Debian's nodejs and
# npm are installed only when there is no `node` at all (a newer one may already be here).
if ! command -v node >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "setup: installing ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The node-vault test client, exactly as pinned in tests/node/package-lock.json (from the npm
# registry). `npm ci` runs only when node_modules is missing or older than the lock file.
node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/node"
stamp="$node_dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$node_dir/package-lock.json" -nt "$stamp" ]; then
  echo "setup: npm ci in $node_dir" >&2
  npm ci --prefix "$node_dir" --no-audit --no-fund >/dev/null
fi
