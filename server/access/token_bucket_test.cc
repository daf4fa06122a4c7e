#include "server/access/token_bucket.h"

#include <gtest/gtest.h>

namespace strongroom::server::access {
namespace {

int Takes(TokenBucket& bucket, absl::Time now, int tries) {
  int taken = 0;
  for (int i = 0; i < tries; ++i) taken += bucket.TryTake(now) ? 1 : 0;
  return taken;
}

TEST(TokenBucketTest, StartsFullThenRefillsAtTheRateUpToTheBurst) {
  TokenBucket bucket(/*per_second=*/10, /*burst=*/5);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(Takes(bucket, t0, 100), 5);
  EXPECT_EQ(Takes(bucket, t0 + absl::Milliseconds(50), 100), 0);  // half a token earned
  EXPECT_EQ(Takes(bucket, t0 + absl::Milliseconds(100), 100), 1);
  EXPECT_EQ(Takes(bucket, t0 + absl::Milliseconds(400), 100), 3);
  // A long pause earns no more than the burst.
  EXPECT_EQ(Takes(bucket, t0 + absl::Hours(1), 100), 5);
}

TEST(TokenBucketTest, TimeGoingBackwardsEarnsNothing) {
  TokenBucket bucket(/*per_second=*/1, /*burst=*/1);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(bucket.TryTake(t0));
  EXPECT_FALSE(bucket.TryTake(t0 - absl::Seconds(10)));
  EXPECT_FALSE(bucket.TryTake(t0 + absl::Milliseconds(999)));
  EXPECT_TRUE(bucket.TryTake(t0 + absl::Seconds(1)));
}

TEST(TokenBucketTest, ARefundGivesATokenBackUpToTheBurst) {
  TokenBucket bucket(/*per_second=*/0, /*burst=*/2);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(Takes(bucket, t0, 10), 2);
  bucket.Refund();
  EXPECT_EQ(Takes(bucket, t0, 10), 1);
  for (int i = 0; i < 5; ++i) bucket.Refund();
  EXPECT_EQ(Takes(bucket, t0, 10), 2);
}

TEST(TokenBucketTest, AZeroRateNeverGivesOne) {
  TokenBucket bucket(/*per_second=*/0, /*burst=*/0);
  EXPECT_EQ(Takes(bucket, absl::FromUnixSeconds(1000), 10), 0);
  EXPECT_EQ(Takes(bucket, absl::FromUnixSeconds(5000), 10), 0);
}

}  // namespace
}  // namespace strongroom::server::access
