// PostgreSQL-specific behaviour of PostgresStorage: passwords, connection strings with
// several hosts, a database that goes away and returns, schema versions, and a COMMIT whose
// connection is lost. The Storage contract itself is in storage_conformance_test.cc.
#include "kms/postgres_storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/storage_backends.h"

namespace strongroom::kms {
namespace {

using ::strongroom::testing::PostgresCluster;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadPassword(const PostgresCluster& cluster) {
  std::ifstream in(cluster.PasswordFile());
  std::string password;
  in >> password;
  return password;
}

std::string WriteFile(const std::string& name, const std::string& contents, mode_t mode) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path, std::ios::trunc) << contents;
  chmod(path.c_str(), mode);
  return path;
}

class PostgresStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    cluster_ = testing::SharedPostgresCluster(&error);
    ASSERT_NE(cluster_, nullptr) << error;
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    absl::StatusOr<std::string> database =
        cluster_->CreateDatabase(absl::AsciiStrToLower(info->name()));
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *database;
  }

  PostgresStorageOptions Options() const {
    PostgresStorageOptions options;
    options.conninfo = cluster_->ConnInfo(database_);
    options.password_file = cluster_->PasswordFile();
    return options;
  }

  PostgresCluster* cluster_ = nullptr;
  std::string database_;
};

TEST_F(PostgresStorageTest, DescribesItselfWithoutThePassword) {
  absl::StatusOr<std::unique_ptr<PostgresStorage>> storage = PostgresStorage::Open(Options());
  ASSERT_TRUE(storage.ok()) << storage.status();
  EXPECT_EQ((*storage)->Backend(), "postgres");
  EXPECT_EQ((*storage)->SchemaVersion(), PostgresStorage::LatestSchemaVersion());
  EXPECT_THAT((*storage)->Location(), HasSubstr("host=127.0.0.1"));
  EXPECT_THAT((*storage)->Location(), HasSubstr(absl::StrCat("dbname=", database_)));
  EXPECT_THAT((*storage)->Location(), Not(HasSubstr(ReadPassword(*cluster_))));
}

TEST_F(PostgresStorageTest, RefusesAPasswordInTheConnectionString) {
  PostgresStorageOptions options = Options();
  options.conninfo += " password=hunter2secret";
  absl::Status status = PostgresStorage::Open(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), Not(HasSubstr("hunter2secret")));

  options.conninfo = "host='unterminated password=hunter2secret";
  status = PostgresStorage::Open(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), Not(HasSubstr("hunter2secret")));
}

TEST_F(PostgresStorageTest, RefusesAPasswordFileOthersCanRead) {
  PostgresStorageOptions options = Options();
  options.password_file = WriteFile("open-password", ReadPassword(*cluster_), 0644);
  absl::Status status = PostgresStorage::Open(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("0600"));

  options.password_file = WriteFile("good-password", ReadPassword(*cluster_) + "\n", 0600);
  EXPECT_TRUE(PostgresStorage::Open(options).ok());
}

TEST_F(PostgresStorageTest, WrongPasswordIsAClearErrorWithoutThePassword) {
  PostgresStorageOptions options = Options();
  options.password_file = WriteFile("wrong-password", "wrong-hunter2secret", 0600);
  absl::Status status = PostgresStorage::Open(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("password authentication failed"));
  EXPECT_THAT(status.message(), HasSubstr("host=127.0.0.1"));
  EXPECT_THAT(status.message(), Not(HasSubstr("hunter2secret")));
}

TEST_F(PostgresStorageTest, SeveralHostsFindTheOneThatAnswers) {
  PostgresStorageOptions options = Options();
  // Port 1 on loopback refuses; libpq moves on to the next host.
  options.conninfo =
      absl::StrCat("host=127.0.0.1,127.0.0.1 port=1,", cluster_->port(),
                   " user=sr dbname=", database_, " target_session_attrs=read-write");
  absl::StatusOr<std::unique_ptr<PostgresStorage>> storage = PostgresStorage::Open(options);
  ASSERT_TRUE(storage.ok()) << storage.status();
  ASSERT_TRUE((*storage)->Commit(WriteBatch().Put("k", "v")).ok());
  EXPECT_THAT((*storage)->Location(), HasSubstr("host=127.0.0.1,127.0.0.1"));
}

TEST_F(PostgresStorageTest, RefusesANewerSchema) {
  ASSERT_TRUE(PostgresStorage::Open(Options()).ok());
  const uint32_t future = PostgresStorage::LatestSchemaVersion() + 1;
  ASSERT_TRUE(
      cluster_->Query(absl::StrCat("UPDATE strongroom_schema SET version = ", future), database_)
          .ok());
  absl::Status status = PostgresStorage::Open(Options()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("schema version ", future)));
}

TEST_F(PostgresStorageTest, NodesStartingTogetherMigrateOnce) {
  constexpr int kNodes = 4;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] { results[i] = PostgresStorage::Open(Options()).status(); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(*cluster_->Query("SELECT version FROM strongroom_schema", database_),
            absl::StrCat(PostgresStorage::LatestSchemaVersion()));
}

// A database down at start is a clear UNAVAILABLE; one that goes away later fails calls
// with UNAVAILABLE and serves again once it is back, with no new PostgresStorage.
// The holder's batches stop landing once another node took the lease over, and the new
// holder's land; the lease row is the same for every node, so each sees the other's epoch.
TEST_F(PostgresStorageTest, LeaseTakeoverFencesTheFormerHoldersWrites) {
  absl::StatusOr<std::unique_ptr<PostgresStorage>> a = PostgresStorage::Open(Options());
  absl::StatusOr<std::unique_ptr<PostgresStorage>> b = PostgresStorage::Open(Options());
  ASSERT_TRUE(a.ok() && b.ok());
  // A zero ttl: the lease is expired for any later transaction, so b may take it over.
  absl::StatusOr<LeaseState> first = (*a)->AcquireLease("background", "a", absl::ZeroDuration());
  ASSERT_TRUE(first.ok() && first->held) << first.status();
  const LeaseFence held_by_a{"background", "a", first->epoch};
  ASSERT_TRUE((*a)->Commit(WriteBatch().Put("job", "a1").RequireLease(held_by_a)).ok());

  absl::StatusOr<LeaseState> taken = (*b)->AcquireLease("background", "b", absl::Seconds(30));
  ASSERT_TRUE(taken.ok() && taken->held) << taken.status();
  EXPECT_EQ(taken->epoch, first->epoch + 1);
  absl::Status late = (*a)->Commit(WriteBatch().Put("job", "a2").RequireLease(held_by_a));
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition) << late;
  // Nor does a's renewal give it back while b holds it.
  absl::StatusOr<LeaseState> renewed = (*a)->AcquireLease("background", "a", absl::Seconds(30));
  ASSERT_TRUE(renewed.ok());
  EXPECT_FALSE(renewed->held);
  EXPECT_EQ(renewed->holder, "b");
  ASSERT_TRUE((*b)->Commit(WriteBatch().Put("job", "b1").RequireLease(
                               {"background", "b", taken->epoch}))
                  .ok());
  absl::StatusOr<std::optional<Entry>> job = (*a)->Get("job");
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->value, "b1");
}

TEST(PostgresStorageRecoveryTest, DatabaseDownAndBack) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start({.name = "pg-recovery"});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PostgresStorageOptions options;
  options.conninfo = (*cluster)->ConnInfo();
  options.password_file = (*cluster)->PasswordFile();
  const std::string password = ReadPassword(**cluster);

  ASSERT_TRUE((*cluster)->Stop().ok());
  absl::Status down = PostgresStorage::Open(options).status();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_THAT(down.message(), HasSubstr("cannot connect"));
  EXPECT_THAT(down.message(), HasSubstr("connection refused"));
  EXPECT_THAT(down.message(), HasSubstr(absl::StrCat("port=", (*cluster)->port())));
  EXPECT_THAT(down.message(), Not(HasSubstr(password)));

  ASSERT_TRUE((*cluster)->Restart().ok());
  absl::StatusOr<std::unique_ptr<PostgresStorage>> storage = PostgresStorage::Open(options);
  ASSERT_TRUE(storage.ok()) << storage.status();
  ASSERT_TRUE((*storage)->Commit(WriteBatch().Put("k", "v1")).ok());

  for (bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "killed" : "stopped");
    ASSERT_TRUE((kill ? (*cluster)->Kill() : (*cluster)->Stop()).ok());
    absl::StatusOr<std::optional<Entry>> get = (*storage)->Get("k");
    EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable) << get.status();
    absl::Status commit = (*storage)->Commit(WriteBatch().Put("k", "v2"));
    EXPECT_EQ(commit.code(), absl::StatusCode::kUnavailable) << commit;
    EXPECT_THAT(commit.message(), Not(HasSubstr(password)));
    EXPECT_EQ((*storage)->List("", "", 0).status().code(), absl::StatusCode::kUnavailable);

    ASSERT_TRUE((*cluster)->Restart().ok());
    get = (*storage)->Get("k");
    ASSERT_TRUE(get.ok()) << get.status();
    ASSERT_TRUE(get->has_value());
    EXPECT_EQ((*get)->value, "v1");
  }
  ASSERT_TRUE((*storage)->Commit(WriteBatch().Put("k", "v3")).ok());
}

// The connection is lost while COMMIT waits for a synchronous standby that never answers:
// the transaction has committed locally, and Commit must find that out and say OK (a guess
// of "failed" would make callers redo or report a write that happened).
TEST(PostgresStorageOutcomeTest, ConnectionLostDuringCommitIsResolvedNotGuessed) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start({.name = "pg-outcome"});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PostgresCluster& pg = **cluster;
  PostgresStorageOptions options;
  options.conninfo = pg.ConnInfo();
  options.password_file = pg.PasswordFile();
  absl::StatusOr<std::unique_ptr<PostgresStorage>> storage = PostgresStorage::Open(options);
  ASSERT_TRUE(storage.ok()) << storage.status();

  ASSERT_TRUE(pg.Query("ALTER SYSTEM SET synchronous_standby_names = 'absent_standby'").ok());
  ASSERT_TRUE(pg.Query("SELECT pg_reload_conf()").ok());

  absl::Status committed = absl::UnknownError("not run");
  std::thread writer([&] {
    committed = (*storage)->Commit(WriteBatch().Put("k", "v", WriteBatch::kMustNotExist));
  });
  std::string pid;
  for (int i = 0; i < 300 && pid.empty(); ++i) {
    pid = pg.Query("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'").value_or("");
    if (pid.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(pid.empty()) << "the COMMIT never waited for the standby";
  ASSERT_TRUE(pg.Query(absl::StrCat("SELECT pg_terminate_backend(", pid, ")")).ok());
  writer.join();
  EXPECT_TRUE(committed.ok()) << committed;

  ASSERT_TRUE(pg.Query("ALTER SYSTEM RESET synchronous_standby_names").ok());
  ASSERT_TRUE(pg.Query("SELECT pg_reload_conf()").ok());
  absl::StatusOr<std::optional<Entry>> entry = (*storage)->Get("k");
  ASSERT_TRUE(entry.ok()) << entry.status();
  ASSERT_TRUE(entry->has_value());
  EXPECT_EQ((*entry)->value, "v");
}

}  // namespace
}  // namespace strongroom::kms
