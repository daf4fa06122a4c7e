#include "tools/bench/acme_phase.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "tools/bench/acme_client.h"
#include "tools/bench/common.h"
#include "tools/bench/load.h"

namespace strongroom::bench {
namespace {

constexpr char kIssuer[] = "bench-acme-root";
constexpr char kRole[] = "bench-acme";
constexpr char kDomain[] = "acme.bench.example";
constexpr int kRounds = 3;


void Check(const grpc::Status& s, const char* what) {
  if (!s.ok()) Die(absl::StrCat("acme: ", what, ": ", s.error_message()));
}

// The issuer (P-256 in the HSM) and the role both measurements sign under.
void CreateIssuerAndRole(v1::Pki::Stub* pki) {
  {
    grpc::ClientContext ctx;
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name(kIssuer);
    req.set_common_name("Strongroom Bench ACME Root");
    req.set_key_type(v1::EC_P256);
    req.mutable_ttl()->set_seconds(86400 * 30);
    v1::Issuer out;
    Check(pki->CreateRootIssuer(&ctx, req, &out), "CreateRootIssuer");
  }
  grpc::ClientContext ctx;
  v1::Role role, out;
  role.set_name(kRole);
  role.set_issuer_name(kIssuer);
  role.add_allowed_domains(kDomain);
  role.set_allow_subdomains(true);
  role.set_server_flag(true);
  role.set_key_type(v1::EC_P256);
  role.mutable_ttl()->set_seconds(3600);
  Check(pki->PutRole(&ctx, role, &out), "PutRole");
}

// The PEM form of a DER CSR, for SignCertificate.
std::string CsrPem(const std::string& name) {
  absl::StatusOr<std::string> der = NewCsrDer(name);
  if (!der.ok()) Die("acme: " + std::string(der.status().message()));
  const std::string b64 = absl::Base64Escape(*der);
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t at = 0; at < b64.size(); at += 64) absl::StrAppend(&pem, b64.substr(at, 64), "\n");
  return pem + "-----END CERTIFICATE REQUEST-----\n";
}


}  // namespace

void RunAcmePhase(const AcmePhaseOptions& options) {
  if (options.channels.empty() || options.accounts < 1) Die("acme: no clients");
  std::vector<std::unique_ptr<v1::Pki::Stub>> pki;
  for (const auto& channel : options.channels) pki.push_back(v1::Pki::NewStub(channel));
  CreateIssuerAndRole(pki[0].get());

  auto responder = Http01Responder::Start(options.http01_port);
  if (!responder.ok()) Die("acme: " + std::string(responder.status().message()));
  const std::string directory = absl::StrCat("/v1/pki/roles/", kRole, "/acme/directory");
  std::vector<std::unique_ptr<AcmeClient>> clients;
  for (int i = 0; i < options.accounts; ++i) {
    auto client = AcmeClient::Create(options.https_port, directory, responder->get());
    if (!client.ok()) Die(absl::StrCat("acme: account ", i, ": ", client.status().message()));
    clients.push_back(*std::move(client));
  }
  std::vector<int> orders_of(options.accounts, 0);
  auto order = [&](int t) -> int {
    const std::string name = absl::StrCat("a", t, "-o", orders_of[t]++, ".", kDomain);
    absl::StatusOr<std::string> chain = clients[t]->Order(name);
    if (!chain.ok()) {
      std::fprintf(stderr, "strongroom-bench: acme: order %s: %s\n", name.c_str(),
                   std::string(chain.status().message()).c_str());
      return 0;
    }
    return 1;
  };
  const std::string csr = CsrPem(absl::StrCat("svc.", kDomain));
  auto sign = [&](int t) -> int {
    grpc::ClientContext ctx;
    v1::SignCertificateRequest req;
    req.set_role(kRole);
    req.set_csr_pem(csr);
    req.set_common_name(absl::StrCat("svc.", kDomain));
    v1::SignedCertificate out;
    grpc::Status s = pki[t % pki.size()]->SignCertificate(&ctx, req, &out);
    if (!s.ok())
      std::fprintf(stderr, "strongroom-bench: acme: SignCertificate: %s\n",
                   s.error_message().c_str());
    return s.ok() ? 1 : 0;
  };
  // Warm up: one order per account, one signature per connection.
  for (int t = 0; t < options.accounts; ++t) {
    if (order(t) == 0) Die("acme: an order failed before the measurement");
  }
  for (size_t t = 0; t < pki.size(); ++t) {
    if (sign(static_cast<int>(t)) == 0) Die("acme: SignCertificate failed before the measurement");
  }

  uint64_t requests_before = 0;
  for (const auto& c : clients) requests_before += c->requests();
  Sample acme_sample, sign_sample;
  for (int round = 0; round < kRounds; ++round) {
    RunInto("acme order", options.accounts, options.seconds / kRounds, true, order, &acme_sample);
    RunInto("SignCertificate", options.accounts, options.seconds / kRounds, true, sign,
            &sign_sample);
  }
  uint64_t requests = 0;
  for (const auto& c : clients) requests += c->requests();
  requests -= requests_before;
  const Result acme = acme_sample.Summary();
  const Result signed_r = sign_sample.Summary();

  std::printf("\nACME (%d accounts in parallel; http-01 answered by the bench; role %s, stored):\n",
              options.accounts, kRole);
  Print("ACME complete orders (newOrder .. certificate)", acme, "orders/s");
  Print("SignCertificate over gRPC (same role and clients)", signed_r, "certs/s");
  std::printf("  %-52s %12.3f\n", "ACME orders / SignCertificate",
              signed_r.ops_per_second > 0 ? acme.ops_per_second / signed_r.ops_per_second : 0);
  std::printf("  %-52s %12.1f\n", "HTTP requests per ACME order",
              acme_sample.ops > 0 ? static_cast<double>(requests) / acme_sample.ops : 0);
  std::fflush(stdout);
}

}  // namespace strongroom::bench
