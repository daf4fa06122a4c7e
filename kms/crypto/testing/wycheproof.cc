#include "kms/crypto/testing/wycheproof.h"

#include <limits.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"

namespace strongroom::kms::crypto::testing {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Find(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? nullptr : &it->second;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool WycheproofOptional() {
  const char* optional = getenv(kWycheproofOptionalEnv);
  return optional != nullptr && absl::string_view(optional) == "1";
}

absl::StatusOr<std::string> WycheproofDir() {
  if (const char* dir = getenv(kWycheproofDirEnv); dir != nullptr && *dir != '\0') {
    return std::string(dir);
  }
  const char* srcdir = getenv("TEST_SRCDIR");
  if (srcdir == nullptr || *srcdir == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("set ", kWycheproofDirEnv, " or run under bazel test (TEST_SRCDIR unset)"));
  }
  const std::string workspace = absl::StrCat(srcdir, "/strongroom/WORKSPACE");
  char resolved[PATH_MAX];
  if (realpath(workspace.c_str(), resolved) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve the runfile ", workspace, "; set ", kWycheproofDirEnv));
  }
  std::string root(resolved);
  root.resize(root.rfind('/'));
  return absl::StrCat(root, "/../shared/testdata/wycheproof");
}

bool WycheproofCase::HasFlag(absl::string_view flag) const {
  for (const std::string& f : flags) {
    if (f == flag) return true;
  }
  return false;
}

std::string WycheproofCase::Describe() const {
  return absl::StrCat("tcId ", tc_id, " (", comment, ") [", absl::StrJoin(flags, ","), "] ",
                      result);
}

absl::StatusOr<std::unique_ptr<WycheproofFile>> WycheproofFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream json;
  json << in.rdbuf();
  std::unique_ptr<WycheproofFile> file(new WycheproofFile());
  file->path_ = path;
  const auto status = google::protobuf::util::JsonStringToMessage(json.str(), &file->root_);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not valid JSON: ", status.ToString()));
  }
  const Value* groups = Find(file->root_, "testGroups");
  if (groups == nullptr || !groups->has_list_value()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has no testGroups list"));
  }
  for (const Value& group : groups->list_value().values()) {
    if (!group.has_struct_value()) continue;
    const Value* tests = Find(group.struct_value(), "tests");
    if (tests == nullptr || !tests->has_list_value()) continue;
    for (const Value& test : tests->list_value().values()) {
      if (!test.has_struct_value()) continue;
      WycheproofCase c;
      c.group = &group.struct_value();
      c.test = &test.struct_value();
      c.tc_id = GetInt(*c.test, "tcId");
      c.comment = GetString(*c.test, "comment");
      c.result = GetString(*c.test, "result");
      if (const Value* flags = Find(*c.test, "flags");
          flags != nullptr && flags->has_list_value()) {
        for (const Value& flag : flags->list_value().values())
          c.flags.push_back(flag.string_value());
      }
      file->cases_.push_back(std::move(c));
    }
  }
  return file;
}

std::string GetString(const Struct& object, const std::string& key) {
  const Value* v = Find(object, key);
  return v != nullptr && v->has_string_value() ? v->string_value() : std::string();
}

int64_t GetInt(const Struct& object, const std::string& key) {
  const Value* v = Find(object, key);
  if (v == nullptr) return 0;
  if (v->kind_case() == Value::kNumberValue) return static_cast<int64_t>(v->number_value());
  int64_t n = 0;
  if (v->has_string_value() && absl::SimpleAtoi(v->string_value(), &n)) return n;
  return 0;
}

absl::StatusOr<std::string> GetHex(const Struct& object, const std::string& key) {
  const Value* v = Find(object, key);
  if (v == nullptr || !v->has_string_value()) {
    return absl::InvalidArgumentError(absl::StrCat("no string field ", key));
  }
  const std::string& hex = v->string_value();
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("odd-length hex in ", key));
  }
  std::string bytes(hex.size() / 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError(absl::StrCat("bad hex in ", key));
    bytes[i] = static_cast<char>(hi << 4 | lo);
  }
  return bytes;
}

}  // namespace strongroom::kms::crypto::testing
