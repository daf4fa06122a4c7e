// ValidationQueue over a real AcmeStore (SQLite) and the real ChallengeValidator, whose
// http-01 probes go to loopback sockets in the test: a silent one (a validation that takes
// the whole timeout) and a closed port (refused at once).
#include "server/acme/validation_queue.h"

#include <boost/asio.hpp>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kms/sqlite_storage.h"

namespace strongroom::server::acme {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class ValidationQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = kms::SqliteStorage::Open(
        std::string(std::getenv("TEST_TMPDIR")) + "/" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    store_ = std::make_unique<AcmeStore>(storage_.get(), AcmeStoreOptions{});
    AccountRecord account;
    account.set_id("acct");
    account.set_thumbprint("thumb");
    account.set_status("valid");
    ASSERT_TRUE(store_->CreateAccount(account).ok());
  }

  // A validator whose probes all go to 127.0.0.1:`port`, with `timeout`.
  void UseValidator(int port, absl::Duration timeout) {
    ValidatorOptions options;
    options.timeout = timeout;
    options.overrides["*"] = absl::StrCat("127.0.0.1:", port);
    validator_ = std::make_unique<ChallengeValidator>(options);
  }

  // A pending authorization for `name` with one http-01 challenge, set processing as the
  // challenge POST does (processing since `since`).
  std::string AddProcessing(const std::string& name, absl::Time since) {
    AuthorizationRecord authz;
    authz.set_id(AcmeStore::NewId());
    authz.set_account_id("acct");
    authz.mutable_identifier()->set_type("dns");
    authz.mutable_identifier()->set_value(name);
    authz.set_status("pending");
    authz.set_expires(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    ChallengeRecord* c = authz.add_challenges();
    c->set_type("http-01");
    c->set_token(AcmeStore::NewId());
    c->set_status("processing");
    c->set_processing_since(absl::ToUnixSeconds(since));
    OrderRecord order;
    order.set_id(AcmeStore::NewId());
    order.set_account_id("acct");
    order.set_expires(authz.expires());
    EXPECT_TRUE(store_->CreateOrder(order, {authz}).ok());
    return authz.id();
  }

  AuthorizationRecord Read(const std::string& id) {
    auto authz = store_->GetAuthorization(id);
    EXPECT_TRUE(authz.ok() && authz->has_value());
    return authz.ok() && authz->has_value() ? (*authz)->record : AuthorizationRecord();
  }

  // Waits (bounded) until `id` is no longer pending.
  AuthorizationRecord AwaitDecided(const std::string& id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    AuthorizationRecord record = Read(id);
    while (record.status() == "pending" && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      record = Read(id);
    }
    return record;
  }

  static int ClosedPort() {
    asio::io_context io;
    tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    return closed.local_endpoint().port();
  }

  std::unique_ptr<kms::SqliteStorage> storage_;
  std::unique_ptr<AcmeStore> store_;
  std::unique_ptr<ChallengeValidator> validator_;
};

TEST_F(ValidationQueueTest, OutcomeIsWrittenOffTheCallersThread) {
  UseValidator(ClosedPort(), absl::Seconds(2));
  ValidationQueue queue(store_.get(), validator_.get(), 2, 8, absl::Seconds(2));
  const std::string id = AddProcessing("a.example.test", absl::Now());
  EXPECT_EQ(queue.Submit(id, "http-01"), ValidationQueue::Submitted::kQueued);
  AuthorizationRecord record = AwaitDecided(id);
  EXPECT_EQ(record.status(), "invalid");
  EXPECT_EQ(record.challenges(0).status(), "invalid");
  EXPECT_EQ(record.challenges(0).error_type(), "connection");
  EXPECT_EQ(record.challenges(0).processing_since(), 0);
}

TEST_F(ValidationQueueTest, BoundedAndOneEntryPerChallenge) {
  asio::io_context io;
  tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});  // never answers
  UseValidator(silent.local_endpoint().port(), absl::Milliseconds(1500));
  ValidationQueue queue(store_.get(), validator_.get(), 1, 2, absl::Milliseconds(1500));
  const std::string a = AddProcessing("a.example.test", absl::Now());
  const std::string b = AddProcessing("b.example.test", absl::Now());
  const std::string c = AddProcessing("c.example.test", absl::Now());
  EXPECT_EQ(queue.Submit(a, "http-01"), ValidationQueue::Submitted::kQueued);
  EXPECT_EQ(queue.Submit(a, "http-01"), ValidationQueue::Submitted::kAlready);
  EXPECT_EQ(queue.Submit(b, "http-01"), ValidationQueue::Submitted::kQueued);
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.Submit(c, "http-01"), ValidationQueue::Submitted::kFull);
  EXPECT_EQ(AwaitDecided(a).challenges(0).error_type(), "connection");
  EXPECT_EQ(AwaitDecided(b).challenges(0).error_type(), "connection");
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (queue.size() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(queue.Submit(c, "http-01"), ValidationQueue::Submitted::kQueued);
  EXPECT_EQ(AwaitDecided(c).status(), "invalid");
}

// A node that stopped leaves its challenge processing in storage: it is stale after three
// validation timeouts (at least 30 s), and another node's queue then takes it.
TEST_F(ValidationQueueTest, StaleProcessingIsQueuedAgainByAnotherNode) {
  UseValidator(ClosedPort(), absl::Seconds(2));
  // Taken five minutes ago by a node that has since stopped: nothing was written.
  const std::string id = AddProcessing("a.example.test", absl::Now() - absl::Minutes(5));
  AuthorizationRecord left = Read(id);
  EXPECT_EQ(left.challenges(0).status(), "processing");
  ValidationQueue other(store_.get(), validator_.get(), 1, 8, absl::Seconds(2));
  EXPECT_TRUE(other.Stale(left.challenges(0), absl::Now()));
  ChallengeRecord fresh = left.challenges(0);
  fresh.set_processing_since(absl::ToUnixSeconds(absl::Now() - absl::Seconds(20)));
  EXPECT_FALSE(other.Stale(fresh, absl::Now()));
  EXPECT_EQ(other.Submit(id, "http-01"), ValidationQueue::Submitted::kQueued);
  EXPECT_EQ(AwaitDecided(id).challenges(0).status(), "invalid");
}

// A challenge decided meanwhile (by another node) is left as it is.
TEST_F(ValidationQueueTest, ADecidedChallengeIsNotOverwritten) {
  UseValidator(ClosedPort(), absl::Seconds(2));
  const std::string id = AddProcessing("a.example.test", absl::Now());
  auto stored = store_->GetAuthorization(id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  AuthorizationRecord decided = (*stored)->record;
  decided.set_status("valid");
  decided.mutable_challenges(0)->set_status("valid");
  ASSERT_TRUE(store_->UpdateAuthorization(decided, (*stored)->revision).ok());
  {
    ValidationQueue queue(store_.get(), validator_.get(), 1, 8, absl::Seconds(2));
    EXPECT_EQ(queue.Submit(id, "http-01"), ValidationQueue::Submitted::kQueued);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (queue.size() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Read(id).status(), "valid");
  EXPECT_EQ(Read(id).challenges(0).status(), "valid");
}

}  // namespace
}  // namespace strongroom::server::acme
