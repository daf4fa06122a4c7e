#include "server/access/source_refusals.h"

#include "gtest/gtest.h"

namespace strongroom::server::access {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(SourceRefusalsTest, SourceDropsThePort) {
  EXPECT_EQ(SourceRefusals::SourceOf("ipv4:127.0.0.1:40112"), "ipv4:127.0.0.1");
  EXPECT_EQ(SourceRefusals::SourceOf("ipv6:[::1]:40112"), "ipv6:[::1]");
  EXPECT_EQ(SourceRefusals::SourceOf("ipv6:[::1]"), "ipv6:[::1]");
  EXPECT_EQ(SourceRefusals::SourceOf("unix:/run/x"), "unix:/run/x");
}

TEST(SourceRefusalsTest, RefusedSourceIsMeteredOthersAreNot) {
  SourceRefusals refusals(/*per_second=*/2);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(refusals.Admit("ipv4:10.0.0.1", kT0));
  refusals.Refused("ipv4:10.0.0.1", kT0);  // takes 1 of 2
  EXPECT_TRUE(refusals.Admit("ipv4:10.0.0.1", kT0));  // takes the last
  EXPECT_FALSE(refusals.Admit("ipv4:10.0.0.1", kT0));
  EXPECT_TRUE(refusals.Admit("ipv4:10.0.0.2", kT0));  // another source is untouched
  // The bucket refills at its rate...
  EXPECT_TRUE(refusals.Admit("ipv4:10.0.0.1", kT0 + absl::Milliseconds(600)));
  EXPECT_FALSE(refusals.Admit("ipv4:10.0.0.1", kT0 + absl::Milliseconds(700)));
  // ...and a source quiet for kQuietAfter is free again.
  EXPECT_TRUE(refusals.Admit("ipv4:10.0.0.1", kT0 + SourceRefusals::kQuietAfter));
}

TEST(SourceRefusalsTest, ManySourcesShareTheOverflowBudget) {
  SourceRefusals refusals(/*per_second=*/1, /*max_sources=*/2);
  refusals.Refused("a", kT0);
  refusals.Refused("b", kT0);
  // The table is full: untracked sources draw from one shared bucket of 1.
  EXPECT_TRUE(refusals.Admit("c", kT0));
  EXPECT_FALSE(refusals.Admit("d", kT0));
  // Once the tracked ones are quiet, they are forgotten on the next refusal.
  refusals.Refused("e", kT0 + SourceRefusals::kQuietAfter);
  EXPECT_TRUE(refusals.Admit("f", kT0 + SourceRefusals::kQuietAfter));
}

}  // namespace
}  // namespace strongroom::server::access
