// End to end: the real strongroomd's /metrics over HTTPS, checked by promtool and scraped
// by a real Prometheus server, after Transit calls made with the real CLI.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Process;
using testing::RunCommand;
using testing::Runfile;

constexpr int kEncryptCalls = 3;
constexpr int kUnknownMethodCalls = 5;

class MetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("metrics");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    state_ = token_->dir + "/state";
    ca_ = testing::ServerCert(state_);
    config_ = token_->dir + "/strongroom.yaml";
    StartServer("");
  }

  // (Re)starts strongroomd with `http_extra` (YAML lines under http:) in its config.
  void StartServer(const std::string& http_extra) {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      ASSERT_EQ(server_->Wait(), 0) << server_->output();
    }
    std::string yaml = absl::StrCat("state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
                                    "\n  pin_file: ", token_->pin_file,
                                    "\ngrpc:\n  address: 127.0.0.1:0\n"
                                    "http:\n  address: 127.0.0.1:0\n",
                                    http_extra);
    ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());

    server_ = std::make_unique<Process>();
    testing::StrongroomdPorts ports = testing::StartStrongroomd(*server_, config_, /*http=*/true);
    grpc_port_ = ports.grpc;
    http_port_ = ports.http;
    ASSERT_NE(grpc_port_, 0) << server_->output();
    ASSERT_NE(http_port_, 0) << server_->output();
  }

  testing::RunResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {Runfile("tools/cli/strongroom"), "--addr",
                                     absl::StrCat("127.0.0.1:", grpc_port_), "--ca-file", ca_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {{"STRONGROOM_TOKEN_FILE", state_ + "/root-token"}});
  }

  // GET https://localhost:<port><path>, verifying the server's certificate, with the root
  // token as a bearer token if `authenticated`.
  testing::RunResult Curl(int port, const std::string& path, bool https = true,
                          bool authenticated = true) {
    std::vector<std::string> argv = {"curl", "-sS", "--fail", "--max-time", "10"};
    if (https) {
      argv.insert(argv.end(),
                  {"--cacert", ca_, "--resolve", absl::StrCat("localhost:", port, ":127.0.0.1")});
      if (authenticated) {
        argv.insert(argv.end(), {"-H", "Authorization: Bearer " + testing::RootToken(state_)});
      }
    }
    argv.push_back(absl::StrCat(https ? "https" : "http", "://", https ? "localhost" : "127.0.0.1",
                                ":", port, path));
    return RunCommand(argv);
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::string state_, ca_, config_;
  std::unique_ptr<Process> server_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

TEST_F(MetricsE2eTest, PromtoolAcceptsAndPrometheusScrapesTheMetrics) {
  ASSERT_EQ(Cli({"key", "create", "payments"}).exit_code, 0);
  std::string plaintext = token_->dir + "/plaintext";
  ASSERT_TRUE(hsm::testing::WriteFile(plaintext, "4111 1111 1111 1111", 0600).ok());
  for (int i = 0; i < kEncryptCalls; ++i) {
    testing::RunResult r = Cli({"encrypt", "payments", "--in", plaintext});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_THAT(r.output, HasSubstr("vault:v1:"));
  }
  testing::RunResult missing = Cli({"encrypt", "no-such-key", "--in", plaintext});
  ASSERT_NE(missing.exit_code, 0);
  // A CA, two certificates, one revocation.
  ASSERT_EQ(Cli({"pki", "root", "metrics-root", "--common-name", "Metrics Root"}).exit_code, 0);
  ASSERT_EQ(Cli({"pki", "role", "put", "web", "--issuer", "metrics-root", "--allowed-domains",
                 "example.com", "--allow-subdomains", "--server", "--max-ttl", "24h"})
                .exit_code,
            0);
  std::string serial;
  for (const char* name : {"a", "b"}) {
    const std::string dir = absl::StrCat(token_->dir, "/cert-", name);
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    testing::RunResult issued = Cli({"pki", "issue", "web", "--common-name",
                                     absl::StrCat(name, ".example.com"), "--out-dir", dir});
    ASSERT_EQ(issued.exit_code, 0) << issued.output;
    serial = std::string(absl::StripAsciiWhitespace(issued.output));
  }
  testing::RunResult revoked = Cli({"pki", "revoke", serial});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;
  // Methods no service has, each named differently by the caller: counted under one label,
  // so callers cannot add series (memory and /metrics size) by inventing names.
  for (int i = 0; i < kUnknownMethodCalls; ++i) {
    grpc::GenericStub generic(testing::ServerChannel(state_, grpc_port_));
    grpc::ClientContext context;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;  // an empty message
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, absl::StrCat("/strongroom.v1.Transit/Invented", i),
                      grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  }

  // /metrics needs an identity allowed `read` on sys/metrics (key names are in it).
  testing::RunResult anonymous = Curl(http_port_, "/metrics", /*https=*/true,
                                      /*authenticated=*/false);
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_THAT(anonymous.output, HasSubstr("403"));
  EXPECT_THAT(anonymous.output, Not(HasSubstr("payments")));

  // /metrics over HTTPS with the gRPC certificate.
  testing::RunResult metrics = Curl(http_port_, "/metrics");
  ASSERT_EQ(metrics.exit_code, 0) << metrics.output;
  const std::string& text = metrics.output;
  EXPECT_THAT(text, HasSubstr(absl::StrCat("strongroom_grpc_requests_total{service=\"strongroom."
                                           "v1.Transit\",method=\"Encrypt\",code=\"OK\"} ",
                                           kEncryptCalls, "\n")));
  EXPECT_THAT(text, HasSubstr("strongroom_grpc_requests_total{service=\"strongroom.v1.Transit\","
                              "method=\"Encrypt\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_grpc_request_duration_seconds_bucket{service="
                              "\"strongroom.v1.Transit\",method=\"Encrypt\",le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("strongroom_grpc_requests_total{service=\"\","
                                           "method=\"(unknown)\",code=\"UNIMPLEMENTED\"} ",
                                           kUnknownMethodCalls, "\n")));
  EXPECT_THAT(text, Not(HasSubstr("Invented")));
  EXPECT_THAT(text, HasSubstr("strongroom_hsm_calls_total{function=\"C_GenerateRandom\","
                              "result=\"ok\"}"));
  EXPECT_THAT(text, HasSubstr("strongroom_hsm_call_duration_seconds_count{function="));
  EXPECT_THAT(text, HasSubstr("strongroom_pki_certificates_issued_total 2\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_pki_certificates_revoked_total 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_pki_crl_age_seconds{issuer=\"metrics-root\"} "));
  EXPECT_THAT(text, HasSubstr("strongroom_audit_writes_total{result=\"ok\"} "));
  EXPECT_THAT(text, HasSubstr("strongroom_audit_write_duration_seconds_count "));
  EXPECT_THAT(text, HasSubstr("strongroom_sealed 0\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_hsm_available 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_hsm_sessions_in_use "));
  EXPECT_THAT(text, HasSubstr("strongroom_hsm_sessions_open "));
  // Every bounded cache and queue, with its size and its bound (README "What bounds memory").
  for (const char* structure :
       {"grpc_pending_calls", "grpc_worker_queue", "token_cache", "token_suspects",
        "client_cert_trusted", "client_cert_refused", "http_connections", "http_handler_queue",
        "audit_queue", "pki_inventory_queue", "acme_validation_queue",
        "ocsp_presigned", "pki_role_cache", "pki_issuer_cache", "acme_rate_buckets",
        "acme_write_queue", "jwt_login_sources"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("strongroom_bounded_entries{structure=\"", structure,
                                             "\"} ")));
    EXPECT_THAT(text, HasSubstr(absl::StrCat("strongroom_bounded_capacity{structure=\"", structure,
                                             "\"} ")));
  }
  EXPECT_THAT(text, HasSubstr("strongroom_bounded_capacity{structure=\"token_cache\"} 100000\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_bounded_capacity{structure=\"ocsp_presigned\"} 100000\n"));
  // The certificates above were issued with one role by one issuer, each cached once.
  EXPECT_THAT(text, HasSubstr("strongroom_bounded_entries{structure=\"pki_role_cache\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_bounded_capacity{structure=\"pki_role_cache\"} 4096\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_bounded_entries{structure=\"pki_issuer_cache\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_bounded_capacity{structure=\"pki_issuer_cache\"} 1024\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_kek_version 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_transit_keys 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_transit_key_versions{key=\"payments\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_transit_version_encryptions{key=\"payments\","
                              "version=\"1\"} "));
  EXPECT_THAT(text, HasSubstr("strongroom_transit_version_encryption_limit 4294967296\n"));
  EXPECT_THAT(text, HasSubstr("strongroom_build_info{version=\""));
  EXPECT_THAT(text, HasSubstr("strongroom_start_time_seconds "));

  std::string exposition = token_->dir + "/metrics.txt";
  ASSERT_TRUE(hsm::testing::WriteFile(exposition, text, 0600).ok());
  testing::RunResult check =
      RunCommand({"sh", "-c", absl::StrCat("promtool check metrics < ", exposition)});
  EXPECT_EQ(check.exit_code, 0) << check.output;

  // Unknown paths and wrong methods.
  EXPECT_NE(Curl(http_port_, "/nope").exit_code, 0);
  testing::RunResult post =
      RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data", "", "--cacert",
                  ca_, "--resolve", absl::StrCat("localhost:", http_port_, ":127.0.0.1"),
                  absl::StrCat("https://localhost:", http_port_, "/metrics")});
  EXPECT_EQ(post.output, "405");

  // A real Prometheus scrapes it over TLS.
  const std::string prom_dir = token_->dir + "/prometheus";
  const int prom_port = testing::FreeLoopbackPort();
  ASSERT_NE(prom_port, 0);
  std::string prom_config = absl::StrCat(
      "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      "scrape_configs:\n  - job_name: strongroom\n    scheme: https\n"
      "    tls_config:\n      ca_file: ",
      ca_, "\n      server_name: localhost\n    authorization:\n      credentials_file: ", state_,
      "/root-token\n    static_configs:\n      - targets: ['127.0.0.1:", http_port_, "']\n");
  ASSERT_TRUE(hsm::testing::WriteFile(token_->dir + "/prometheus.yml", prom_config, 0600).ok());
  Process prometheus;
  ASSERT_TRUE(prometheus.Start({"prometheus", "--config.file=" + token_->dir + "/prometheus.yml",
                                "--storage.tsdb.path=" + prom_dir,
                                absl::StrCat("--web.listen-address=127.0.0.1:", prom_port)}));
  ASSERT_TRUE(
      prometheus.WaitForOutput("Server is ready to receive web requests", absl::Seconds(60)))
      << prometheus.output();

  const std::string want = absl::StrCat("\"", kEncryptCalls, "\"]");
  const std::string query =
      "/api/v1/query?query=strongroom_grpc_requests_total%7Bmethod%3D%22Encrypt%22%2Ccode%3D%22OK%"
      "22%7D";
  std::string last;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  bool scraped = false;
  while (absl::Now() < deadline) {
    testing::RunResult r = Curl(prom_port, query, /*https=*/false);
    last = r.output;
    if (r.exit_code == 0 && last.find(want) != std::string::npos) {
      scraped = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(250));  // poll interval, not synchronisation
  }
  EXPECT_TRUE(scraped) << "last answer: " << last << "\n" << prometheus.output();
  EXPECT_THAT(last, HasSubstr("\"job\":\"strongroom\""));

  // The target is healthy, not merely scraped once.
  testing::RunResult targets = Curl(prom_port, "/api/v1/targets", /*https=*/false);
  EXPECT_THAT(targets.output, HasSubstr("\"health\":\"up\"")) << targets.output;

  prometheus.Signal(SIGTERM);
  EXPECT_EQ(prometheus.Wait(), 0) << prometheus.output();

  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0) << server_->output();
}

// http.metrics_unauthenticated: true serves /metrics to anyone (off by default).
TEST_F(MetricsE2eTest, ConfigCanOpenMetricsToAnyone) {
  EXPECT_NE(Curl(http_port_, "/metrics", /*https=*/true, /*authenticated=*/false).exit_code, 0);
  StartServer("  metrics_unauthenticated: true\n");
  testing::RunResult open = Curl(http_port_, "/metrics", /*https=*/true, /*authenticated=*/false);
  ASSERT_EQ(open.exit_code, 0) << open.output;
  EXPECT_THAT(open.output, HasSubstr("strongroom_sealed 0\n"));
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0) << server_->output();
}

}  // namespace
}  // namespace strongroom
