// Cluster consistency end to end: three real strongroomd nodes share one SoftHSM token and
// one PostgreSQL database (cache bound 1 s, max_encryptions_per_version 64). A change made
// on one node is honoured by the others: keys created and rotated, a revoked token, a raised
// min_decryption_version, a rotated root key. The time until another node honours a
// revocation or a min_decryption_version is measured and printed, and must be within the
// bound. Concurrent rotations and config changes from every node end in one version list;
// concurrent encryptions on every node never use a version more than the limit allows.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/system.grpc.pb.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using testing::PostgresCluster;
using testing::Process;

constexpr int kNodes = 3;
constexpr uint64_t kMaxEncryptions = 64;
constexpr absl::Duration kBound = absl::Seconds(1);
// Time a refused call may take to start after the bound passed (the poll's own call).
constexpr absl::Duration kCallSlack = absl::Milliseconds(100);

class ClusterE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto token = hsm::testing::SoftHsmToken::Create("cluster");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
    auto db = PostgresCluster::Start({.name = "cluster-db"});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = db->release();
    for (int node = 0; node < kNodes; ++node) {
      const std::string config = absl::StrCat(token_->dir, "/node", node, ".yaml");
      const std::string yaml = absl::StrCat(
          "state_dir: ", State(node), "\nhsm:\n  token_label: ", token_->label,
          "\n  pin_file: ", token_->pin_file, "\ngrpc:\n  address: 127.0.0.1:0\n",
          "transit:\n  max_encryptions_per_version: ", kMaxEncryptions, "\n",
          "auth:\n  policies:\n    - name: cluster-test\n      rules:\n",
          "        - resource: \"*\"\n          operations: [read]\n",
          "storage:\n  postgres:\n    conninfo: \"host=127.0.0.1 port=", db_->port(),
          " user=sr dbname=strongroom connect_timeout=2\"\n    password_file: ",
          db_->PasswordFile(), "\n    cache_freshness_ms: ", absl::ToInt64Milliseconds(kBound),
          "\n");
      ASSERT_TRUE(hsm::testing::WriteFile(config, yaml, 0600).ok());
      servers_[node] = new Process();
      ports_[node] = testing::StartStrongroomd(*servers_[node], config).grpc;
      ASSERT_NE(ports_[node], 0) << servers_[node]->output();
    }
    root_token_ = new std::string(testing::RootToken(State(0)));
  }

  static void TearDownTestSuite() {
    for (Process*& server : servers_) {
      if (server == nullptr) continue;
      server->Signal(SIGTERM);
      server->Wait();
      delete server;
      server = nullptr;
    }
    delete db_;
    delete token_;
    delete root_token_;
  }

  static std::string State(int node) { return absl::StrCat(token_->dir, "/node", node); }

  static std::shared_ptr<grpc::Channel> Channel(int node, const std::string& token = "") {
    return testing::ServerChannel(State(node), ports_[node],
                                  token.empty() ? *root_token_ : token);
  }
  static std::unique_ptr<v1::Transit::Stub> Transit(int node) {
    return v1::Transit::NewStub(Channel(node));
  }

  // A new token (policy cluster-test) created on node 0.
  static absl::StatusOr<v1::CreateTokenResponse> NewToken() {
    grpc::ClientContext ctx;
    v1::CreateTokenRequest request;
    request.add_policies("cluster-test");
    request.mutable_ttl()->set_seconds(600);
    v1::CreateTokenResponse created;
    grpc::Status s = v1::Auth::NewStub(Channel(0))->CreateToken(&ctx, request, &created);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    return created;
  }
  static grpc::Status LookupSelf(int node, const std::string& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::TokenInfo info;
    return v1::Auth::NewStub(Channel(node, token))->LookupSelf(&ctx, v1::LookupSelfRequest(), &info);
  }

  static grpc::Status CreateKey(int node, const std::string& name) {
    grpc::ClientContext ctx;
    v1::CreateKeyRequest request;
    request.set_name(name);
    v1::Key key;
    return Transit(node)->CreateKey(&ctx, request, &key);
  }
  static grpc::Status Rotate(int node, const std::string& name, v1::Key* key = nullptr) {
    grpc::ClientContext ctx;
    v1::RotateKeyRequest request;
    request.set_name(name);
    v1::Key local;
    return Transit(node)->RotateKey(&ctx, request, key != nullptr ? key : &local);
  }
  static absl::StatusOr<v1::Key> GetKey(int node, const std::string& name) {
    grpc::ClientContext ctx;
    v1::GetKeyRequest request;
    request.set_name(name);
    v1::Key key;
    grpc::Status s = Transit(node)->GetKey(&ctx, request, &key);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    return key;
  }
  // One encryption; the ciphertext, or the error.
  static absl::StatusOr<std::string> Encrypt(v1::Transit::Stub& stub, const std::string& name) {
    grpc::ClientContext ctx;
    v1::EncryptRequest request;
    request.set_key_name(name);
    request.add_items()->set_plaintext("cluster plaintext");
    v1::EncryptResponse response;
    grpc::Status s = stub.Encrypt(&ctx, request, &response);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    if (response.results_size() != 1 || response.results(0).has_error()) {
      return absl::UnknownError(response.results_size() == 1
                                    ? response.results(0).error().message()
                                    : "no result");
    }
    return response.results(0).ciphertext();
  }
  static absl::StatusOr<std::string> Encrypt(int node, const std::string& name) {
    return Encrypt(*Transit(node), name);
  }
  // The plaintext, or the error (of the call or the item).
  static absl::StatusOr<std::string> Decrypt(int node, const std::string& name,
                                             const std::string& ciphertext) {
    grpc::ClientContext ctx;
    v1::DecryptRequest request;
    request.set_key_name(name);
    request.add_items()->set_ciphertext(ciphertext);
    v1::DecryptResponse response;
    grpc::Status s = Transit(node)->Decrypt(&ctx, request, &response);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    if (response.results_size() != 1 || response.results(0).has_error()) {
      return absl::UnknownError(response.results_size() == 1
                                    ? response.results(0).error().message()
                                    : "no result");
    }
    return response.results(0).plaintext();
  }
  static uint32_t VersionOf(const std::string& ciphertext) {
    std::vector<std::string> parts = absl::StrSplit(ciphertext, ':');
    uint32_t version = 0;
    if (parts.size() != 3 || parts[1].size() < 2 ||
        !absl::SimpleAtoi(parts[1].substr(1), &version)) {
      return 0;
    }
    return version;
  }

  // Calls `refused` every 10 ms until it returns true; the time from `since` to the start
  // of the first call that did (InfiniteDuration if none within 10 s).
  template <typename F>
  static absl::Duration TimeUntilRefused(absl::Time since, F refused) {
    const absl::Time deadline = since + absl::Seconds(10);
    while (absl::Now() < deadline) {
      const absl::Time start = absl::Now();
      if (refused()) return start - since;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return absl::InfiniteDuration();
  }

  static hsm::testing::SoftHsmToken* token_;
  static PostgresCluster* db_;
  static Process* servers_[kNodes];
  static int ports_[kNodes];
  static std::string* root_token_;
};

hsm::testing::SoftHsmToken* ClusterE2eTest::token_ = nullptr;
PostgresCluster* ClusterE2eTest::db_ = nullptr;
Process* ClusterE2eTest::servers_[kNodes] = {};
int ClusterE2eTest::ports_[kNodes] = {};
std::string* ClusterE2eTest::root_token_ = nullptr;

TEST_F(ClusterE2eTest, KeyCreatedAndRotatedOnOneNodeIsUsedOnTheOthers) {
  ASSERT_TRUE(CreateKey(0, "shared").ok());
  std::vector<std::string> v1_ciphertexts;
  for (int node = 1; node < kNodes; ++node) {
    absl::StatusOr<std::string> c = Encrypt(node, "shared");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(VersionOf(*c), 1u);
    v1_ciphertexts.push_back(*c);
  }
  ASSERT_TRUE(Rotate(0, "shared").ok());
  const absl::Time rotated = absl::Now();
  // Every node encrypts under version 2 within the bound.
  for (int node = 1; node < kNodes; ++node) {
    absl::Duration took = TimeUntilRefused(rotated, [&] {
      absl::StatusOr<std::string> c = Encrypt(node, "shared");
      return c.ok() && VersionOf(*c) == 2;
    });
    EXPECT_LE(took, kBound + kCallSlack) << "node " << node;
    std::printf("cluster: node %d encrypts under the rotated version after %s\n", node,
                absl::FormatDuration(took).c_str());
  }
  for (const std::string& c : v1_ciphertexts) {
    absl::StatusOr<std::string> plain = Decrypt(0, "shared", c);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(*plain, "cluster plaintext");
  }
}

TEST_F(ClusterE2eTest, RevokedTokenIsRefusedOnAnotherNodeWithinTheBound) {
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<v1::CreateTokenResponse> created = NewToken();
    ASSERT_TRUE(created.ok()) << created.status();
    auto lookup_on_1 = [&] { return LookupSelf(1, created->token()); };
    // Node 1 verifies the token (and caches the verdict).
    ASSERT_TRUE(lookup_on_1().ok());
    ASSERT_TRUE(lookup_on_1().ok());
    {
      grpc::ClientContext ctx;
      v1::RevokeTokenRequest request;
      request.set_accessor(created->info().accessor());
      v1::RevokeTokenResponse response;
      ASSERT_TRUE(v1::Auth::NewStub(Channel(0))->RevokeToken(&ctx, request, &response).ok());
    }
    const absl::Time revoked = absl::Now();
    absl::Duration took = TimeUntilRefused(revoked, [&] {
      return lookup_on_1().error_code() == grpc::StatusCode::UNAUTHENTICATED;
    });
    std::printf("cluster: a token revoked on node 0 is refused on node 1 after %s (bound %s)\n",
                absl::FormatDuration(took).c_str(), absl::FormatDuration(kBound).c_str());
    EXPECT_LE(took, kBound + kCallSlack);
  }
}

TEST_F(ClusterE2eTest, RaisedMinDecryptionVersionIsRefusedOnAnotherNodeWithinTheBound) {
  ASSERT_TRUE(CreateKey(0, "min-dec").ok());
  absl::StatusOr<std::string> old = Encrypt(0, "min-dec");
  ASSERT_TRUE(old.ok()) << old.status();
  ASSERT_TRUE(Rotate(0, "min-dec").ok());
  // Node 1 decrypts the version-1 ciphertext (its snapshot and material are now cached).
  ASSERT_TRUE(Decrypt(1, "min-dec", *old).ok());
  {
    grpc::ClientContext ctx;
    v1::UpdateKeyConfigRequest request;
    request.set_name("min-dec");
    request.set_min_decryption_version(2);
    v1::Key key;
    ASSERT_TRUE(Transit(0)->UpdateKeyConfig(&ctx, request, &key).ok());
  }
  const absl::Time raised = absl::Now();
  absl::Duration took =
      TimeUntilRefused(raised, [&] { return !Decrypt(1, "min-dec", *old).ok(); });
  std::printf(
      "cluster: min_decryption_version raised on node 0 is honoured on node 1 after %s "
      "(bound %s)\n",
      absl::FormatDuration(took).c_str(), absl::FormatDuration(kBound).c_str());
  EXPECT_LE(took, kBound + kCallSlack);
  EXPECT_FALSE(Decrypt(2, "min-dec", *old).ok());
}

TEST_F(ClusterE2eTest, ConcurrentRotationsAndConfigChangesEndInOneVersionList) {
  ASSERT_TRUE(CreateKey(0, "contended").ok());
  constexpr int kRotationsPerNode = 6;
  std::vector<std::thread> threads;
  int failures[kNodes] = {};
  for (int node = 0; node < kNodes; ++node) {
    threads.emplace_back([&, node] {
      for (int i = 0; i < kRotationsPerNode; ++i) {
        if (!Rotate(node, "contended").ok()) ++failures[node];
        grpc::ClientContext ctx;
        v1::UpdateKeyConfigRequest request;
        request.set_name("contended");
        request.set_deletion_allowed(i % 2 == 0);
        v1::Key key;
        if (!Transit(node)->UpdateKeyConfig(&ctx, request, &key).ok()) ++failures[node];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int node = 0; node < kNodes; ++node) EXPECT_EQ(failures[node], 0) << "node " << node;
  absl::SleepFor(kBound);
  absl::StatusOr<v1::Key> first = GetKey(0, "contended");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->latest_version(), 1u + kNodes * kRotationsPerNode);
  for (int node = 1; node < kNodes; ++node) {
    absl::StatusOr<v1::Key> key = GetKey(node, "contended");
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->SerializeAsString(), first->SerializeAsString()) << "node " << node;
  }
  // Every version encrypts on one node and decrypts on another.
  for (uint32_t version = 1; version <= first->latest_version(); ++version) {
    grpc::ClientContext ctx;
    v1::EncryptRequest request;
    request.set_key_name("contended");
    request.set_key_version(version);
    request.add_items()->set_plaintext("cluster plaintext");
    v1::EncryptResponse response;
    ASSERT_TRUE(Transit(static_cast<int>(version) % kNodes)->Encrypt(&ctx, request, &response).ok());
    ASSERT_EQ(response.results_size(), 1);
    absl::StatusOr<std::string> plain = Decrypt((static_cast<int>(version) + 1) % kNodes,
                                                "contended", response.results(0).ciphertext());
    ASSERT_TRUE(plain.ok()) << "version " << version << ": " << plain.status();
  }
}

TEST_F(ClusterE2eTest, CounterBlocksNeverOverlapAndTheKeyRotatesWhenDue) {
  ASSERT_TRUE(CreateKey(0, "counted").ok());
  constexpr int kPerNode = 100;
  std::vector<std::string> ciphertexts[kNodes];
  std::vector<std::thread> threads;
  for (int node = 0; node < kNodes; ++node) {
    threads.emplace_back([&, node] {
      auto stub = Transit(node);
      for (int i = 0; i < kPerNode; ++i) {
        absl::StatusOr<std::string> c = Encrypt(*stub, "counted");
        if (c.ok()) ciphertexts[node].push_back(*c);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::map<uint32_t, uint64_t> per_version;
  size_t total = 0;
  for (const auto& list : ciphertexts) {
    for (const std::string& c : list) ++per_version[VersionOf(c)];
    total += list.size();
  }
  EXPECT_EQ(total, size_t{kNodes} * kPerNode);
  absl::StatusOr<v1::Key> key = GetKey(0, "counted");
  ASSERT_TRUE(key.ok()) << key.status();
  std::string figures;
  // A node leaves at most the rest of its block (max/16) unused when another rotates.
  const uint64_t block = kMaxEncryptions / 16;
  for (const auto& [version, count] : per_version) {
    absl::StrAppend(&figures, " v", version, "=", count);
    EXPECT_LE(count, kMaxEncryptions) << "version " << version << " passed its limit";
    if (version < key->latest_version()) {
      EXPECT_GE(count, kMaxEncryptions - kNodes * block)
          << "version " << version << " rotated early";
    }
  }
  std::printf("cluster: %zu encryptions on %d nodes, limit %llu per version:%s\n", total, kNodes,
              static_cast<unsigned long long>(kMaxEncryptions), figures.c_str());
  EXPECT_GE(key->latest_version(), (total + kMaxEncryptions - 1) / kMaxEncryptions);
}

TEST_F(ClusterE2eTest, RootKeyRotatedOnOneNodeIsUsedByTheOthers) {
  auto status_of = [](int node) {
    grpc::ClientContext ctx;
    v1::Status status;
    EXPECT_TRUE(
        v1::System::NewStub(Channel(node))->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok());
    return status;
  };
  const uint32_t before = status_of(0).kek_version();
  {
    grpc::ClientContext ctx;
    v1::Status status;
    ASSERT_TRUE(v1::System::NewStub(Channel(0))
                    ->RotateRootKey(&ctx, v1::RotateRootKeyRequest(), &status)
                    .ok());
    EXPECT_EQ(status.kek_version(), before + 1);
  }
  absl::SleepFor(kBound);
  for (int node = 1; node < kNodes; ++node) {
    EXPECT_EQ(status_of(node).kek_version(), before + 1) << "node " << node;
    // A key created there now is wrapped under the new KEK and usable everywhere.
    const std::string name = absl::StrCat("after-kek-", node);
    ASSERT_TRUE(CreateKey(node, name).ok());
    absl::StatusOr<std::string> c = Encrypt(node, name);
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<std::string> plain = Decrypt((node + 1) % kNodes, name, *c);
    ASSERT_TRUE(plain.ok()) << plain.status();
  }
}

TEST_F(ClusterE2eTest, NodeThatCannotConfirmFreshnessRefusesRatherThanServeItsCache) {
  absl::StatusOr<v1::CreateTokenResponse> created = NewToken();
  ASSERT_TRUE(created.ok()) << created.status();
  auto lookup_on_1 = [&] { return LookupSelf(1, created->token()); };
  ASSERT_TRUE(CreateKey(0, "offline").ok());
  ASSERT_TRUE(lookup_on_1().ok());  // verified and cached on node 1
  absl::StatusOr<std::string> c = Encrypt(1, "offline");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(Decrypt(1, "offline", *c).ok());  // key snapshot and material cached

  ASSERT_TRUE(db_->Stop().ok());
  absl::SleepFor(kBound + kCallSlack);
  // Nothing confirms that the token was not revoked or the key not changed: refused.
  grpc::Status looked = lookup_on_1();
  EXPECT_FALSE(looked.ok()) << "a cached token verdict was served without the database";
  EXPECT_FALSE(Decrypt(1, "offline", *c).ok())
      << "a cached key was served without the database";
  std::printf("cluster: with the database down, node 1 refuses a cached token (%s: %s)\n",
              looked.ok() ? "OK" : "refused", looked.error_message().c_str());

  ASSERT_TRUE(db_->Restart().ok());
  const absl::Time back = absl::Now();
  while (!lookup_on_1().ok() && absl::Now() - back < absl::Seconds(20)) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(lookup_on_1().ok());
  absl::StatusOr<std::string> plain = Decrypt(1, "offline", *c);
  EXPECT_TRUE(plain.ok()) << plain.status();
}

// Last: it kills a node.
TEST_F(ClusterE2eTest, StatusShowsTheNodesAndTheLeaseMovesWhenItsNodeIsKilled) {
  auto status_of = [](int node, v1::Status* status) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return v1::System::NewStub(Channel(node))->GetStatus(&ctx, v1::GetStatusRequest(), status);
  };
  // Every node heartbeats again and its cache has caught up with the change feed (the test
  // before stopped the database for a while; heartbeats can resume before the feed's next
  // poll, so a status read in between shows a cache age past the bound).
  auto all_live = [&] {
    for (int node = 0; node < kNodes; ++node) {
      v1::Status status;
      if (!status_of(node, &status).ok() || status.cluster().live_nodes_size() != kNodes ||
          status.cluster().cache_age_ms() > absl::ToInt64Milliseconds(kBound)) {
        return false;
      }
    }
    return true;
  };
  const absl::Time waiting = absl::Now();
  while (!all_live() && absl::Now() - waiting < absl::Seconds(15)) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  int holder = -1;
  std::set<std::string> ids;
  for (int node = 0; node < kNodes; ++node) {
    v1::Status status;
    ASSERT_TRUE(status_of(node, &status).ok());
    const v1::ClusterInfo& cluster = status.cluster();
    EXPECT_EQ(status.storage().backend(), "postgres");
    EXPECT_EQ(status.storage().server(), absl::StrCat("127.0.0.1:", db_->port()));
    EXPECT_FALSE(cluster.node_id().empty());  // server.node_id, as in its audit lines
    EXPECT_EQ(cluster.live_nodes_size(), kNodes) << status.DebugString();
    EXPECT_LE(cluster.cache_age_ms(), absl::ToInt64Milliseconds(kBound));
    ids.insert(cluster.node_id());
    if (cluster.lease_holder()) {
      EXPECT_EQ(holder, -1) << "two nodes hold the lease";
      holder = node;
    }
  }
  EXPECT_EQ(ids.size(), size_t{kNodes});
  ASSERT_NE(holder, -1) << "no node holds the lease";

  servers_[holder]->Signal(SIGKILL);
  servers_[holder]->Wait();
  const absl::Time killed = absl::Now();
  delete servers_[holder];
  servers_[holder] = nullptr;
  int next = -1;
  uint64_t epoch = 0;
  absl::Duration took = absl::InfiniteDuration();
  while (next == -1 && absl::Now() - killed < absl::Seconds(30)) {
    for (int node = 0; node < kNodes && next == -1; ++node) {
      v1::Status status;
      if (node == holder || !status_of(node, &status).ok()) continue;
      if (status.cluster().lease_holder()) {
        next = node;
        epoch = status.cluster().lease_epoch();
        took = absl::Now() - killed;
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_NE(next, -1) << "the lease never moved";
  std::printf("cluster: the background lease moved from node %d to node %d (epoch %llu) %s "
              "after node %d was killed (lease 5s, heartbeat 1s)\n",
              holder, next, static_cast<unsigned long long>(epoch),
              absl::FormatDuration(took).c_str(), holder);
  EXPECT_LE(took, absl::Seconds(5) + absl::Seconds(2));
  EXPECT_GE(epoch, 2u);
  // The dead node drops out of the live nodes.
  absl::SleepFor(absl::Seconds(4));
  v1::Status status;
  ASSERT_TRUE(status_of(next, &status).ok());
  EXPECT_EQ(status.cluster().live_nodes_size(), kNodes - 1) << status.DebugString();
}

}  // namespace
}  // namespace strongroom
