// SoftHsmToken: a fresh SoftHSM2 token for one test binary, under $TEST_TMPDIR.
//
// Create() writes a softhsm2.conf whose tokendir is a new folder, points SOFTHSM2_CONF at
// it (so child processes such as pkcs11-tool see the same token), initialises a token and
// writes its user PIN to a 0600 file. Test-only.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hsm/hsm.h"

namespace strongroom::hsm::testing {

inline constexpr char kSoftHsmModule[] = "/usr/lib/softhsm/libsofthsm2.so";

// Runs `command` with /bin/sh, returning its exit status and combined stdout+stderr.
struct CommandResult {
  int exit_code;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

struct SoftHsmToken {
  std::string dir;  // holds softhsm2.conf, tokens/, user.pin
  std::string label;
  std::string pin;  // the test PIN (tests may print it; the product never does)
  std::string pin_file;

  HsmOptions Options() const;

  // pkcs11-tool's listing of the objects labelled `label` (an outside view of the token:
  // class, usage and access flags such as "sensitive" and "never extractable").
  std::string DescribeObjects(const std::string& label) const;
  // The labels of every object on the token, one per object, as pkcs11-tool lists them.
  absl::StatusOr<std::vector<std::string>> ObjectLabels() const;

  // Sets up a token labelled `label` in a new folder under $TEST_TMPDIR (or /tmp).
  static absl::StatusOr<SoftHsmToken> Create(const std::string& label = "strongroom-test");

 private:
  CommandResult ListObjects() const;
};

// Writes `content` to `path` with `mode`, replacing any file there.
absl::Status WriteFile(const std::string& path, const std::string& content, int mode);

}  // namespace strongroom::hsm::testing
