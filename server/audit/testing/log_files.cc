#include "server/audit/testing/log_files.h"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace strongroom::server::audit::testing {

std::string FreshDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  std::string command = absl::StrCat("rm -rf '", dir, "' && mkdir -p '", dir, "'");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return dir;
}

AuditEvent SampleEvent(int i) {
  AuditEvent event;
  event.time = absl::Now();
  event.request_id = absl::StrCat("req-", i);
  event.identity = "spiffe://example.org/app";
  event.peer = "ipv4:127.0.0.1:50000";
  event.operation = "transit.encrypt";
  event.resource = absl::StrCat("transit/keys/k", i % 7);
  event.key_version = 3;
  event.code = "OK";
  event.latency = absl::Microseconds(250 + i);
  return event;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return {};
  return absl::StrSplit(text, '\n');
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const std::string& line : lines) out << line << '\n';
  EXPECT_TRUE(out.good()) << path;
}

std::vector<std::string> LogFiles(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = path.substr(0, slash);
  std::string prefix = path.substr(slash + 1) + ".";
  std::vector<std::pair<uint64_t, std::string>> rotated;
  DIR* listing = opendir(dir.c_str());
  EXPECT_NE(listing, nullptr) << dir;
  while (const dirent* entry = readdir(listing)) {
    std::string name = entry->d_name;
    uint64_t first_seq;
    if (absl::StartsWith(name, prefix) &&
        absl::SimpleAtoi(name.substr(name.rfind('.') + 1), &first_seq)) {
      rotated.emplace_back(first_seq, absl::StrCat(dir, "/", name));
    }
  }
  closedir(listing);
  std::sort(rotated.begin(), rotated.end());
  std::vector<std::string> files;
  for (auto& [seq, file] : rotated) files.push_back(file);
  files.push_back(path);
  return files;
}

}  // namespace strongroom::server::audit::testing
