// The short soak of CI: tools/soak/strongroom-soak against a real strongroomd for 90 s of
// mixed and hostile load, then 20 s idle. It fails on a lost write (a ciphertext that does
// not decrypt, a rotation, token, certificate or revocation not as acknowledged), an audit
// log that does not verify, a request with an unexpected outcome, or growth: RSS more than
// 20 % above its level 30 s into the load, or fds/threads beyond a small slack.
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;

TEST(SoakTest, MixedLoadLosesNothingAndMemoryComesBack) {
  testing::RunResult soak = testing::RunCommand(
      {testing::Runfile("tools/soak/strongroom-soak"), "--seconds", "90", "--warmup-seconds", "30",
       "--idle-seconds", "20"},
      {}, absl::Minutes(4));
  std::printf("%s\n", soak.output.c_str());  // the per-minute table, in the test log
  EXPECT_EQ(soak.exit_code, 0) << soak.output;
  EXPECT_THAT(soak.output, HasSubstr(", 0 do not decrypt"));
  EXPECT_THAT(soak.output, HasSubstr("audit verify: exit 0"));
  EXPECT_THAT(soak.output, HasSubstr("soak: PASS"));
}

}  // namespace
}  // namespace strongroom
