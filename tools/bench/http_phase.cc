#include "tools/bench/http_phase.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
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
  // "  123456 requests in 5.00s, ...".
  const size_t count_end = out.find(" requests in ");
  if (count_end != std::string::npos) {
    const size_t line = out.rfind('\n', count_end);
    r.requests = std::strtod(out.c_str() + (line == std::string::npos ? 0 : line + 1), nullptr);
  }
  r.p50_ms = WrkMs(out, "     50%");
  r.p99_ms = WrkMs(out, "     99%");
  return r;
}

// user + system CPU seconds of /proc/<pid>/stat (fields 14 and 15), and its parent (field
// 4); false if the process is gone.
bool ProcStat(const std::string& pid, double* cpu_seconds, long* parent) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t comm_end = stat.rfind(')');  // the command name may hold spaces
  if (comm_end == std::string::npos) return false;
  std::istringstream fields(stat.substr(comm_end + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After the name: state (3), ppid (4), ..., utime (14), stime (15).
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 4) *parent = std::strtol(field.c_str(), nullptr, 10);
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  *cpu_seconds = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  return true;
}

// CPU seconds used so far by this process, its reaped children (each wrk, once pclose
// returns) and nginx (`nginx`, the master, and its workers).
double MeasuredCpuSeconds(pid_t nginx) {
  auto seconds = [](const rusage& u) {
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  rusage self, children;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  double total = seconds(self) + seconds(children);
  if (DIR* proc = opendir("/proc")) {
    while (const dirent* entry = readdir(proc)) {
      if (!std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) continue;
      double cpu = 0;
      long parent = 0;
      if (!ProcStat(entry->d_name, &cpu, &parent)) continue;
      if (std::atol(entry->d_name) == nginx || parent == nginx) total += cpu;
    }
    closedir(proc);
  }
  return total;
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
    // The CPU per request of `run`, which returns its result and how many requests it made.
    auto measured = [nginx](double* cpu_us, auto run) {
      const double before = MeasuredCpuSeconds(nginx);
      auto [result, requests] = run();
      const double used = MeasuredCpuSeconds(nginx) - before;
      *cpu_us = requests > 0 ? used * 1e6 / requests : 0;
      return result;
    };
    auto wrk = [&](const std::string& url, const std::string& lua) {
      return [&, url, lua] {
        WrkResult r = Wrk(url, lua, c, seconds);
        return std::make_pair(r, r.requests);
      };
    };
    row.encrypt = measured(&row.encrypt_cpu_us,
                           wrk(base + "/v1/transit/encrypt/bench-aes", script));
    row.health = measured(&row.health_cpu_us, wrk(base + "/v1/sys/health", ""));
    row.nginx = measured(&row.nginx_cpu_us, wrk(nginx_url, ""));
    row.grpc = measured(&row.grpc_cpu_us, [&] {
      Result r = options.grpc_encrypt(c, seconds);
      return std::make_pair(r, r.ops_per_second * seconds);
    });
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
  std::printf("  CPU per request (this process, wrk, nginx)\n");
  for (const HttpPhaseRow& r : rows) {
    std::printf("  %5d %21.0f us %21.0f us %21.0f us %21.0f us\n", r.connections, r.grpc_cpu_us,
                r.encrypt_cpu_us, r.health_cpu_us, r.nginx_cpu_us);
  }
  for (const HttpPhaseRow& r : rows) {
    Ratio(absl::StrFormat("HTTPS encrypt / gRPC Encrypt, %d connections", r.connections),
          r.encrypt.requests_per_second / std::max(1.0, r.grpc.ops_per_second), 0.8);
    Ratio(absl::StrFormat("HTTPS fixed body via gate / nginx, %d connections", r.connections),
          r.health.requests_per_second / std::max(1.0, r.nginx.requests_per_second), 0.5);
  }
}

}  // namespace strongroom::bench
