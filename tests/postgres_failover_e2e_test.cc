// Failover end to end: three real strongroomd nodes share one SoftHSM token and a
// PostgreSQL primary with a synchronous streaming standby. Clients (the real `strongroom`
// CLI) create keys and encrypt under them on every node, recording each acknowledged
// write; the primary's postmaster is killed with SIGKILL and the standby promoted
// (pg_promote). The nodes reconnect by themselves (two hosts in the connection string,
// target_session_attrs=read-write); afterwards every acknowledged key is present and every
// acknowledged ciphertext decrypts, on another node than the one that wrote it. Each node's
// own audit log (its node id in every line) then verifies with the others' in one
// `strongroom audit verify`, one chain per node.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using testing::PostgresCluster;
using testing::Process;
using testing::RunCommand;
using testing::Runfile;

constexpr int kNodes = 3;
constexpr size_t kWritesPerPhase = 4;  // acknowledged per node before and after the failover

struct Write {
  std::string key;
  std::string ciphertext;
};

struct Client {
  absl::Mutex mu;
  std::vector<Write> acknowledged ABSL_GUARDED_BY(mu);
  std::vector<absl::Time> ack_times ABSL_GUARDED_BY(mu);
  int failed ABSL_GUARDED_BY(mu) = 0;
  size_t acks() {
    absl::MutexLock lock(&mu);
    return acknowledged.size();
  }
};

class PostgresFailoverE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("pg-failover");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    plain_ = token_->dir + "/plain.bin";
    ASSERT_TRUE(hsm::testing::WriteFile(plain_, "acknowledged plaintext", 0600).ok());

    auto primary = PostgresCluster::Start({.name = "e2e-primary"});
    ASSERT_TRUE(primary.ok()) << primary.status();
    primary_ = *std::move(primary);
    auto standby = PostgresCluster::StartStandby(*primary_, {.name = "e2e_standby"});
    ASSERT_TRUE(standby.ok()) << standby.status();
    standby_ = *std::move(standby);
    ASSERT_TRUE(primary_->Query("ALTER SYSTEM SET synchronous_standby_names = 'e2e_standby'").ok());
    ASSERT_TRUE(primary_->Query("SELECT pg_reload_conf()").ok());
    bool sync = false;
    for (int i = 0; i < 300 && !sync; ++i) {
      sync = primary_->Query("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")
                 .value_or("") == "1";
      if (!sync) absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_TRUE(sync) << "the standby never became synchronous";
  }

  void TearDown() override {
    for (auto& server : servers_) {
      if (server == nullptr) continue;
      server->Signal(SIGTERM);
      server->Wait();
    }
  }

  std::string State(int node) const { return absl::StrCat(token_->dir, "/node", node); }

  // Starts node `node`; nodes start one after another (the first creates KEK 1).
  int StartNode(int node) {
    const std::string config = absl::StrCat(token_->dir, "/node", node, ".yaml");
    const std::string yaml = absl::StrCat(
        "state_dir: ", State(node), "\nhsm:\n  token_label: ", token_->label,
        "\n  pin_file: ", token_->pin_file, "\ngrpc:\n  address: 127.0.0.1:0\n",
        "storage:\n  postgres:\n    conninfo: \"host=127.0.0.1,127.0.0.1 port=", primary_->port(),
        ",", standby_->port(),
        " user=sr dbname=strongroom target_session_attrs=read-write connect_timeout=2\"\n"
        "    password_file: ",
        primary_->PasswordFile(), "\n");
    EXPECT_TRUE(hsm::testing::WriteFile(config, yaml, 0600).ok());
    servers_[node] = std::make_unique<Process>();
    const int port = testing::StartStrongroomd(*servers_[node], config).grpc;
    EXPECT_NE(port, 0) << servers_[node]->output();
    ports_[node] = port;
    return port;
  }

  // The CLI against `node`, with the bootstrap root token that node 0 wrote.
  testing::RunResult Cli(int node, std::vector<std::string> args) {
    std::vector<std::string> argv = {Runfile("tools/cli/strongroom"), "--addr",
                                     absl::StrCat("127.0.0.1:", ports_[node]), "--ca-file",
                                     testing::ServerCert(State(node))};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {{"STRONGROOM_TOKEN_FILE", State(0) + "/root-token"}},
                      absl::Seconds(30));
  }

  // Client `node`: create a key, encrypt under it; a write is acknowledged when both
  // succeeded. Failed attempts move on to a new key name.
  void RunClient(int node, Client& client, const std::atomic<bool>& stop) {
    for (int n = 0; !stop.load(); ++n) {
      const std::string key = absl::StrCat("fo-", node, "-", n);
      testing::RunResult created = Cli(node, {"key", "create", key});
      testing::RunResult encrypted;
      if (created.exit_code == 0) encrypted = Cli(node, {"encrypt", key, "--in", plain_});
      absl::MutexLock lock(&client.mu);
      if (created.exit_code == 0 && encrypted.exit_code == 0) {
        client.acknowledged.push_back(
            {key, std::string(absl::StripTrailingAsciiWhitespace(encrypted.output))});
        client.ack_times.push_back(absl::Now());
      } else {
        ++client.failed;
      }
    }
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::unique_ptr<PostgresCluster> primary_, standby_;
  std::unique_ptr<Process> servers_[kNodes];
  int ports_[kNodes] = {};
  std::string plain_;
};

TEST_F(PostgresFailoverE2eTest, NodesReconnectAndEveryAcknowledgedWriteSurvives) {
  for (int node = 0; node < kNodes; ++node) ASSERT_NE(StartNode(node), 0);

  Client clients[kNodes];
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int node = 0; node < kNodes; ++node) {
    threads.emplace_back([&, node] { RunClient(node, clients[node], stop); });
  }
  auto wait_for = [&](const std::vector<size_t>& targets) {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    for (int node = 0; node < kNodes; ++node) {
      while (clients[node].acks() < targets[node] && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  };
  wait_for(std::vector<size_t>(kNodes, kWritesPerPhase));
  ASSERT_TRUE(primary_->Kill().ok());
  const absl::Time killed_at = absl::Now();
  ASSERT_TRUE(standby_->Promote().ok());
  std::vector<size_t> targets;
  for (Client& client : clients) targets.push_back(client.acks() + kWritesPerPhase);
  wait_for(targets);
  stop = true;
  for (std::thread& thread : threads) thread.join();

  size_t acknowledged = 0, lost = 0, after = 0;
  int failed = 0;
  absl::Time first_after = absl::InfiniteFuture();
  for (int node = 0; node < kNodes; ++node) {
    absl::MutexLock lock(&clients[node].mu);
    failed += clients[node].failed;
    for (absl::Time t : clients[node].ack_times) {
      if (t >= killed_at) {
        first_after = std::min(first_after, t);
        ++after;
      }
    }
    // Read back on another node than the writer.
    const int reader = (node + 1) % kNodes;
    for (const Write& write : clients[node].acknowledged) {
      ++acknowledged;
      testing::RunResult decrypted = Cli(reader, {"decrypt", write.key, write.ciphertext});
      if (decrypted.exit_code != 0 || decrypted.output != "acknowledged plaintext") {
        ++lost;
        ADD_FAILURE() << "acknowledged write " << write.key << " written on node " << node
                      << " lost or unreadable on node " << reader << ": " << decrypted.output;
      }
    }
  }
  std::printf(
      "strongroomd failover: %zu writes acknowledged (%zu after the failover), %zu lost, "
      "%d requests failed, %.2f s from the kill to the next acknowledged write\n",
      acknowledged, after, lost, failed, absl::ToDoubleSeconds(first_after - killed_at));
  EXPECT_GE(after, kNodes * kWritesPerPhase) << "the nodes did not serve after the failover";

  // Every node kept its own audit chain through the failover; they verify together, one
  // chain per node (default node ids: <hostname>:<state dir>, as the gRPC port is 0).
  std::vector<std::string> verify = {Runfile("tools/cli/strongroom"), "audit", "verify",
                                     "--public-key",
                                     State(0) + "/audit/audit-signing.pub.pem"};
  for (int node = kNodes - 1; node >= 0; --node) {
    servers_[node]->Signal(SIGTERM);
    servers_[node]->Wait();
    servers_[node].reset();
    verify.push_back(State(node) + "/audit/audit.log");
  }
  testing::RunResult verified = RunCommand(verify, {}, absl::Seconds(30));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  for (int node = 0; node < kNodes; ++node) {
    EXPECT_THAT(verified.output,
                ::testing::HasSubstr(absl::StrCat("/node", node, "\nResult         OK\n")))
        << verified.output;
  }
}

}  // namespace
}  // namespace strongroom
