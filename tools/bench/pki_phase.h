// RunPkiPhase: strongroom-bench's `pki` phase, against a strongroomd the bench started (in
// process) on a SoftHSM token, with Cloudflare's cfssl (Debian's golang-cfssl: `cfssl serve`
// on loopback, an ECDSA P-256 CA key in a file, plain HTTP, nothing stored) as the yardstick:
//   - raw PKCS#11 C_SignInit + C_Sign ECDSA P-256 on the token, one session per thread;
//   - a P-256 CSR signed by cfssl's /api/v1/cfssl/sign, by SignCertificate over gRPC (mTLS)
//     with a no_store role and with a storing one, and by the Vault-compatible HTTPS
//     pki/sign/:role with a token (no_store), in alternating rounds, the same number of
//     clients each;
//   - the issuance floor: in one thread, the work no CA can skip per certificate, the CSR's
//     P-256 signature verified in process plus one raw C_SignInit + C_Sign of a digest on the
//     same token, as CPU µs per certificate, and the ceiling it implies on this machine's
//     cores (cores / floor) beside cfssl;
//   - OCSP for the stored certificate over keep-alive HTTPS (POST) and plain HTTP (the PKI
//     documents listener, POST and GET), without a nonce (served pre-signed) and with one
//     (signed afresh);
//   - a CRL of `crl_entries` synthetic entries signed by the issuer's HSM key.
// PrintPkiPhase prints the rates, the ratios to cfssl and the goals. A failed step exits the
// process (1) with a message: the figures would be void.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "hsm/hsm.h"
#include "hsm/pkcs11_module.h"
#include "tools/bench/load.h"

namespace strongroom::bench {

struct PkiPhaseSetup {
  // At least `clients` channels to strongroomd, authenticated as an identity with the
  // "bench" policy (every operation).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  int http_port = 0;  // strongroomd's HTTPS listener (Vault API, OCSP)
  int documents_port = 0;  // its plain-HTTP PKI documents listener (OCSP)
  hsm::Hsm* hsm = nullptr;  // the bench's own handle on the token
  hsm::Pkcs11Module* module = nullptr;
  std::vector<CK_SESSION_HANDLE> sessions;  // open on the token: the raw C_Sign threads
  std::string dir;                          // a private folder; cfssl's go in dir/cfssl
  double seconds = 3;
  int clients = 8;
  int crl_entries = 100000;
};

struct PkiPhaseResult {
  int raw_threads = 0, clients = 0, crl_entries = 0;
  Result raw_ecdsa, cfssl_r, sign_nostore, sign_store, vault_sign, ocsp_r, ocsp_nonce_r;
  Result ocsp_plain_post, ocsp_plain_get, ocsp_plain_nonce;
  // The issuance floor (one thread's CPU µs per certificate) and its parts; the cores it
  // is divided over.
  double floor_us = 0, floor_verify_us = 0, floor_sign_us = 0;
  int cores = 0;
  double crl_seconds = 0;
};

PkiPhaseResult RunPkiPhase(const PkiPhaseSetup& setup);
void PrintPkiPhase(const PkiPhaseResult& r);

}  // namespace strongroom::bench
