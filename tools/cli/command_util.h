// Helpers the command groups share: enum-valued and numeric flags, durations, reading
// input, writing output and files, wiping secrets, and turning a failed absl::Status into
// the CLI's one-line error (see system_commands.h for the pattern).
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "tools/cli/client.h"

namespace strongroom::cli {

// The most input data one command reads and sends.
inline constexpr size_t kMaxInputBytes = size_t{4} << 20;
// --in/--out value meaning standard input/output.
inline constexpr char kStdio[] = "-";

// ---- Names on the command line and in human output ----

template <typename Enum>
struct Named {
  absl::string_view name;
  Enum value;
};

// A table is any range of Named<Enum>: a constexpr array, or a vector built from another
// layer's table (kms key types).
template <typename Table>
std::vector<std::string> NamesOf(const Table& table) {
  std::vector<std::string> names;
  for (const auto& entry : table) names.emplace_back(entry.name);
  return names;
}

template <typename Table, typename Enum>
std::string NameOf(const Table& table, Enum value) {
  for (const auto& entry : table) {
    if (entry.value == value) return std::string(entry.name);
  }
  return absl::StrCat("unknown (", static_cast<int64_t>(value), ")");
}

// ---- Flags ----

// --flag taking one of the names in `table` (which must outlive the command); stores the
// matching value in *value.
template <typename Table, typename Enum>
CLI::Option* AddChoice(CLI::App* command, const std::string& flag, const Table& table, Enum* value,
                       const std::string& description) {
  return command
      ->add_option_function<std::string>(
          flag,
          [&table, value](const std::string& name) {
            for (const auto& entry : table) {
              if (name == entry.name) *value = entry.value;
            }
          },
          description)
      ->check(CLI::IsMember(NamesOf(table)));
}

// Plain decimal digits only: CLI11's own conversion accepts "0x10", "010" and wraps "-1".
std::optional<uint32_t> ParseNumber(const std::string& text, uint32_t min);

// --flag N, a whole number from `min` to 2^32-1, stored in *value.
CLI::Option* AddNumber(CLI::App* command, const std::string& flag, uint32_t min, uint32_t* value,
                       const std::string& description);

// --flag DURATION: an absl duration ("720h", "90m", "1h30m"), more than 0 and at most 100
// years, stored in *value.
CLI::Option* AddDuration(CLI::App* command, const std::string& flag,
                         std::optional<absl::Duration>* value, const std::string& description);

void SetDuration(absl::Duration duration, google::protobuf::Duration* out);

// ---- Input and output ----

// Appends to `out` without leaving a copy of its earlier bytes in freed memory.
void AppendWiping(absl::string_view data, std::string* out);

// strerror in lower case; ENOENT as "no such file".
std::string ErrnoText(int err);

// "standard input" for "-", else the path.
std::string SourceName(const std::string& path);

// Control characters escaped, so that neither the server nor an argument can drive the
// terminal or split a line.
std::string Printable(absl::string_view text);

// Reads all of `path` ("-": standard input) as bytes into *out. `what` names the data in
// messages ("plaintext"); the data itself never appears in them. Refuses more than
// kMaxInputBytes.
absl::Status ReadInput(const std::string& path, absl::string_view what, std::string* out);

absl::Status WriteAll(int fd, absl::string_view data, const std::string& destination);

// Writes `data` exactly to `path` ("-": standard output); a file is created with mode 0600
// (or truncated, keeping its mode).
absl::Status WriteOutput(const std::string& path, absl::string_view data);

// Creates `path` exclusively (failing if it exists) with `mode` and writes `data` to it.
// Errors name the path, never the data.
absl::Status WriteNewFile(const std::string& path, absl::string_view data, int mode);

absl::Status Print(absl::string_view text);

// One value from the server (ciphertext, signature, HMAC) on a line of its own.
absl::Status PrintLine(absl::string_view value);

// The reply as JSON to `path`. The text is wiped afterwards: it may carry secrets.
absl::Status PrintJson(const google::protobuf::Message& reply, const std::string& path = kStdio);

// "2026-11-23T20:00:00Z".
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);

// ---- Calls ----

// A gRPC service (v1::Transit, v1::Pki, ...) for one command: connects on the first call
// and reuses the channel.
template <typename Service>
class ServiceClient {
 public:
  explicit ServiceClient(const GlobalOptions& options) : options_(options) {}

  // Calls `method` under the --timeout deadline; failures come explained (see Explain()).
  template <typename Request, typename Reply>
  absl::Status Call(grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&,
                                                          Reply*),
                    const Request& request, Reply* reply) {
    if (stub_ == nullptr) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options_.client);
      if (!channel.ok()) return channel.status();
      stub_ = Service::NewStub(*channel);
    }
    return CallUnary(options_.client, [&](grpc::ClientContext* context) {
      return ((*stub_).*method)(context, request, reply);
    });
  }

 private:
  const GlobalOptions& options_;
  std::unique_ptr<typename Service::Stub> stub_;
};

// "strongroomd returned no <what>", INTERNAL.
absl::Status Missing(absl::string_view what);

// Runs `run` when `command` is invoked; a failure becomes the CLI's one-line error.
void OnRun(CLI::App* command, std::function<absl::Status()> run);

}  // namespace strongroom::cli
