#include "hsm/testing/softhsm_token.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace strongroom::hsm::testing {

absl::Status WriteFile(const std::string& path, const std::string& content, int mode) {
  unlink(path.c_str());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = fchmod(fd, mode) == 0 && ok;
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", path));
  return absl::OkStatus();
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result{-1, ""};
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) result.output.append(buf, n);
  int status = pclose(p);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

HsmOptions SoftHsmToken::Options() const {
  HsmOptions options;
  options.module_path = kSoftHsmModule;
  options.token_label = label;
  options.pin_file = pin_file;
  options.max_sessions = 8;
  options.reconnect_interval = absl::ZeroDuration();
  return options;
}

CommandResult SoftHsmToken::ListObjects() const {
  // The PIN goes through the environment, read from the PIN file by the shell, never on a
  // command line.
  return RunCommand(absl::StrCat("P11PIN=$(cat '", pin_file, "') pkcs11-tool --module ",
                                 kSoftHsmModule, " --token-label ", label,
                                 " --login --pin env:P11PIN --list-objects"));
}

absl::StatusOr<std::vector<std::string>> SoftHsmToken::ObjectLabels() const {
  CommandResult r = ListObjects();
  if (r.exit_code != 0) return absl::InternalError("pkcs11-tool failed: " + r.output);
  std::vector<std::string> labels;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "label:")) {
      labels.emplace_back(absl::StripAsciiWhitespace(line));
    }
  }
  return labels;
}

std::string SoftHsmToken::DescribeObjects(const std::string& object_label) const {
  CommandResult r = ListObjects();
  if (r.exit_code != 0) return "pkcs11-tool failed: " + r.output;
  // Objects are listed as a heading line ("Secret Key Object; AES ...") followed by
  // indented attribute lines.
  std::string block, found;
  auto flush = [&] {
    if (absl::StrContains(block, absl::StrCat("label:      ", object_label, "\n"))) {
      absl::StrAppend(&found, block, "--\n");
    }
    block.clear();
  };
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (absl::StrContains(line, "Object;")) flush();
    absl::StrAppend(&block, line, "\n");
  }
  flush();
  return found;
}

absl::StatusOr<SoftHsmToken> SoftHsmToken::Create(const std::string& label) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string base = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/softhsm-XXXXXX");
  if (mkdtemp(base.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  SoftHsmToken token;
  token.dir = base;
  token.label = label;
  token.pin = "test-pin-4711";
  token.pin_file = base + "/user.pin";
  std::string tokens = base + "/tokens";
  if (mkdir(tokens.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("mkdir ", tokens, ": ", strerror(errno)));
  }
  std::string conf = base + "/softhsm2.conf";
  absl::Status s = WriteFile(conf,
                             absl::StrCat("directories.tokendir = ", tokens,
                                          "\nobjectstore.backend = file\nlog.level = ERROR\n"),
                             0600);
  if (!s.ok()) return s;
  setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  if (s = WriteFile(token.pin_file, token.pin, 0600); !s.ok()) return s;
  s = Hsm::InitToken(kSoftHsmModule, label, SecretData::Copy("test-so-pin-4711"),
                     SecretData::Copy(token.pin));
  if (!s.ok()) return s;
  return token;
}

}  // namespace strongroom::hsm::testing
