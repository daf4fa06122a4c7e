// A small reader for Wycheproof JSON test-vector files (testGroups[].tests[]), for tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace strongroom::kms::crypto::testing {

// The environment variable naming the directory that holds the vector files.
inline constexpr char kWycheproofDirEnv[] = "STRONGROOM_WYCHEPROOF_DIR";

// The environment variable that, set to 1, lets the tests skip when the vectors are
// missing; otherwise missing vectors fail them.
inline constexpr char kWycheproofOptionalEnv[] = "STRONGROOM_WYCHEPROOF_OPTIONAL";

// Whether $STRONGROOM_WYCHEPROOF_OPTIONAL is "1".
bool WycheproofOptional();

// WycheproofDir returns $STRONGROOM_WYCHEPROOF_DIR if set and non-empty, else
// <repo root>/../shared/testdata/wycheproof, where the repo root is the directory of the
// resolved (realpath) runfile $TEST_SRCDIR/strongroom/WORKSPACE. The directory may not
// exist; FAILED_PRECONDITION if neither source of a path is available.
absl::StatusOr<std::string> WycheproofDir();

// One test case, with pointers into the WycheproofFile that produced it.
struct WycheproofCase {
  const google::protobuf::Struct* group = nullptr;
  const google::protobuf::Struct* test = nullptr;
  int64_t tc_id = 0;
  std::string comment;
  std::string result;  // "valid", "invalid" or "acceptable".
  std::vector<std::string> flags;

  bool HasFlag(absl::string_view flag) const;
  // "tcId 12 (comment) [Flag1,Flag2]", for SCOPED_TRACE and failure messages.
  std::string Describe() const;
};

// WycheproofFile: one parsed JSON suite. Immutable after Load.
class WycheproofFile {
 public:
  // Load reads and parses `path`; NOT_FOUND if it cannot be read, INVALID_ARGUMENT if it
  // is not JSON of the expected shape.
  static absl::StatusOr<std::unique_ptr<WycheproofFile>> Load(const std::string& path);

  const std::string& path() const { return path_; }
  const google::protobuf::Struct& root() const { return root_; }
  // Every test of every group, in file order. Valid as long as this file is.
  const std::vector<WycheproofCase>& cases() const { return cases_; }

 private:
  WycheproofFile() = default;

  std::string path_;
  google::protobuf::Struct root_;
  std::vector<WycheproofCase> cases_;
};

// Field accessors on a group or test object. A missing field or one of another JSON type
// reads as "" or 0.
std::string GetString(const google::protobuf::Struct& object, const std::string& key);
// A JSON number, or a string holding a decimal integer.
int64_t GetInt(const google::protobuf::Struct& object, const std::string& key);
// The hex-decoded bytes of a string field; INVALID_ARGUMENT for a missing field or bad hex.
absl::StatusOr<std::string> GetHex(const google::protobuf::Struct& object, const std::string& key);

}  // namespace strongroom::kms::crypto::testing
