#include "tools/bench/http_phase.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/process.h"
#include "tools/bench/common.h"

namespace strongroom::bench {
namespace {

double WrkMs(const std::string& out, absl::string_view label) {
  size_t at = out.find(absl::StrCat("\n", label));
  if (at == std::string::npos) return 0;
  std::istringstream in(out.substr(at + label.size() + 1));
  double v = 0;
  std::string unit;
  in >> v;
  char c;
  while (in.get(c) && std::isalpha(static_cast<unsigned char>(c))) unit += c;
  return unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : v;
}

// Runs Debian's wrk (2 threads) with `connections` kept-alive connections for `seconds`.
WrkResult Wrk(const std::string& url, const std::string& script, int connections, int seconds) {
  std::string command = absl::StrCat("wrk -t2 -c", connections, " -d", seconds, "s --latency ",
                                     script.empty() ? "" : absl::StrCat("-s ", script, " "), url,
                                     " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  WrkResult r;
  if (absl::StrContains(out, "Non-2xx") || absl::StrContains(out, "Socket errors")) {
    std::fprintf(stderr, "strongroom-bench: wrk %s:\n%s\n", url.c_str(), out.c_str());
    if (absl::StrContains(out, "Non-2xx")) return r;
  }
  size_t at = out.find("Requests/sec:");
  if (at == std::string::npos) return r;
  r.requests_per_second = std::strtod(out.c_str() + at + 13, nullptr);
  r.p50_ms = WrkMs(out, "     50%");
  r.p99_ms = WrkMs(out, "     99%");
  return r;
}

// A token with the "bench" policy, made over `channel`.
std::string BenchToken(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext ctx;
  v1::CreateTokenRequest req;
  req.add_policies("bench");
  v1::CreateTokenResponse token_response;
  grpc::Status s = v1::Auth::NewStub(channel)->CreateToken(&ctx, req, &token_response);
  if (!s.ok()) Die("CreateToken: " + s.error_message());
  return token_response.token();
}

// The body of one HTTPS encrypt reply ("" if it failed).
std::string EncryptReply(int port, const std::string& request) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto wire = testing::HttpWire::Connect(port, /*tls=*/true);
    if (!wire.ok() || !(*wire)->Send(request).ok()) continue;
    absl::StatusOr<testing::WireResponse> response = (*wire)->Read();
    if (response.ok()) return response->status == 200 ? response->body : "";
  }
  return "";
}

// Starts nginx from `dir`, answering `body` on 127.0.0.1:port with the server's certificate;
// its pid, once it listens.
pid_t StartNginx(const HttpPhaseOptions& options, int port, const std::string& body) {
  const std::string& dir = options.dir;
  {
    std::ofstream conf(dir + "/nginx.conf");
    conf << "daemon off;\nworker_processes " << options.cores << ";\npid " << dir
         << "/nginx.pid;\nerror_log " << dir << "/nginx-error.log;\n"
         << "events { worker_connections 4096; }\nhttp {\n  access_log off;\n"
         << "  client_body_temp_path " << dir << ";\n  keepalive_requests 100000000;\n"
         << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n"
         << "    ssl_certificate " << options.cert_file << ";\n"
         << "    ssl_certificate_key " << options.key_file << ";\n"
         << "    ssl_protocols TLSv1.2 TLSv1.3;\n"
         << "    location / { default_type application/json; return 200 '" << body
         << "'; }\n  }\n}\n";
  }
  pid_t nginx = fork();
  if (nginx == 0) {
    execlp("nginx", "nginx", "-p", dir.c_str(), "-c", (dir + "/nginx.conf").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 100; ++i) {  // until it listens
    auto probe = testing::HttpWire::Connect(port, /*tls=*/true);
    if (probe.ok()) break;
    usleep(50 * 1000);
  }
  return nginx;
}

}  // namespace

std::vector<HttpPhaseRow> RunHttpPhase(const HttpPhaseOptions& options) {
  const std::string token = BenchToken(options.channel);
  const std::string& dir = options.dir;
  mkdir(dir.c_str(), 0700);
  const std::string body =
      absl::StrCat("{\"plaintext\":\"", absl::Base64Escape(options.plaintext), "\"}");
  const std::string script = dir + "/encrypt.lua";  // the token stays out of argv
  {
    std::ofstream lua(script);
    lua << "wrk.method = \"POST\"\nwrk.body = '" << body
        << "'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        << "wrk.headers[\"X-Vault-Token\"] = \"" << token << "\"\n";
  }
  chmod(script.c_str(), 0600);
  const std::string reply = EncryptReply(
      options.http_port,
      testing::HttpRequestBytes("POST", "/v1/transit/encrypt/bench-aes", body,
                                absl::StrCat("X-Vault-Token: ", token,
                                             "\r\nContent-Type: application/json\r\n")));
  if (reply.empty()) Die("HTTP encrypt failed before the measurement");
  const int nginx_port = testing::FreeLoopbackPort();
  const pid_t nginx = StartNginx(options, nginx_port, std::string(reply.size(), 'x'));
  const std::string base = absl::StrCat("https://127.0.0.1:", options.http_port);
  const std::string nginx_url = absl::StrCat("https://127.0.0.1:", nginx_port, "/");
  const int seconds = std::max(1, options.seconds);
  std::vector<HttpPhaseRow> rows;
  for (int c : options.connections) {
    HttpPhaseRow row;
    row.connections = c;
    row.encrypt = Wrk(base + "/v1/transit/encrypt/bench-aes", script, c, seconds);
    row.health = Wrk(base + "/v1/sys/health", "", c, seconds);
    row.nginx = Wrk(nginx_url, "", c, seconds);
    row.grpc = options.grpc_encrypt(c, seconds);
    rows.push_back(row);
  }
  kill(nginx, SIGTERM);  // the nginx this phase started, by its pid
  waitpid(nginx, nullptr, 0);
  return rows;
}

void PrintHttpPhase(const std::vector<HttpPhaseRow>& rows) {
  std::printf("\nHTTP server (wrk, 2 threads, TLS on loopback, keep-alive; 64 B encrypt)\n");
  std::printf("  %5s %24s %24s %24s %24s\n", "conns", "gRPC Encrypt (in flight)",
              "HTTPS encrypt", "HTTPS sys/health (gate)", "nginx fixed body");
  for (const HttpPhaseRow& r : rows) {
    std::printf("  %5d %11.0f/s p99 %5.1fms %11.0f/s p99 %5.1fms %11.0f/s p99 %5.1fms %11.0f/s "
                "p99 %5.1fms\n",
                r.connections, r.grpc.ops_per_second, r.grpc.p99_ms,
                r.encrypt.requests_per_second, r.encrypt.p99_ms, r.health.requests_per_second,
                r.health.p99_ms, r.nginx.requests_per_second, r.nginx.p99_ms);
  }
  for (const HttpPhaseRow& r : rows) {
    Ratio(absl::StrFormat("HTTPS encrypt / gRPC Encrypt, %d connections", r.connections),
          r.encrypt.requests_per_second / std::max(1.0, r.grpc.ops_per_second), 0.8);
    Ratio(absl::StrFormat("HTTPS fixed body via gate / nginx, %d connections", r.connections),
          r.health.requests_per_second / std::max(1.0, r.nginx.requests_per_second), 0.5);
  }
}

}  // namespace strongroom::bench
