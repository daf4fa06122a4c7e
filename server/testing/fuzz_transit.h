// FuzzTransit: the real transit engine for fuzz targets (SoftHSM2 token and SQLite storage
// under $TEST_TMPDIR, or /tmp), built on first use and kept for the process. Its keys:
//   "aes"     AES-256-GCM, wrapped
//   "derived" AES-256-GCM, wrapped, derived and convergent (needs a context)
//   "hsm"     AES-256-GCM, resident in the HSM
//   "ec"      ECDSA P-256, wrapped
// FuzzVaultRouter: an HttpRouter with the Vault API's routes (VaultApi::Routes) over
// FuzzTransit, as strongroomd registers them minus the access gate and minus the token, sys
// and PKI routes (no token store, system or CA behind them).
// Set-up failures abort: a fuzz target has no other way to report them. Test-only.
#pragma once

#include "kms/transit.h"
#include "server/http/server.h"

namespace strongroom::server::testing {

kms::Transit& FuzzTransit();
const HttpRouter& FuzzVaultRouter();

}  // namespace strongroom::server::testing
