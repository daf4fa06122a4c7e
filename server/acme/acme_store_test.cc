#include "server/acme/acme_store.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kms/sqlite_storage.h"
#include "kms/testing/controlled_storage.h"

namespace strongroom::server::acme {
namespace {

class AcmeStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = kms::SqliteStorage::Open(std::string(std::getenv("TEST_TMPDIR")) + "/" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                                            ".db");
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
  }

  size_t Count(absl::string_view prefix) {
    auto entries = storage_->List(prefix, "", 0);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? entries->size() : 0;
  }

  std::unique_ptr<kms::SqliteStorage> storage_;
  const absl::Time now_ = absl::FromUnixSeconds(1800000000);
};

// An EAB key binds one account: of two accounts racing with it, exactly one is created, and
// the extra writes (the wrapped key's deletion) go with the winner's commit only.
TEST_F(AcmeStoreTest, EabKeyBindsOneAccount) {
  AcmeStore store(storage_.get(), {});
  EabRecord eab;
  eab.set_kid(AcmeStore::NewId());
  eab.set_role("web");
  kms::WriteBatch wrapped;
  wrapped.Put("test/wrapped-key", "material");
  ASSERT_TRUE(store.CreateEab(eab, std::move(wrapped)).ok());
  auto stored = store.GetEab(eab.kid());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  std::vector<absl::Status> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      AccountRecord account;
      account.set_id(AcmeStore::NewId());
      account.set_thumbprint(AcmeStore::NewId());
      account.set_eab_kid(eab.kid());
      kms::WriteBatch consume;
      consume.Delete("test/wrapped-key");
      results[i] = store.CreateAccount(account, &**stored, std::move(consume));
    });
  }
  for (std::thread& t : threads) t.join();
  size_t created = 0;
  for (const absl::Status& s : results) {
    if (s.ok()) {
      ++created;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    }
  }
  EXPECT_EQ(created, 1u);
  EXPECT_EQ(Count("acme/accounts/"), 1u);
  EXPECT_EQ(Count("test/wrapped-key"), 0u);
  auto used = store.GetEab(eab.kid());
  ASSERT_TRUE(used.ok() && used->has_value());
  EXPECT_FALSE((*used)->record.account_id().empty());
}

TEST_F(AcmeStoreTest, NonceIsSingleUse) {
  AcmeStore store(storage_.get(), {});
  auto nonce = store.NewNonce(now_);
  ASSERT_TRUE(nonce.ok());
  EXPECT_EQ(*store.ConsumeNonce(*nonce, now_), true);
  EXPECT_EQ(*store.ConsumeNonce(*nonce, now_), false);
}

TEST_F(AcmeStoreTest, NonceExpires) {
  AcmeStore store(storage_.get(), {absl::Minutes(5), 100});
  auto nonce = store.NewNonce(now_);
  ASSERT_TRUE(nonce.ok());
  EXPECT_EQ(*store.ConsumeNonce(*nonce, now_ + absl::Minutes(6)), false);
}

TEST_F(AcmeStoreTest, ForeignAndMalformedNoncesAreRefused) {
  AcmeStore store(storage_.get(), {});
  auto nonce = store.NewNonce(now_);
  ASSERT_TRUE(nonce.ok());
  std::string forged = *nonce;
  forged.back() = forged.back() == '0' ? '1' : '0';
  for (const std::string& bad : {forged, std::string(""), std::string("../../x"),
                                 std::string(48, '/'), nonce->substr(0, 47)}) {
    EXPECT_EQ(*store.ConsumeNonce(bad, now_), false) << bad;
  }
  EXPECT_EQ(*store.ConsumeNonce(*nonce, now_), true);
}

// Of many requests racing with one nonce, exactly one wins.
TEST_F(AcmeStoreTest, RacingConsumersWinOnce) {
  AcmeStore store(storage_.get(), {});
  auto nonce = store.NewNonce(now_);
  ASSERT_TRUE(nonce.ok());
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto ok = store.ConsumeNonce(*nonce, now_);
      if (ok.ok() && *ok) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

// A nonce is handed out only once it is stored, and a consume the storage did not take is
// an error, not a success: the nonce stays usable once.
TEST_F(AcmeStoreTest, NoNonceWithoutADurableCommit) {
  kms::testing::ControlledStorage controlled(storage_.get());
  AcmeStore store(&controlled, {});
  auto nonce = store.NewNonce(now_);
  ASSERT_TRUE(nonce.ok());
  controlled.fail_all_ = true;
  EXPECT_TRUE(absl::IsUnavailable(store.NewNonce(now_).status()));
  EXPECT_TRUE(absl::IsUnavailable(store.ConsumeNonce(*nonce, now_).status()));
  controlled.fail_all_ = false;
  EXPECT_EQ(Count("acme/nonces/"), 1u);
  EXPECT_EQ(*store.ConsumeNonce(*nonce, now_), true);
  EXPECT_EQ(*store.ConsumeNonce(*nonce, now_), false);
}

// Many requests issuing and consuming nonces at once: each nonce works exactly once.
TEST_F(AcmeStoreTest, ConcurrentIssueAndConsume) {
  AcmeStore store(storage_.get(), {});
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto nonce = store.NewNonce(now_);
        if (!nonce.ok() || !*store.ConsumeNonce(*nonce, now_) || *store.ConsumeNonce(*nonce, now_)) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count("acme/nonces/"), 0u);
}

// Eviction past the bound takes the oldest nonces, even when a burst is issued inside one
// second (here: at one instant): the newest nonces stay usable.
TEST_F(AcmeStoreTest, EvictionKeepsTheNewestNoncesOfABurst) {
  AcmeStore store(storage_.get(), {absl::Minutes(5), 8});
  std::vector<std::string> nonces;
  for (int i = 0; i < 64; ++i) {
    auto nonce = store.NewNonce(now_);
    ASSERT_TRUE(nonce.ok());
    nonces.push_back(*nonce);
  }
  ASSERT_TRUE(store.Sweep(now_).ok());
  EXPECT_EQ(*store.ConsumeNonce(nonces.front(), now_), false);
  for (size_t i = nonces.size() - 8; i < nonces.size(); ++i) {
    EXPECT_EQ(*store.ConsumeNonce(nonces[i], now_), true) << "nonce " << i << " of 64";
  }
}

TEST_F(AcmeStoreTest, UnusedNoncesStayBounded) {
  AcmeStore store(storage_.get(), {absl::Minutes(5), 40});
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(store.NewNonce(now_).ok());
  EXPECT_LE(Count("acme/nonces/"), 40u + 40u / 4);
  // Expired ones go at the next sweep.
  ASSERT_TRUE(store.Sweep(now_ + absl::Minutes(6)).ok());
  EXPECT_EQ(Count("acme/nonces/"), 0u);
}

TEST_F(AcmeStoreTest, ExpiredOrdersAreSweptWithTheirAuthorizations) {
  AcmeStore store(storage_.get(), {});
  OrderRecord order;
  order.set_id(AcmeStore::NewId());
  order.set_account_id("acct");
  order.set_expires(absl::ToUnixSeconds(now_ + absl::Hours(1)));
  AuthorizationRecord authz;
  authz.set_id(AcmeStore::NewId());
  order.add_authorization_ids(authz.id());
  ASSERT_TRUE(store.CreateOrder(order, {authz}).ok());
  EXPECT_EQ(store.ListOrders("acct", 10)->size(), 1u);
  ASSERT_TRUE(store.Sweep(now_).ok());
  EXPECT_TRUE(store.GetOrder(order.id())->has_value());
  ASSERT_TRUE(store.Sweep(now_ + absl::Hours(2)).ok());
  EXPECT_FALSE(store.GetOrder(order.id())->has_value());
  EXPECT_FALSE(store.GetAuthorization(authz.id())->has_value());
  EXPECT_EQ(store.ListOrders("acct", 10)->size(), 0u);
  EXPECT_EQ(Count("acme/order-expiry/"), 0u);
}

TEST_F(AcmeStoreTest, OneAccountPerKey) {
  AcmeStore store(storage_.get(), {});
  AccountRecord a;
  a.set_id(AcmeStore::NewId());
  a.set_thumbprint("thumb-1");
  ASSERT_TRUE(store.CreateAccount(a).ok());
  AccountRecord b = a;
  b.set_id(AcmeStore::NewId());
  EXPECT_TRUE(absl::IsAlreadyExists(store.CreateAccount(b)));
  EXPECT_EQ(**store.AccountIdByThumbprint("thumb-1"), a.id());
  // A key change moves the index.
  auto stored = store.GetAccount(a.id());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  AccountRecord changed = a;
  changed.set_thumbprint("thumb-2");
  ASSERT_TRUE(store.UpdateAccount(changed, (*stored)->revision, "thumb-1").ok());
  EXPECT_FALSE(store.AccountIdByThumbprint("thumb-1")->has_value());
  EXPECT_EQ(**store.AccountIdByThumbprint("thumb-2"), a.id());
}

}  // namespace
}  // namespace strongroom::server::acme
