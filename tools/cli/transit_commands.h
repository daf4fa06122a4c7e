// The `strongroom.v1.Transit` commands: transit keys, encryption, signing and HMAC.
//
//   key create NAME [--type T] [--hsm] [--derived] [--convergent] [--auto-rotate D]
//   key get NAME | key rotate NAME | key delete NAME
//   key list [--page-size N] [--page-token T] [--all]
//   key config NAME [--min-decryption-version N] [--min-encryption-version N]
//                   [--deletion-allowed true|false] [--auto-rotate D]
//   key trim NAME --min-available-version N
//   encrypt KEY [--in F] [--aad S] [--context S] [--version N]
//   decrypt KEY [CIPHERTEXT] [--in F] [--aad S] [--context S] [--out F]
//   rewrap KEY CIPHERTEXT [--aad S] [--context S] [--version N]
//   datakey KEY [--bits 128|256|512] [--plaintext] [--context S] [--version N]
//   sign KEY [--in F] [--hash H] [--algorithm pss|pkcs1v15] [--prehashed] [--context S]
//            [--version N]
//   verify KEY SIGNATURE [--in F] [--hash H] [--algorithm A] [--prehashed] [--context S]
//   hmac KEY [--in F] [--hash H] [--version N]
//   verify-hmac KEY HMAC [--in F] [--hash H]
//
// Contracts (registration and error reporting follow system_commands.h):
// - Input data (plaintext, the message to sign or MAC, decrypt's ciphertext when not given
//   as an argument) is read as raw bytes from --in FILE, or from standard input when --in
//   is "-" (the default). More than 4 MiB is refused before any call is made.
// - --aad and --context are sent as the bytes of the argument. --version 0 or absent means
//   the latest key version.
// - key config sends only the settings whose flags are given; --auto-rotate takes an
//   absl duration ("24h", "90m") or 0/never to turn rotation off.
// - Output: keys as aligned fields (one "Version N" line per key version); ciphertexts,
//   signatures and HMACs as one line; decrypt writes exactly the plaintext bytes (no
//   newline) to --out FILE (created mode 0600) or standard output ("-", the default).
//   With --json each command prints its reply message as JSON instead (decrypt to --out).
// - A per-item error in an Encrypt/Decrypt/Rewrap reply fails the command with that item's
//   code and message. verify and verify-hmac print "valid" (exit 0) or "invalid" (exit 1).
// - Error messages never contain plaintext, input data or key material.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/cli/client.h"

namespace strongroom::cli {

// Adds the `key` command group and the encrypt, decrypt, rewrap, datakey, sign, verify,
// hmac and verify-hmac commands to `app`; `options` must outlive parsing.
void AddTransitCommands(CLI::App& app, const GlobalOptions& options);

}  // namespace strongroom::cli
