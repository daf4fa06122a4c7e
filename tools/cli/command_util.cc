#include "tools/cli/command_util.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "hsm/secret_data.h"
#include "tools/cli/client.h"

namespace strongroom::cli {

// Plain decimal digits only: CLI11's own conversion accepts "0x10", "010" and wraps "-1".
std::optional<uint32_t> ParseNumber(const std::string& text, uint32_t min) {
  uint32_t value = 0;
  if (text.empty() || text.size() > 10 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(text, &value) || value < min) {
    return std::nullopt;
  }
  return value;
}

// --flag N, a whole number from `min` to 2^32-1, stored in *value.
CLI::Option* AddNumber(CLI::App* command, const std::string& flag, uint32_t min, uint32_t* value,
                       const std::string& description) {
  return command
      ->add_option_function<std::string>(
          flag,
          [min, value](const std::string& text) {
            if (std::optional<uint32_t> n = ParseNumber(text, min)) *value = *n;
          },
          description)
      ->check(CLI::Validator(
          [min](std::string& text) -> std::string {
            if (ParseNumber(text, min).has_value()) return "";
            return absl::StrCat("want a whole number from ", min, " to 4294967295; got ", text);
          },
          ""))
      ->type_name("N");
}

void SetDuration(absl::Duration duration, google::protobuf::Duration* out) {
  absl::Duration remainder;
  out->set_seconds(absl::IDivDuration(duration, absl::Seconds(1), &remainder));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
}

// Appends to `out` without leaving a copy of its earlier bytes in freed memory.
void AppendWiping(absl::string_view data, std::string* out) {
  if (out->size() + data.size() > out->capacity()) {
    std::string bigger;
    bigger.reserve(std::max(out->capacity() * 2, out->size() + data.size()));
    bigger.append(*out);
    hsm::CleanseString(out);
    *out = std::move(bigger);
  }
  out->append(data.data(), data.size());
}

std::string ErrnoText(int err) {
  return err == ENOENT ? "no such file" : absl::AsciiStrToLower(strerror(err));
}

std::string SourceName(const std::string& path) { return path == kStdio ? "standard input" : path; }

// Control characters escaped, so that neither the server nor an argument can drive the
// terminal or split a line.
std::string Printable(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// Reads all of `path` ("-": standard input) as bytes into *out. `what` names the data in
// messages ("plaintext"); the data itself never appears in them. Refuses more than
// kMaxInputBytes.
absl::Status ReadInput(const std::string& path, absl::string_view what, std::string* out) {
  const std::string source = SourceName(path);
  auto too_large = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " from ", source, " is larger than 4 MiB, the most one request may carry"));
  };
  int fd = STDIN_FILENO;
  if (path != kStdio) {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", source, ": ", ErrnoText(errno)));
    }
  }
  struct stat info;
  if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
    if (static_cast<uint64_t>(info.st_size) > kMaxInputBytes) {
      if (fd != STDIN_FILENO) close(fd);
      return too_large();
    }
    out->reserve(static_cast<size_t>(info.st_size) + 1);
  }
  if (fd == STDIN_FILENO && isatty(fd)) {
    std::cerr << "strongroom: reading the " << what << " from the terminal; end it with Ctrl-D"
              << std::endl;
  }
  absl::Status status = absl::OkStatus();
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::FailedPreconditionError(
          absl::StrCat("cannot read ", source, ": ", ErrnoText(errno)));
      break;
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > kMaxInputBytes) {
      status = too_large();
      break;
    }
    AppendWiping(absl::string_view(buf, static_cast<size_t>(n)), out);
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  if (fd != STDIN_FILENO) close(fd);
  if (!status.ok()) hsm::CleanseString(out);
  return status;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& destination) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot write to ", destination, ": ", ErrnoText(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes `data` exactly to `path` ("-": standard output); a file is created with mode 0600
// (or truncated, keeping its mode).
absl::Status WriteOutput(const std::string& path, absl::string_view data) {
  if (path == kStdio) {
    std::cout.flush();
    return WriteAll(STDOUT_FILENO, data, "standard output");
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write to ", path, ": ", ErrnoText(errno)));
  }
  absl::Status status = WriteAll(fd, data, path);
  if (close(fd) != 0 && status.ok()) {
    status = absl::UnavailableError(absl::StrCat("cannot write to ", path, ": ", ErrnoText(errno)));
  }
  return status;
}

absl::Status Print(absl::string_view text) { return WriteOutput(kStdio, text); }

// One value from the server (ciphertext, signature, HMAC) on a line of its own.
absl::Status PrintLine(absl::string_view value) {
  return Print(absl::StrCat(Printable(value), "\n"));
}

// The reply as JSON to `path`. The text is wiped afterwards: it may carry plaintext.
absl::Status PrintJson(const google::protobuf::Message& reply, const std::string& path) {
  absl::StatusOr<std::string> json = FormatJson(reply);
  if (!json.ok()) return json.status();
  absl::Status status = WriteOutput(path, *json);
  hsm::CleanseString(&*json);
  return status;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  absl::Time time = absl::FromUnixSeconds(timestamp.seconds());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

absl::Status Missing(absl::string_view what) {
  return absl::InternalError(absl::StrCat("strongroomd returned no ", what));
}

// Runs `run` when `command` is invoked; a failure becomes the CLI's one-line error.
void OnRun(CLI::App* command, std::function<absl::Status()> run) {
  command->callback([run = std::move(run)] {
    absl::Status status = run();
    if (!status.ok()) throw CLI::RuntimeError(std::string(status.message()), 1);
  });
}

namespace {

// Longest duration accepted (google.protobuf.Duration allows 10000 years).
constexpr absl::Duration kMaxDuration = absl::Hours(24 * 365 * 100);

std::optional<absl::Duration> ParsePositiveDuration(const std::string& text) {
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration) || duration <= absl::ZeroDuration() ||
      duration > kMaxDuration) {
    return std::nullopt;
  }
  return duration;
}

}  // namespace

CLI::Option* AddDuration(CLI::App* command, const std::string& flag,
                         std::optional<absl::Duration>* value, const std::string& description) {
  return command
      ->add_option_function<std::string>(
          flag, [value](const std::string& text) { *value = ParsePositiveDuration(text); },
          description)
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            if (ParsePositiveDuration(text).has_value()) return "";
            return "want a duration such as 24h or 720h (more than 0, at most 100 years); got " +
                   text;
          },
          ""))
      ->type_name("DURATION");
}

absl::Status WriteNewFile(const std::string& path, absl::string_view data, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                static_cast<mode_t>(mode));
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create ", path, ": ", errno == EEXIST ? "it already exists" : ErrnoText(errno)));
  }
  absl::Status status = WriteAll(fd, data, path);
  if (close(fd) != 0 && status.ok()) {
    status = absl::UnavailableError(absl::StrCat("cannot write to ", path, ": ", ErrnoText(errno)));
  }
  return status;
}

}  // namespace strongroom::cli
