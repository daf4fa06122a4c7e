// The `strongroom.v1.Pki` commands, under `strongroom pki`: an HSM-backed certificate authority.
//
//   pki root ISSUER --common-name CN [--key-type T] [--ttl D]
//   pki intermediate ISSUER --common-name CN [--key-type T]          (prints the CSR)
//   pki intermediate sign PARENT --csr FILE|- [--ttl D] [--max-path-length N]
//   pki intermediate import ISSUER --cert FILE [--chain FILE]
//   pki issuer get ISSUER | pki issuer list
//   pki role put NAME --issuer ISSUER [--allowed-domains a,b] [--allow-subdomains]
//                [--allow-bare-domains] [--allow-glob-domains] [--allow-localhost]
//                [--allow-ip-sans] [--allowed-uri-sans p1,p2] [--server] [--client]
//                [--key-type T] [--key-bits N] [--ttl D] [--max-ttl D] [--no-store]
//   pki role get NAME | pki role list | pki role delete NAME
//   pki issue ROLE --common-name CN [--dns a,b] [--ip x,y] [--uri u] [--ttl D] [--out-dir DIR]
//   pki sign ROLE --csr FILE|- [--common-name CN] [--dns ..] [--ip ..] [--uri ..] [--ttl D]
//            [--chain]
//   pki revoke SERIAL
//   pki crl ISSUER [--der FILE]
//   pki list [--issuer ISSUER] [--all]
//
// Contracts (registration and error reporting follow system_commands.h):
// - Key types: ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096. Durations are absl
//   durations ("720h", "90m"). List flags (--dns, --allowed-domains, ...) split on commas
//   and may be repeated.
// - role put sends only what its flags say: fields whose flags are absent keep their
//   proto defaults (false, empty, unset).
// - Output: PEM (certificate, CSR, CRL) as the server sent it, each block ending in a
//   newline; issuers and roles as aligned fields; names and serials one per line. With
//   --json each command prints its reply message as JSON instead.
// - issue prints the certificate, the CA chain and then the private key. With --out-dir it
//   writes cert.pem, chain.pem (mode 0644) and key.pem (mode 0600), each created
//   exclusively (an existing file fails the command before any call is made), and prints
//   the serial number. The private key is wiped from memory after writing and never
//   appears in an error message.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/cli/client.h"

namespace strongroom::cli {

// Adds the `pki` command group to `app`; `options` must outlive parsing.
void AddPkiCommands(CLI::App& app, const GlobalOptions& options);

}  // namespace strongroom::cli
