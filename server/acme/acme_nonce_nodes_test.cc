// Replay nonces held by storage: single use across two nodes on one database and across a
// restart, on SQLite and on a throwaway PostgreSQL cluster (tests/testing/storage_backends.h).
// Each node is its own Storage connection with its own AcmeStore (and so its own group
// commit), as two strongroomd processes would have.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/acme/acme_store.h"
#include "tests/testing/storage_backends.h"

namespace strongroom::server::acme {
namespace {

struct Node {
  std::unique_ptr<kms::Storage> storage;
  std::unique_ptr<AcmeStore> store;
};

class AcmeNonceNodesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = strongroom::testing::MakeStorageBackend(GetParam());
    absl::Status status =
        backend_->NewDatabase(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(status.ok()) << status;
  }

  Node OpenNode() {
    absl::StatusOr<std::unique_ptr<kms::Storage>> storage = backend_->Open();
    EXPECT_TRUE(storage.ok()) << storage.status();
    if (!storage.ok()) return {};
    Node node{*std::move(storage), nullptr};
    node.store = std::make_unique<AcmeStore>(node.storage.get(), AcmeStoreOptions{});
    return node;
  }

  bool Consume(Node& node, const std::string& nonce) {
    absl::StatusOr<bool> fresh = node.store->ConsumeNonce(nonce, absl::Now());
    EXPECT_TRUE(fresh.ok()) << fresh.status();
    return fresh.ok() && *fresh;
  }

  std::unique_ptr<strongroom::testing::StorageBackend> backend_;
};

TEST_P(AcmeNonceNodesTest, ANonceIsUsableOnceOnEitherNode) {
  Node a = OpenNode(), b = OpenNode();
  ASSERT_TRUE(a.store && b.store);
  absl::StatusOr<std::string> from_a = a.store->NewNonce(absl::Now());
  absl::StatusOr<std::string> from_b = b.store->NewNonce(absl::Now());
  ASSERT_TRUE(from_a.ok() && from_b.ok());
  // Issued on one node, accepted on the other (it was durable before it was handed out),
  // then refused on both.
  EXPECT_TRUE(Consume(b, *from_a));
  EXPECT_FALSE(Consume(a, *from_a));
  EXPECT_FALSE(Consume(b, *from_a));
  EXPECT_TRUE(Consume(a, *from_b));
  EXPECT_FALSE(Consume(b, *from_b));
}

// Requests on both nodes racing with one nonce: exactly one wins, for each of many nonces.
TEST_P(AcmeNonceNodesTest, RacingNodesWinOnce) {
  Node a = OpenNode(), b = OpenNode();
  ASSERT_TRUE(a.store && b.store);
  constexpr int kNonces = 20;
  constexpr int kThreadsPerNode = 4;
  std::vector<std::string> nonces;
  for (int i = 0; i < kNonces; ++i) {
    absl::StatusOr<std::string> nonce = (i % 2 ? a : b).store->NewNonce(absl::Now());
    ASSERT_TRUE(nonce.ok()) << nonce.status();
    nonces.push_back(*nonce);
  }
  std::vector<std::atomic<int>> wins(kNonces);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerNode; ++t) {
    Node& node = t % 2 ? a : b;
    threads.emplace_back([&, t] {
      for (int i = 0; i < kNonces; ++i) {
        // Threads walk the nonces from different starting points so the races vary.
        const int n = (i + t) % kNonces;
        absl::StatusOr<bool> fresh = node.store->ConsumeNonce(nonces[n], absl::Now());
        if (fresh.ok() && *fresh) ++wins[n];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kNonces; ++i) EXPECT_EQ(wins[i].load(), 1) << "nonce " << i;
}

// A restart forgets nothing: a used nonce stays used, an unused one stays usable once.
TEST_P(AcmeNonceNodesTest, ReplayAfterRestartIsRefused) {
  std::string used, unused;
  {
    Node node = OpenNode();
    ASSERT_TRUE(node.store);
    absl::StatusOr<std::string> first = node.store->NewNonce(absl::Now());
    absl::StatusOr<std::string> second = node.store->NewNonce(absl::Now());
    ASSERT_TRUE(first.ok() && second.ok());
    used = *first;
    unused = *second;
    ASSERT_TRUE(Consume(node, used));
  }
  Node restarted = OpenNode();
  ASSERT_TRUE(restarted.store);
  EXPECT_FALSE(Consume(restarted, used));
  EXPECT_TRUE(Consume(restarted, unused));
  EXPECT_FALSE(Consume(restarted, unused));
}

INSTANTIATE_TEST_SUITE_P(Backends, AcmeNonceNodesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strongroom::server::acme
