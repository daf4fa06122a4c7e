// The PostgreSQL test harness: it starts, stops, restarts and survives a SIGKILL of the
// server, and a test process that dies without cleaning up leaves no server running.
#include "tests/testing/postgres_cluster.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::testing {
namespace {

TEST(PostgresClusterTest, StartStopRestartKill) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PostgresCluster& pg = **cluster;
  EXPECT_GT(pg.port(), 0);
  absl::StatusOr<std::string> version = pg.Query("SHOW server_version_num");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->substr(0, 2), "15");
  EXPECT_EQ(*pg.Query("SHOW listen_addresses"), "127.0.0.1");

  ASSERT_TRUE(pg.Stop().ok());
  EXPECT_FALSE(pg.Query("SELECT 1").ok());
  ASSERT_TRUE(pg.Restart().ok());
  EXPECT_EQ(*pg.Query("SELECT 1"), "1");

  ASSERT_TRUE(pg.Kill().ok());
  EXPECT_FALSE(pg.Query("SELECT 1").ok());
  ASSERT_TRUE(pg.Restart().ok());
  EXPECT_EQ(*pg.Query("SELECT 1"), "1");

  absl::StatusOr<std::string> db = pg.CreateDatabase("extra");
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*pg.Query("SELECT current_database()", *db), *db);
}

TEST(PostgresClusterTest, PasswordIsRequired) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start({.name = "pg-auth"});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  std::ifstream in((*cluster)->PasswordFile());
  std::string password;
  in >> password;
  EXPECT_GE(password.size(), 32u);
  // The harness's own query path uses the password; the server refuses a wrong one, which
  // the storage tests rely on (scram-sha-256, not trust).
  EXPECT_EQ(*(*cluster)->Query("SELECT count(*) FROM pg_hba_file_rules WHERE "
                               "auth_method = 'trust'",
                               "postgres"),
            "0");
}

// A test process that aborts without running destructors must not leave its server behind:
// the watchdog stops it.
TEST(PostgresClusterDeathTest, AbortedTestLeavesNothingRunning) {
  const std::string port_file = absl::StrCat(std::getenv("TEST_TMPDIR"), "/orphan.port");
  EXPECT_DEATH(
      {
        absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
            PostgresCluster::Start({.name = "pg-orphan"});
        if (!cluster.ok()) std::exit(3);
        std::ofstream(port_file) << (*cluster)->port() << "\n" << std::flush;
        (*cluster)->Query("SELECT 1").IgnoreError();
        cluster->release();  // leaked on purpose: no destructor runs
        std::abort();
      },
      "");
  std::ifstream in(port_file);
  int port = 0;
  ASSERT_TRUE(in >> port) << "the child did not start its cluster";
  const std::string pid_file =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/pg-orphan/data/postmaster.pid");
  bool gone = false;
  for (int i = 0; i < 600 && !gone; ++i) {
    std::ifstream pid_in(pid_file);
    gone = !pid_in.good();
    if (!gone) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(gone) << "the orphaned server on port " << port << " is still running";
}

}  // namespace
}  // namespace strongroom::testing
