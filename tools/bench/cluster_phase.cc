#include "tools/bench/cluster_phase.h"

#include <grpcpp/grpcpp.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"
#include "tools/bench/load.h"

namespace strongroom::bench {
namespace {

using testing::PostgresCluster;
using testing::Process;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "strongroom-bench: cluster: %s\n", what.c_str());
  std::exit(1);
}

// p50 and p99 of `ms`, "-" when empty.
std::string Percentiles(std::vector<double> ms) {
  if (ms.empty()) return "p50 -  p99 -";
  std::sort(ms.begin(), ms.end());
  return absl::StrFormat("p50 %.1f ms  p99 %.1f ms", ms[ms.size() / 2],
                         ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]);
}

double MsSince(absl::Time start) { return absl::ToDoubleMilliseconds(absl::Now() - start); }

std::string ReadProcFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// From /proc/<pid>/stat: the parent's pid and the CPU (user + system) used so far, in
// seconds. nullopt when the process is gone.
struct ProcStat {
  pid_t ppid = 0;
  double cpu_seconds = 0;
};
std::optional<ProcStat> ReadProcStat(pid_t pid) {
  const std::string stat = ReadProcFile(absl::StrCat("/proc/", pid, "/stat"));
  // The fields after the command name, which is in parentheses and may hold spaces.
  const size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos || name_end + 2 >= stat.size()) return std::nullopt;
  std::vector<std::string> f = absl::StrSplit(stat.substr(name_end + 2), ' ');
  int64_t ppid = 0, utime = 0, stime = 0;  // fields 4, 14 and 15 of proc(5)
  if (f.size() < 13 || !absl::SimpleAtoi(f[1], &ppid) || !absl::SimpleAtoi(f[11], &utime) ||
      !absl::SimpleAtoi(f[12], &stime)) {
    return std::nullopt;
  }
  return ProcStat{static_cast<pid_t>(ppid),
                  static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK)};
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (const dirent* e = readdir(proc)) {
    int pid = 0;
    if (absl::SimpleAtoi(e->d_name, &pid)) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

// The processes whose CPU a measurement charges to the server side: strongroomd nodes, and
// the PostgreSQL server listening on `pg_port` (its postmaster and every child: backends,
// WAL writer, WAL sender; 0: none). The bench's own client threads are not among them.
class ServerCpu {
 public:
  ServerCpu(std::vector<pid_t> nodes, int pg_port) : nodes_(std::move(nodes)) {
    if (pg_port == 0) return;
    // The postmaster's argv holds "-p" "<port>" (NUL-separated in /proc/<pid>/cmdline).
    const std::string marker =
        absl::StrCat(std::string("\0-p\0", 4), pg_port, std::string(1, '\0'));
    for (pid_t pid : AllPids()) {
      if (absl::StrContains(ReadProcFile(absl::StrCat("/proc/", pid, "/cmdline")), marker) &&
          absl::StartsWith(ReadProcFile(absl::StrCat("/proc/", pid, "/comm")), "postgres")) {
        postmaster_ = pid;
      }
    }
  }
  // CPU seconds used so far by the nodes, and by PostgreSQL's live processes.
  double Nodes() const {
    double sum = 0;
    for (pid_t pid : nodes_) {
      if (auto s = ReadProcStat(pid)) sum += s->cpu_seconds;
    }
    return sum;
  }
  double Postgres() const {
    if (postmaster_ == 0) return 0;
    double sum = 0;
    for (pid_t pid : AllPids()) {
      auto s = ReadProcStat(pid);
      if (s && (pid == postmaster_ || s->ppid == postmaster_)) sum += s->cpu_seconds;
    }
    return sum;
  }

 private:
  const std::vector<pid_t> nodes_;
  pid_t postmaster_ = 0;
};

// strongroomd nodes on one storage backend, sharing the SoftHSM token: node i has its own
// state dir <token dir>/<name>-node<i> and node id <name>-node<i>. Stopped by the destructor.
class Nodes {
 public:
  Nodes(const hsm::testing::SoftHsmToken& token, std::string name, std::string storage_yaml)
      : token_(token), name_(std::move(name)), storage_yaml_(std::move(storage_yaml)) {}
  ~Nodes() {
    for (auto& server : servers_) {
      server->Signal(SIGTERM);
      server->Wait();
    }
  }

  // Starts one more node and waits for its gRPC port.
  void Add() {
    const int node = static_cast<int>(servers_.size());
    const std::string id = absl::StrCat(name_, "-node", node);
    const std::string config = absl::StrCat(token_.dir, "/", id, ".yaml");
    const std::string yaml = absl::StrCat(
        "state_dir: ", State(node), "\nnode_id: ", id, "\nhsm:\n  token_label: ", token_.label,
        "\n  pin_file: ", token_.pin_file, "\ngrpc:\n  address: 127.0.0.1:0\n", storage_yaml_);
    if (!hsm::testing::WriteFile(config, yaml, 0600).ok()) Die("cannot write " + config);
    servers_.push_back(std::make_unique<Process>());
    const int port = testing::StartStrongroomd(*servers_.back(), config).grpc;
    if (port == 0) Die(absl::StrCat(id, " did not start:\n", servers_.back()->output()));
    ports_.push_back(port);
  }

  int size() const { return static_cast<int>(servers_.size()); }
  std::vector<pid_t> pids() const {
    std::vector<pid_t> pids;
    for (const auto& server : servers_) pids.push_back(server->pid());
    return pids;
  }
  // The bootstrap root token (written by the first node on a fresh database).
  std::string RootToken() const { return testing::RootToken(State(0)); }
  std::shared_ptr<grpc::Channel> Channel(int node, const std::string& token) const {
    return testing::ServerChannel(State(node), ports_[node], token);
  }
  std::unique_ptr<v1::Transit::Stub> Transit(int node, const std::string& token = "") const {
    return v1::Transit::NewStub(Channel(node, token.empty() ? RootToken() : token));
  }

 private:
  std::string State(int node) const { return absl::StrCat(token_.dir, "/", name_, "-node", node); }

  const hsm::testing::SoftHsmToken& token_;
  const std::string name_;
  const std::string storage_yaml_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::vector<int> ports_;
};

grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& call,
                  absl::Duration deadline = absl::Seconds(10)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return call(&context);
}

void CreateKey(v1::Transit::Stub& stub, const std::string& name) {
  v1::CreateKeyRequest request;
  request.set_name(name);
  v1::Key key;
  grpc::Status s = Call([&](auto* c) { return stub.CreateKey(c, request, &key); });
  if (!s.ok()) Die(absl::StrCat("CreateKey ", name, ": ", s.error_message()));
}

// CPU per request (or item) of one measurement: the nodes', PostgreSQL's and the machine's.
struct CpuPerOp {
  double nodes_us = 0;
  double postgres_us = 0;
};

void PrintRow(const std::string& what, const Result& r, const CpuPerOp& server, const char* unit) {
  std::printf("  %-44s %10.0f %s   p50 %.3f ms  p99 %.3f ms   CPU us/request: nodes %.0f, "
              "PostgreSQL %.0f, machine %.0f\n",
              what.c_str(), r.ops_per_second, unit, r.p50_ms, r.p99_ms, server.nodes_us,
              server.postgres_us, r.cpu_us_per_op);
}

// Runs `measure` (which returns its operation count) and charges the server processes'
// CPU to those operations.
CpuPerOp ServerCpuPerOp(const ServerCpu& cpu, const std::function<double()>& measure) {
  const double nodes = cpu.Nodes(), postgres = cpu.Postgres();
  const double ops = measure();
  if (ops <= 0) return {};
  return {(cpu.Nodes() - nodes) * 1e6 / ops, (cpu.Postgres() - postgres) * 1e6 / ops};
}

// Unary and batched Encrypt of 64 B under key "bench", the calls in flight spread over the
// nodes round-robin. `pg_port`: the PostgreSQL server whose CPU is counted (0: none).
void MeasureEncrypt(const std::string& setup, const Nodes& nodes, int pg_port,
                    const ClusterPhaseOptions& options) {
  const ServerCpu cpu(nodes.pids(), pg_port);
  {
    // What the setup costs with no requests (heartbeats, lease, change feed confirmations),
    // for reading the per-request figures below.
    constexpr absl::Duration kIdle = absl::Seconds(2);
    const double nodes_before = cpu.Nodes(), postgres_before = cpu.Postgres();
    absl::SleepFor(kIdle);
    std::printf("  %-44s CPU ms/s: nodes %.1f, PostgreSQL %.1f\n",
                absl::StrCat(setup, ": idle").c_str(),
                (cpu.Nodes() - nodes_before) * 1e3 / absl::ToDoubleSeconds(kIdle),
                (cpu.Postgres() - postgres_before) * 1e3 / absl::ToDoubleSeconds(kIdle));
  }
  std::vector<std::unique_ptr<v1::Transit::Stub>> stubs;
  for (int i = 0; i < options.clients; ++i) stubs.push_back(nodes.Transit(i % nodes.size()));
  v1::EncryptRequest one, many;
  one.set_key_name("bench");
  many.set_key_name("bench");
  one.add_items()->set_plaintext(std::string(64, 'p'));
  for (int i = 0; i < options.batch; ++i) many.add_items()->set_plaintext(std::string(64, 'p'));
  Sample unary;
  const CpuPerOp unary_cpu = ServerCpuPerOp(cpu, [&] {
    RunInFlight<v1::EncryptResponse>(
        "cluster Encrypt", options.clients, options.seconds,
        [&](int i, grpc::ClientContext* context, v1::EncryptResponse* reply,
            std::function<void(grpc::Status)> done) {
          stubs[i]->async()->Encrypt(context, &one, reply, std::move(done));
        },
        &unary);
    return static_cast<double>(unary.ops);
  });
  PrintRow(absl::StrCat(setup, ": Encrypt 64 B"), unary.Summary(), unary_cpu, "ops/s");
  Result batched;
  const CpuPerOp batched_cpu = ServerCpuPerOp(cpu, [&] {
    batched = RunBatches<v1::EncryptResponse>(
        "cluster batched Encrypt", options.clients, options.seconds, options.batch,
        [&](int i, grpc::ClientContext* context, v1::EncryptResponse* reply,
            std::function<void(grpc::Status)> done) {
          stubs[i]->async()->Encrypt(context, &many, reply, std::move(done));
        });
    return batched.ops_per_second * options.seconds;  // items, as the window ran
  });
  batched.cpu_us_per_op /= options.batch;  // per item
  PrintRow(absl::StrCat(setup, ": batched Encrypt (", options.batch, " x 64 B)"), batched,
           batched_cpu, "items/s");
}

// CreateKey and RotateKey latency, one call at a time on node 0.
void MeasureKeyWrites(const std::string& setup, const Nodes& nodes) {
  constexpr int kCalls = 30;
  auto stub = nodes.Transit(0);
  std::vector<double> create_ms, rotate_ms;
  for (int i = 0; i < kCalls; ++i) {
    absl::Time start = absl::Now();
    CreateKey(*stub, absl::StrCat("lat-", i));
    create_ms.push_back(MsSince(start));
  }
  for (int i = 0; i < kCalls; ++i) {
    v1::RotateKeyRequest request;
    request.set_name("lat-0");
    v1::Key key;
    absl::Time start = absl::Now();
    grpc::Status s = Call([&](auto* c) { return stub->RotateKey(c, request, &key); });
    if (!s.ok()) Die("RotateKey: " + s.error_message());
    rotate_ms.push_back(MsSince(start));
  }
  std::printf("  %-44s %s\n", absl::StrCat(setup, ": CreateKey").c_str(),
              Percentiles(create_ms).c_str());
  std::printf("  %-44s %s\n", absl::StrCat(setup, ": RotateKey").c_str(),
              Percentiles(rotate_ms).c_str());
}

// Polls `honoured` every 10 ms up to `bound`; the milliseconds it took, or -1.
double TimeUntil(const std::function<bool()>& honoured, absl::Duration bound) {
  const absl::Time start = absl::Now();
  while (absl::Now() - start < bound) {
    if (honoured()) return MsSince(start);
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
}

void PrintPropagation(const std::string& what, const std::vector<double>& ms, int tries,
                      absl::Duration bound) {
  std::vector<double> honoured;
  for (double m : ms) {
    if (m >= 0) honoured.push_back(m);
  }
  std::printf("  %-44s %s   %d of %d not honoured within %s\n", what.c_str(),
              Percentiles(honoured).c_str(), tries - static_cast<int>(honoured.size()), tries,
              absl::FormatDuration(bound).c_str());
}

// A rotation on node 0 until node 1 encrypts under the new version; a revocation on node 0
// until node 1 refuses the token (node 1 used it just before, so it is cached there).
void MeasurePropagation(const Nodes& nodes) {
  constexpr int kTries = 10;
  const absl::Duration bound = absl::Seconds(10);
  auto writer = nodes.Transit(0);
  auto reader = nodes.Transit(1);
  CreateKey(*writer, "prop");
  v1::EncryptRequest encrypt;
  encrypt.set_key_name("prop");
  encrypt.add_items()->set_plaintext("p");
  std::vector<double> rotation_ms;
  for (int i = 0; i < kTries; ++i) {
    v1::RotateKeyRequest rotate;
    rotate.set_name("prop");
    v1::Key key;
    grpc::Status s = Call([&](auto* c) { return writer->RotateKey(c, rotate, &key); });
    if (!s.ok()) Die("RotateKey: " + s.error_message());
    const std::string prefix = absl::StrCat("vault:v", key.latest_version(), ":");
    rotation_ms.push_back(TimeUntil(
        [&] {
          v1::EncryptResponse reply;
          grpc::Status e = Call([&](auto* c) { return reader->Encrypt(c, encrypt, &reply); });
          return e.ok() && reply.results_size() == 1 &&
                 absl::StartsWith(reply.results(0).ciphertext(), prefix);
        },
        bound));
  }
  PrintPropagation("rotation on node 0 -> used by node 1", rotation_ms, kTries, bound);

  auto auth = v1::Auth::NewStub(nodes.Channel(0, nodes.RootToken()));
  std::vector<double> revocation_ms;
  for (int i = 0; i < kTries; ++i) {
    v1::CreateTokenRequest create;
    create.add_policies("bench");
    v1::CreateTokenResponse token;
    grpc::Status s = Call([&](auto* c) { return auth->CreateToken(c, create, &token); });
    if (!s.ok()) Die("CreateToken: " + s.error_message());
    auto as_token = nodes.Transit(1, token.token());
    auto encrypts = [&] {
      v1::EncryptResponse reply;
      return Call([&](auto* c) { return as_token->Encrypt(c, encrypt, &reply); }).ok();
    };
    if (!encrypts()) Die("a fresh token is refused on node 1");
    v1::RevokeTokenRequest revoke;
    revoke.set_accessor(token.info().accessor());
    v1::RevokeTokenResponse revoked;
    s = Call([&](auto* c) { return auth->RevokeToken(c, revoke, &revoked); });
    if (!s.ok()) Die("RevokeToken: " + s.error_message());
    revocation_ms.push_back(TimeUntil([&] { return !encrypts(); }, bound));
  }
  PrintPropagation("revocation on node 0 -> refused by node 1", revocation_ms, kTries, bound);
}

// Two writers per node create keys while the primary is killed and the standby promoted.
void MeasureFailover(const Nodes& nodes, PostgresCluster& primary, PostgresCluster& standby) {
  struct Log {
    absl::Mutex mu;
    std::vector<std::pair<absl::Time, absl::Time>> acked;  // sent, acknowledged
    std::vector<std::string> keys;
    int failed = 0;
  } log;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2 * nodes.size(); ++w) {
    writers.emplace_back([&, w] {
      auto stub = nodes.Transit(w % nodes.size());
      for (int n = 0; !stop.load(); ++n) {
        v1::CreateKeyRequest request;
        request.set_name(absl::StrCat("fo-", w, "-", n));
        v1::Key key;
        const absl::Time sent = absl::Now();
        grpc::Status s =
            Call([&](auto* c) { return stub->CreateKey(c, request, &key); }, absl::Seconds(5));
        absl::MutexLock lock(&log.mu);
        if (s.ok()) {
          log.acked.push_back({sent, absl::Now()});
          log.keys.push_back(request.name());
        } else {
          ++log.failed;
          absl::SleepFor(absl::Milliseconds(20));  // no hot loop against a down database
        }
      }
    });
  }
  absl::SleepFor(absl::Seconds(3));
  const absl::Time killed = absl::Now();
  if (absl::Status s = primary.Kill(); !s.ok()) Die(absl::StrCat("kill: ", s.message()));
  if (absl::Status s = standby.Promote(); !s.ok()) Die(absl::StrCat("promote: ", s.message()));
  const double promoted_s = absl::ToDoubleSeconds(absl::Now() - killed);
  // Service is back with the first write sent after the kill that is acknowledged.
  auto first_after = [&]() -> std::optional<absl::Time> {
    absl::MutexLock lock(&log.mu);
    std::optional<absl::Time> first;
    for (const auto& [sent, acked] : log.acked) {
      if (sent > killed && (!first.has_value() || acked < *first)) first = acked;
    }
    return first;
  };
  const absl::Time deadline = killed + absl::Seconds(60);
  // (The load runs on for 2 s after service is back, so the gap is closed on both sides.)
  while (!first_after().has_value() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  absl::SleepFor(absl::Seconds(2));
  stop = true;
  for (auto& w : writers) w.join();

  const std::optional<absl::Time> after = first_after();
  absl::MutexLock lock(&log.mu);
  // Seconds without service: the longest wait between two consecutive acknowledgements
  // (of any client) while the load ran.
  std::vector<absl::Time> acks;
  for (const auto& [sent, acked] : log.acked) acks.push_back(acked);
  std::sort(acks.begin(), acks.end());
  absl::Duration longest_gap = absl::ZeroDuration();
  absl::Time gap_from;
  for (size_t i = 1; i < acks.size(); ++i) {
    if (acks[i] - acks[i - 1] > longest_gap) {
      longest_gap = acks[i] - acks[i - 1];
      gap_from = acks[i - 1];
    }
  }
  int lost = 0;
  auto stub = nodes.Transit(nodes.size() - 1);
  for (const std::string& name : log.keys) {
    v1::GetKeyRequest request;
    request.set_name(name);
    v1::Key key;
    if (!Call([&](auto* c) { return stub->GetKey(c, request, &key); }).ok()) ++lost;
  }
  std::printf("  %-44s kill -9 to promoted %.2f s\n", "failover (3 nodes, CreateKey load)",
              promoted_s);
  if (after.has_value()) {
    std::printf("  %-44s %.2f s without service (longest gap between acknowledgements, from "
                "%+.2f s after the kill); %.2f s from the kill to the first write sent after "
                "it acknowledged\n",
                "", absl::ToDoubleSeconds(longest_gap), absl::ToDoubleSeconds(gap_from - killed),
                absl::ToDoubleSeconds(*after - killed));
  } else {
    std::printf("  %-44s NO SERVICE within 60 s\n", "");
  }
  std::printf("  %-44s %zu acknowledged, %d requests failed, %d acknowledged but lost\n", "",
              log.keys.size(), log.failed, lost);
}

// The setups, in the folder TEST_TMPDIR names; everything is stopped when it returns.
void RunSetups(const ClusterPhaseOptions& options) {
  // One token per backend, each database starts its own key hierarchy; made one after the
  // other (a token points SOFTHSM2_CONF, which the nodes inherit, at its own directory).
  auto sqlite_token = hsm::testing::SoftHsmToken::Create("bench-cluster-sqlite");
  if (!sqlite_token.ok()) Die(std::string(sqlite_token.status().message()));
  std::printf("\nCluster (real strongroomd processes on loopback sharing a SoftHSM token; %d "
              "calls in flight spread over the nodes; CPU per request of the strongroomd "
              "nodes, of PostgreSQL's processes, and of the whole machine, clients included)\n",
              options.clients);
  {
    Nodes sqlite(*sqlite_token, "sqlite", "");
    sqlite.Add();
    CreateKey(*sqlite.Transit(0), "bench");
    MeasureEncrypt("SQLite, 1 node", sqlite, /*pg_port=*/0, options);
    MeasureKeyWrites("SQLite", sqlite);
  }

  auto pg_token = hsm::testing::SoftHsmToken::Create("bench-cluster-pg");
  if (!pg_token.ok()) Die(std::string(pg_token.status().message()));
  auto primary = PostgresCluster::Start({.name = "bench-primary"});
  if (!primary.ok()) Die(absl::StrCat("PostgreSQL: ", primary.status().message()));
  auto standby = PostgresCluster::StartStandby(**primary, {.name = "bench_standby"});
  if (!standby.ok()) Die(absl::StrCat("standby: ", standby.status().message()));
  if (!(*primary)->Query("ALTER SYSTEM SET synchronous_standby_names = 'bench_standby'").ok() ||
      !(*primary)->Query("SELECT pg_reload_conf()").ok()) {
    Die("cannot make the standby synchronous");
  }
  const std::string storage = absl::StrCat(
      "storage:\n  postgres:\n    conninfo: \"host=127.0.0.1,127.0.0.1 port=", (*primary)->port(),
      ",", (*standby)->port(),
      " user=sr dbname=strongroom target_session_attrs=read-write connect_timeout=2\"\n"
      "    password_file: ",
      (*primary)->PasswordFile(),
      "\n"
      // The policy of the tokens whose revocation is timed.
      "auth:\n  policies:\n    - name: bench\n      rules:\n        - resource: \"*\"\n"
      "          operations: [\"*\"]\n");
  Nodes pg(*pg_token, "pg", storage);
  pg.Add();
  CreateKey(*pg.Transit(0), "bench");
  MeasureEncrypt("PostgreSQL, 1 node", pg, (*primary)->port(), options);
  MeasureKeyWrites("PostgreSQL", pg);
  pg.Add();
  MeasureEncrypt("PostgreSQL, 2 nodes", pg, (*primary)->port(), options);
  pg.Add();
  MeasureEncrypt("PostgreSQL, 3 nodes", pg, (*primary)->port(), options);
  MeasurePropagation(pg);
  MeasureFailover(pg, **primary, **standby);
}

}  // namespace

void RunClusterPhase(const ClusterPhaseOptions& options) {
  // A fresh folder for the tokens and databases of this run (the test helpers put theirs
  // under TEST_TMPDIR), removed afterwards.
  std::string dir = "/tmp/strongroom-bench-cluster.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) Die("cannot create a folder under /tmp");
  setenv("TEST_TMPDIR", dir.c_str(), 1);
  RunSetups(options);
  if (std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) != 0) Die("cannot remove " + dir);
}

}  // namespace strongroom::bench
