#include "kms/postgres_connection.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace strongroom::kms {
namespace {

// Cap on the server message copied into our errors.
constexpr size_t kMaxServerMessage = 200;

struct ConninfoFree {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

// A fixed reason for a failed connection, chosen from libpq's message (which itself never
// leaves this function: it can echo the connection string).
std::string ConnectFailureReason(PGconn* conn) {
  if (conn == nullptr) return "out of memory";
  const std::string message = absl::AsciiStrToLower(PQerrorMessage(conn));
  struct Reason {
    const char* needle;
    const char* reason;
  };
  static constexpr Reason kReasons[] = {
      {"password authentication failed", "password authentication failed"},
      {"no password supplied", "no password supplied"},
      {"connection refused", "connection refused"},
      {"timeout expired", "connection timed out"},
      {"could not translate host name", "unknown host name"},
      {"does not exist", "database or role does not exist"},
      {"read-write", "no server accepts writes (target_session_attrs)"},
      {"in hot standby", "the server is a standby"},
      {"the database system is starting up", "the server is starting up"},
      {"the database system is shutting down", "the server is shutting down"},
      {"the database system is in recovery mode", "the server is in recovery"},
      {"too many clients", "too many connections"},
      {"no pg_hba.conf entry", "the server refuses this client (pg_hba.conf)"},
      {"ssl", "TLS failure"},
  };
  for (const Reason& reason : kReasons) {
    if (absl::StrContains(message, reason.needle)) return reason.reason;
  }
  return "connection failed";
}

absl::Status StatusForSqlState(absl::string_view sqlstate, std::string message) {
  if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "53") ||
      absl::StartsWith(sqlstate, "57P") || sqlstate == "25006") {
    return absl::UnavailableError(std::move(message));
  }
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::AbortedError(std::move(message));
  return absl::InternalError(std::move(message));
}

// Marks errors caused by a lost connection, so callers can tell them apart.
constexpr char kConnectionLost[] = "connection to the database lost";
constexpr char kCannotConnect[] = "cannot connect to the database";

}  // namespace

absl::StatusOr<std::string> DescribeConnInfo(absl::string_view conninfo) {
  const std::string text(conninfo);
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoFree> options(PQconninfoParse(text.c_str(), &error));
  if (error != nullptr) PQfreemem(error);  // may quote the string: never shown
  if (options == nullptr) {
    return absl::InvalidArgumentError("postgres storage: the connection string is not valid");
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val == nullptr || option->val[0] == '\0') continue;
    const absl::string_view keyword = option->keyword;
    if (keyword == "password") {
      return absl::InvalidArgumentError(
          "postgres storage: the connection string must not hold a password; use "
          "password_file or libpq's passfile");
    }
    if (keyword == "host" || keyword == "hostaddr" || keyword == "port" || keyword == "dbname" ||
        keyword == "user" || keyword == "target_session_attrs") {
      parts.push_back(absl::StrCat(keyword, "=", option->val));
    }
  }
  return absl::StrJoin(parts, " ");
}

PgParam PgInt64Param(int64_t value) {
  std::string bytes(8, '\0');
  const uint64_t v = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(v >> (56 - 8 * i));
  return bytes;
}

std::string PgResult::Bytes(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t PgResult::Int64(int row, int column) const {
  if (IsNull(row, column)) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column));
  const int length = PQgetlength(result_.get(), row, column);
  uint64_t v = 0;
  for (int i = 0; i < length; ++i) v = (v << 8) | p[i];
  if (length == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

int64_t PgResult::AffectedRows() const {
  const char* tuples = PQcmdTuples(result_.get());
  return tuples == nullptr || tuples[0] == '\0' ? 0 : std::strtoll(tuples, nullptr, 10);
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const PgSettings& settings, const std::vector<PgStatement>& statements) {
  // Defaults first: the connection string overrides them. Keepalives and a TCP user
  // timeout bound how long a dead server goes unnoticed; the password comes last.
  std::string password(settings.password.RevealSecretAsString());
  const char* keywords[] = {"connect_timeout",
                            "keepalives_idle",
                            "keepalives_interval",
                            "keepalives_count",
                            "tcp_user_timeout",
                            "application_name",
                            "dbname",
                            settings.password.empty() ? nullptr : "password",
                            nullptr};
  const char* values[] = {
      "5",    "5", "2", "3", "10000", "strongroomd", settings.conninfo.c_str(), password.c_str(),
      nullptr};
  PGconn* raw = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  hsm::CleanseString(&password);
  // libpq prints server notices to stderr by default; ours are expected and carry nothing
  // an operator needs (and a server may quote data in them).
  if (raw != nullptr)
    PQsetNoticeProcessor(
        raw, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PgConnection> conn(new PgConnection(raw, settings));
  if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("postgres storage (", settings.description, "): ",
                                               kCannotConnect, ": ", ConnectFailureReason(raw)));
  }
  for (const PgStatement& statement : statements) {
    absl::StatusOr<PgResult> prepared =
        conn->Check(PQprepare(raw, statement.name, statement.sql, 0, nullptr),
                    absl::StrCat("preparing ", statement.name));
    if (!prepared.ok()) return prepared.status();
  }
  conn->statements_ = statements;
  return conn;
}

std::string PgConnection::Server() const {
  return absl::StrCat(PQhost(conn_.get()), ":", PQport(conn_.get()));
}

absl::StatusOr<PgResult> PgConnection::Execute(const char* name, const std::vector<PgParam>& params,
                                               absl::string_view operation) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats(params.size(), 1);
  for (const PgParam& param : params) {
    values.push_back(param ? param->data() : nullptr);
    lengths.push_back(param ? static_cast<int>(param->size()) : 0);
  }
  PGresult* result = PQexecPrepared(conn_.get(), name, static_cast<int>(params.size()),
                                    values.data(), lengths.data(), formats.data(),
                                    /*resultFormat=*/1);
  absl::StatusOr<PgResult> checked = Check(result, operation);
  // A pooler or DISCARD ALL may have dropped our statements: prepare them again, once.
  if (!checked.ok() && absl::StrContains(checked.status().message(), "SQLSTATE 26000")) {
    for (const PgStatement& statement : statements_) {
      absl::StatusOr<PgResult> prepared =
          Check(PQprepare(conn_.get(), statement.name, statement.sql, 0, nullptr),
                absl::StrCat("preparing ", statement.name));
      if (!prepared.ok() && !absl::StrContains(prepared.status().message(), "SQLSTATE 42P05")) {
        return prepared.status();
      }
    }
    result = PQexecPrepared(conn_.get(), name, static_cast<int>(params.size()), values.data(),
                            lengths.data(), formats.data(), 1);
    checked = Check(result, operation);
  }
  return checked;
}

absl::StatusOr<std::vector<PgNotification>> PgConnection::AwaitNotifications(
    absl::Duration timeout) {
  std::vector<PgNotification> out;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (PQconsumeInput(conn_.get()) == 0 || broken()) {
      return absl::UnavailableError(
          absl::StrCat("postgres storage (", description_, "): ", kConnectionLost));
    }
    while (PGnotify* n = PQnotifies(conn_.get())) {
      out.push_back({n->relname, n->extra});
      PQfreemem(n);
    }
    const absl::Duration left = deadline - absl::Now();
    if (!out.empty() || left <= absl::ZeroDuration()) return out;
    pollfd fd{PQsocket(conn_.get()), POLLIN, 0};
    if (fd.fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("postgres storage (", description_, "): ", kConnectionLost));
    }
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    if (poll(&fd, 1, ms) < 0 && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat("postgres storage (", description_, "): waiting for notifications: ",
                       std::strerror(errno)));
    }
  }
}

absl::StatusOr<PgResult> PgConnection::Run(const char* sql, absl::string_view operation) {
  return Check(PQexec(conn_.get(), sql), operation);
}

absl::StatusOr<PgResult> PgConnection::Check(PGresult* raw, absl::string_view operation) {
  PgResult result(raw);
  const ExecStatusType status = raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* sqlstate = raw == nullptr ? nullptr : PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  if (sqlstate == nullptr || broken()) {
    // No server error: the connection broke (libpq's text would only repeat that).
    return absl::UnavailableError(absl::StrCat("postgres storage (", description_, "): ", operation,
                                               " failed: ", kConnectionLost));
  }
  std::string primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY) != nullptr
                            ? PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY)
                            : "";
  if (primary.size() > kMaxServerMessage) primary.resize(kMaxServerMessage);
  return StatusForSqlState(sqlstate,
                           absl::StrCat("postgres storage (", description_, "): ", operation,
                                        " failed: ", primary, " (SQLSTATE ", sqlstate, ")"));
}

bool IsConnectionLoss(const absl::Status& status) {
  return absl::IsUnavailable(status) && (absl::StrContains(status.message(), kConnectionLost) ||
                                         absl::StrContains(status.message(), kCannotConnect) ||
                                         absl::StrContains(status.message(), "SQLSTATE 57P"));
}

PgConnectionPool::PgConnectionPool(PgSettings settings, std::vector<PgStatement> statements,
                                   size_t max_size, absl::Duration acquire_timeout)
    : settings_(std::move(settings)),
      statements_(std::move(statements)),
      max_size_(max_size == 0 ? 1 : max_size),
      acquire_timeout_(acquire_timeout) {}

PgConnectionPool::~PgConnectionPool() = default;

PgConnectionPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_));
}

absl::StatusOr<PgConnectionPool::Lease> PgConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < max_size_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), acquire_timeout_)) {
      return absl::UnavailableError(
          absl::StrCat("postgres storage (", settings_.description, "): all ", max_size_,
                       " connections stayed busy for ", absl::FormatDuration(acquire_timeout_)));
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn), /*reused=*/true);
    }
    ++open_;
  }
  // Connect outside the lock: it can take up to connect_timeout per host.
  absl::StatusOr<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(settings_, statements_);
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Lease(this, std::move(*conn), /*reused=*/false);
}

void PgConnectionPool::DiscardIdle() {
  std::vector<std::unique_ptr<PgConnection>> discarded;
  {
    absl::MutexLock lock(&mu_);
    discarded.swap(idle_);
    open_ -= discarded.size();
  }
  // Closed outside the lock.
}

void PgConnectionPool::Release(std::unique_ptr<PgConnection> conn) {
  const bool usable = conn->reusable();
  absl::MutexLock lock(&mu_);
  if (usable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
}

}  // namespace strongroom::kms
