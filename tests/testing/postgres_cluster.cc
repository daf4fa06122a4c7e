#include "tests/testing/postgres_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/testing/process.h"

namespace strongroom::testing {
namespace {

constexpr char kBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kRunuser[] = "/usr/sbin/runuser";
constexpr char kUser[] = "postgres";

std::vector<std::string> AsPostgres(std::vector<std::string> argv) {
  std::vector<std::string> full = {kRunuser, "-u", kUser, "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

absl::Status Run(const std::vector<std::string>& argv, absl::Duration timeout = absl::Seconds(90)) {
  RunResult result = RunCommand(argv, {}, timeout);
  if (result.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(argv[4], " exited with ", result.exit_code, ": ", result.output));
  }
  return absl::OkStatus();
}

absl::StatusOr<passwd> PostgresUser() {
  passwd* pw = getpwnam(kUser);
  if (pw == nullptr)
    return absl::FailedPreconditionError("no 'postgres' user (apt install postgresql-15)");
  return *pw;
}

// Grants "others" search permission on every ancestor of `dir` lacking it, so that the
// postgres user can reach a directory below the root-owned Bazel output base.
absl::Status MakeReachable(const std::string& dir) {
  std::string path;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, "/", part);
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return absl::ErrnoToStatus(errno, path);
    if ((st.st_mode & S_IXOTH) == 0) {
      if (chmod(path.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
        return absl::ErrnoToStatus(errno, absl::StrCat("chmod o+x ", path));
      }
      std::fprintf(stderr, "postgres_cluster: granted search permission (o+x) on %s\n",
                   path.c_str());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> FreePort() {
  const int port = FreeLoopbackPort();
  if (port == 0) return absl::UnavailableError("no free port on 127.0.0.1");
  return port;
}

absl::StatusOr<std::string> RandomPassword() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  char bytes[24];
  if (!in.read(bytes, sizeof(bytes))) return absl::InternalError("cannot read /dev/urandom");
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

absl::Status WriteFile(const std::string& path, const std::string& contents, uid_t uid, gid_t gid) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  const bool ok =
      write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      fchmod(fd, 0600) == 0 && fchown(fd, uid, gid) == 0;
  const int error = errno;
  close(fd);
  if (!ok) return absl::ErrnoToStatus(error, path);
  return absl::OkStatus();
}

}  // namespace

PostgresCluster::PostgresCluster(std::string dir, std::vector<std::string> settings)
    : dir_(std::move(dir)), settings_(std::move(settings)) {}

absl::Status PostgresCluster::Prepare(const std::string& password) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr)
    return absl::FailedPreconditionError("TEST_TMPDIR is not set: run under bazel test");
  absl::StatusOr<passwd> user = PostgresUser();
  if (!user.ok()) return user.status();
  if (mkdir(dir_.c_str(), 0700) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir_));
  if (chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) return absl::ErrnoToStatus(errno, dir_);
  absl::Status status = MakeReachable(tmp);
  if (!status.ok()) return status;
  password_ = password;
  password_file_ = absl::StrCat(dir_, ".password");
  return WriteFile(password_file_, password, getuid(), getgid());
}

absl::Status PostgresCluster::StartOnFreePort() {
  // Another process may take the port between FreePort and the server's bind: retry.
  absl::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    port_ = *port;
    status = StartServer();
    if (status.ok()) break;
  }
  if (!status.ok()) {
    port_ = 0;
    return status;
  }
  StartWatchdog();
  return status;
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(const Options& options) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr)
    return absl::FailedPreconditionError("TEST_TMPDIR is not set: run under bazel test");
  absl::StatusOr<passwd> user = PostgresUser();
  if (!user.ok()) return user.status();
  absl::StatusOr<std::string> password = RandomPassword();
  if (!password.ok()) return password.status();
  std::unique_ptr<PostgresCluster> cluster(
      new PostgresCluster(absl::StrCat(tmp, "/", options.name), options.settings));
  absl::Status status = cluster->Prepare(*password);
  if (!status.ok()) return status;
  const std::string& dir = cluster->dir_;
  const std::string initdb_password = absl::StrCat(dir, "/initdb-password");
  status = WriteFile(initdb_password, *password, user->pw_uid, user->pw_gid);
  if (!status.ok()) return status;
  status = Run(AsPostgres({absl::StrCat(kBinDir, "/initdb"), "-D", absl::StrCat(dir, "/data"), "-U",
                           "sr", absl::StrCat("--pwfile=", initdb_password), "-A", "scram-sha-256",
                           "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}));
  unlink(initdb_password.c_str());
  if (!status.ok()) return status;
  status = cluster->StartOnFreePort();
  if (!status.ok()) return status;
  absl::StatusOr<std::string> created = cluster->Query("CREATE DATABASE strongroom", "postgres");
  if (!created.ok()) return created.status();
  return cluster;
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::StartStandby(
    const PostgresCluster& primary, const Options& options) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr)
    return absl::FailedPreconditionError("TEST_TMPDIR is not set: run under bazel test");
  absl::StatusOr<passwd> user = PostgresUser();
  if (!user.ok()) return user.status();
  std::unique_ptr<PostgresCluster> cluster(
      new PostgresCluster(absl::StrCat(tmp, "/", options.name), options.settings));
  absl::Status status = cluster->Prepare(primary.password_);
  if (!status.ok()) return status;
  const std::string& dir = cluster->dir_;
  // The standby's walreceiver (and pg_basebackup) read the password from a passfile.
  const std::string passfile = absl::StrCat(dir, "/pgpass");
  status = WriteFile(passfile,
                     absl::StrCat("127.0.0.1:", primary.port_, ":*:sr:", primary.password_, "\n"),
                     user->pw_uid, user->pw_gid);
  if (!status.ok()) return status;
  const std::string data = absl::StrCat(dir, "/data");
  status = Run(AsPostgres({"/usr/bin/env", absl::StrCat("PGPASSFILE=", passfile),
                           absl::StrCat(kBinDir, "/pg_basebackup"), "-h", "127.0.0.1", "-p",
                           absl::StrCat(primary.port_), "-U", "sr", "-D", data, "-R", "-X",
                           "stream", "-c", "fast", "--no-sync"}));
  if (!status.ok()) return status;
  // Later lines of postgresql.auto.conf win: name the standby and its passfile.
  {
    std::ofstream conf(absl::StrCat(data, "/postgresql.auto.conf"), std::ios::app);
    conf << "primary_conninfo = 'host=127.0.0.1 port=" << primary.port_
         << " user=sr passfile=" << passfile << " application_name=" << options.name << "'\n";
    if (!conf) return absl::InternalError("cannot write postgresql.auto.conf");
  }
  status = cluster->StartOnFreePort();
  if (!status.ok()) return status;
  return cluster;
}

absl::Status PostgresCluster::Promote() {
  absl::StatusOr<std::string> promoted = Query("SELECT pg_promote(true, 60)", "postgres");
  if (!promoted.ok()) return promoted.status();
  if (*promoted != "t") return absl::InternalError("pg_promote did not finish");
  return absl::OkStatus();
}

PostgresCluster::~PostgresCluster() {
  if (port_ != 0) {
    absl::Status status = Stop();
    if (!status.ok()) std::fprintf(stderr, "postgres_cluster: %s\n", status.ToString().c_str());
  }
  StopWatchdog();
}

absl::Status PostgresCluster::StartServer() {
  std::string server_options = absl::StrCat(
      "-p ", port_,
      " -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c shared_buffers=32MB");
  for (const std::string& setting : settings_) absl::StrAppend(&server_options, " -c ", setting);
  return Run(AsPostgres({absl::StrCat(kBinDir, "/pg_ctl"), "-D", absl::StrCat(dir_, "/data"), "-l",
                         absl::StrCat(dir_, "/server.log"), "-o", server_options, "-w", "-t", "60",
                         "start"}));
}

absl::Status PostgresCluster::Stop() {
  const std::string pid_file = absl::StrCat(dir_, "/data/postmaster.pid");
  if (access(pid_file.c_str(), F_OK) != 0) return absl::OkStatus();
  RunResult result =
      RunCommand(AsPostgres({absl::StrCat(kBinDir, "/pg_ctl"), "-D", absl::StrCat(dir_, "/data"),
                             "-w", "-t", "60", "-m", "fast", "stop"}),
                 {}, absl::Seconds(90));
  // pg_ctl exits 1 when no server runs (a killed one leaves a stale pid file, whose
  // postmaster is gone: "No such process").
  if (result.exit_code != 0 && result.output.find("Is server running?") == std::string::npos &&
      result.output.find("No such process") == std::string::npos) {
    return absl::InternalError(absl::StrCat("pg_ctl stop: ", result.output));
  }
  return absl::OkStatus();
}

absl::Status PostgresCluster::Kill() {
  std::ifstream in(absl::StrCat(dir_, "/data/postmaster.pid"));
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return absl::FailedPreconditionError("postmaster is not running");
  if (kill(pid, SIGKILL) != 0) return absl::ErrnoToStatus(errno, "kill postmaster");
  // The postmaster is not our child: wait until it is gone.
  for (int i = 0; i < 1000 && kill(pid, 0) == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  return absl::OkStatus();
}

absl::Status PostgresCluster::Restart() {
  // After a kill, orphaned backends may hold the old shared memory for a moment.
  absl::Status status;
  for (int attempt = 0; attempt < 20; ++attempt) {
    status = StartServer();
    if (status.ok()) return status;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return status;
}

std::string PostgresCluster::ConnInfo(const std::string& database) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=sr dbname=", database);
}

absl::StatusOr<std::string> PostgresCluster::Query(const std::string& sql,
                                                   const std::string& database) const {
  const std::string conninfo = ConnInfo(database);
  const char* keywords[] = {"dbname", "password", "connect_timeout", nullptr};
  const char* values[] = {conninfo.c_str(), password_.c_str(), "10", nullptr};
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdbParams(keywords, values, 1),
                                                  &PQfinish);
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("connect: ", conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(absl::StrCat(sql, ": ", PQerrorMessage(conn.get())));
  }
  if (PQntuples(result.get()) == 0 || PQnfields(result.get()) == 0) return std::string();
  return std::string(PQgetvalue(result.get(), 0, 0));
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase(const std::string& prefix) {
  const std::string name = absl::StrCat(prefix, "_", ++databases_created_);
  absl::StatusOr<std::string> result = Query(absl::StrCat("CREATE DATABASE ", name), "postgres");
  if (!result.ok()) return result.status();
  return name;
}

void PostgresCluster::StartWatchdog() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  const std::string log = absl::StrCat(dir_, "/watchdog.log");
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  const std::vector<std::string> args =
      AsPostgres({absl::StrCat(kBinDir, "/pg_ctl"), "-D", absl::StrCat(dir_, "/data"), "-m",
                  "immediate", "stop"});
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    if (dup2(fds[0], STDIN_FILENO) < 0) _exit(126);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    // Hold no other descriptor of the test (the write end above all).
    close_range(3, ~0U, 0);
    char byte;
    while (read(STDIN_FILENO, &byte, 1) < 0 && errno == EINTR) {
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[0]);
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) {
    close(fds[1]);
    return;
  }
  watchdog_pid_ = pid;
  watchdog_fd_ = fds[1];
}

void PostgresCluster::StopWatchdog() {
  if (watchdog_fd_ >= 0) close(watchdog_fd_);
  watchdog_fd_ = -1;
  if (watchdog_pid_ > 0) {
    int status = 0;
    while (waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  watchdog_pid_ = -1;
}

}  // namespace strongroom::testing
