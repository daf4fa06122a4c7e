// The background lease fences the background jobs' own writes, end to end: two real
// strongroomd nodes on one real PostgreSQL database auto-rotate kKeys keys whose period is
// 1 s, so the lease holder is nearly always inside a rotation sweep. The holder is frozen
// (SIGSTOP) past its lease, the other node takes the lease over and is frozen in turn (so
// nothing else writes), then the former holder resumes in the middle of its sweep: none of
// its rotations may land (the stored entries stay exactly as they were) and it reports the
// lease lost. Without the fence (rotations that do not require the lease) the resumed sweep
// lands its rotations and this test fails.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/system.grpc.pb.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using testing::PostgresCluster;
using testing::Process;

constexpr int kKeys = 300;
// What the resumed node is given to land a write: well inside the new holder's lease (5 s).
constexpr absl::Duration kResumedFor = absl::Seconds(2);

class LeaseFenceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("fence");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    auto db = PostgresCluster::Start({.name = "fence-db"});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    for (int node = 0; node < 2; ++node) {
      const std::string config = absl::StrCat(token_->dir, "/node", node, ".yaml");
      const std::string yaml = absl::StrCat(
          "state_dir: ", State(node), "\nhsm:\n  token_label: ", token_->label,
          "\n  pin_file: ", token_->pin_file, "\ngrpc:\n  address: 127.0.0.1:0\n",
          "transit:\n  min_auto_rotate_period: 1s\n  auto_rotate_check_interval: 100ms\n",
          "storage:\n  postgres:\n    conninfo: \"host=127.0.0.1 port=", db_->port(),
          " user=sr dbname=strongroom connect_timeout=2\"\n    password_file: ",
          db_->PasswordFile(), "\n");
      ASSERT_TRUE(hsm::testing::WriteFile(config, yaml, 0600).ok());
      servers_[node] = std::make_unique<Process>();
      ports_[node] = testing::StartStrongroomd(*servers_[node], config).grpc;
      ASSERT_NE(ports_[node], 0) << servers_[node]->output();
    }
    root_token_ = testing::RootToken(State(0));
  }

  void TearDown() override {
    for (std::unique_ptr<Process>& server : servers_) {
      if (server == nullptr) continue;
      server->Signal(SIGCONT);
      server->Signal(SIGTERM);
      server->Wait();
    }
  }

  std::string State(int node) const { return absl::StrCat(token_->dir, "/node", node); }
  std::shared_ptr<grpc::Channel> Channel(int node) const {
    return testing::ServerChannel(State(node), ports_[node], root_token_);
  }

  // Whether `node` holds the background lease (and its epoch), by its GetStatus.
  bool HoldsLease(int node, uint64_t* epoch = nullptr) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::Status status;
    auto system = v1::System::NewStub(Channel(node));
    if (!system->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok()) return false;
    if (epoch != nullptr) *epoch = status.cluster().lease_epoch();
    return status.cluster().lease_holder();
  }

  // What is stored, as far as any write would change it: the number of entries and the
  // highest revision (revisions grow with every committed batch).
  std::string Stored() const {
    absl::StatusOr<std::string> stored = db_->Query(
        "SELECT count(*) || ' entries, revision ' || coalesce(max(revision), 0) "
        "FROM strongroom_entries");
    return stored.ok() ? *stored : stored.status().ToString();
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::unique_ptr<PostgresCluster> db_;
  std::unique_ptr<Process> servers_[2];
  int ports_[2] = {};
  std::string root_token_;
};

TEST_F(LeaseFenceE2eTest, NodeThatLostTheLeaseWhilePausedLandsNoJobWrite) {
  {
    auto transit = v1::Transit::NewStub(Channel(0));
    for (int i = 0; i < kKeys; ++i) {
      grpc::ClientContext ctx;
      v1::CreateKeyRequest request;
      request.set_name(absl::StrCat("auto-", i));
      request.mutable_auto_rotate_period()->set_seconds(1);
      v1::Key key;
      grpc::Status s = transit->CreateKey(&ctx, request, &key);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  // The holder may be between two sweeps when it is frozen; then nothing was in flight to
  // fence, and the round is repeated (the roles swap) until a sweep was caught.
  bool caught_in_flight = false;
  for (int round = 0; round < 4 && !caught_in_flight; ++round) {
    int holder = -1;
    const absl::Time waiting = absl::Now();
    while (holder == -1 && absl::Now() - waiting < absl::Seconds(15)) {
      for (int node = 0; node < 2 && holder == -1; ++node) {
        if (HoldsLease(node)) holder = node;
      }
      if (holder == -1) absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_NE(holder, -1) << "no node holds the lease";
    const int other = 1 - holder;
    absl::SleepFor(absl::Milliseconds(700));  // well into a sweep
    servers_[holder]->Signal(SIGSTOP);
    const absl::Time frozen = absl::Now();
    uint64_t epoch = 0;
    while (!HoldsLease(other, &epoch) && absl::Now() - frozen < absl::Seconds(15)) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_LT(absl::Now() - frozen, absl::Seconds(15)) << "node " << other << " never took over";
    const absl::Duration takeover = absl::Now() - frozen;
    servers_[other]->Signal(SIGSTOP);
    // A COMMIT the new holder sent before it froze completes on the server meanwhile.
    absl::SleepFor(absl::Milliseconds(300));
    const std::string before = Stored();
    const size_t log_mark = servers_[holder]->output().size();
    servers_[holder]->Signal(SIGCONT);
    absl::SleepFor(kResumedFor);
    const std::string after = Stored();
    const std::string resumed_log = servers_[holder]->output().substr(log_mark);
    servers_[other]->Signal(SIGCONT);
    EXPECT_EQ(after, before) << "a background write of node " << holder
                             << " landed after node " << other << " took the lease over\n"
                             << resumed_log;
    caught_in_flight = absl::StrContains(resumed_log, "is no longer held");
    std::printf("lease_fence: round %d: node %d frozen, node %d took the lease (epoch %llu) "
                "after %s, node %d resumed for %s: stored %s -> %s; sweep in flight %s\n",
                round, holder, other, static_cast<unsigned long long>(epoch),
                absl::FormatDuration(takeover).c_str(), holder,
                absl::FormatDuration(kResumedFor).c_str(), before.c_str(), after.c_str(),
                caught_in_flight ? "and refused" : "none");
  }
  EXPECT_TRUE(caught_in_flight) << "no round froze a node in the middle of a sweep";
}

}  // namespace
}  // namespace strongroom
