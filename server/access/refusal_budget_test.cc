#include "server/access/refusal_budget.h"

#include "gtest/gtest.h"

namespace strongroom::server::access {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr char kAccessor[] = "0123456789abcdef0123456789abcdef";

// After a wrong secret an accessor is under attack for kSuspectFor after its last refused
// attempt: its checks are paid from the refusal budget, not the first-check budget.
TEST(RefusalBudgetTest, AnAccessorStaysUnderAttackUntilAttemptsStop) {
  RefusalBudget budget(/*per_second=*/1, /*max_suspects=*/10);
  absl::StatusOr<RefusalBudget::Ticket> first = budget.Admit(kAccessor, kNow);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->first_check);
  budget.Settle(kAccessor, kNow, *first, /*genuine=*/false);  // pays the first refusal
  EXPECT_EQ(budget.suspects(), 1u);

  // Both budgets are spent: refused before any HSM work, naming why.
  absl::StatusOr<RefusalBudget::Ticket> again = budget.Admit(kAccessor, kNow + absl::Milliseconds(1));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(again.status().message().find("refused attempts with its accessor"), std::string::npos);

  const absl::Time last = kNow + absl::Milliseconds(1);
  absl::StatusOr<RefusalBudget::Ticket> before =
      budget.Admit(kAccessor, last + RefusalBudget::kSuspectFor - absl::Milliseconds(1));
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(before->suspect);
  budget.Settle(kAccessor, last, *before, /*genuine=*/true);  // genuine: no longer suspect
  EXPECT_EQ(budget.suspects(), 0u);
  absl::StatusOr<RefusalBudget::Ticket> after =
      budget.Admit(kAccessor, last + RefusalBudget::kSuspectFor + absl::Seconds(1));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(after->suspect);
  EXPECT_TRUE(after->first_check);
}

// A genuine first check gives its share back; a wrong one does not.
TEST(RefusalBudgetTest, OnlyWrongSecretsSpendTheFirstCheckBudget) {
  RefusalBudget budget(/*per_second=*/1, /*max_suspects=*/10);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RefusalBudget::Ticket> ticket = budget.Admit(kAccessor, kNow);
    ASSERT_TRUE(ticket.ok()) << i << ": " << ticket.status();
    budget.Settle(kAccessor, kNow, *ticket, /*genuine=*/true);
  }
  absl::StatusOr<RefusalBudget::Ticket> ticket = budget.Admit("other", kNow);
  ASSERT_TRUE(ticket.ok());
  budget.Settle("other", kNow, *ticket, /*genuine=*/false);
  absl::StatusOr<RefusalBudget::Ticket> refused = budget.Admit("third", kNow);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("unverified tokens"), std::string::npos);
}

// A full table of accessors under attack counts every accessor as one: the table never
// grows past its bound, and HSM work stays metered by the refusal budget.
TEST(RefusalBudgetTest, AFullSuspectTableMetersEveryAccessor) {
  RefusalBudget budget(/*per_second=*/100, /*max_suspects=*/3);
  for (int i = 0; i < 10; ++i) {
    const std::string accessor = std::to_string(i);
    absl::StatusOr<RefusalBudget::Ticket> ticket = budget.Admit(accessor, kNow);
    ASSERT_TRUE(ticket.ok()) << ticket.status();
    EXPECT_EQ(ticket->suspect, i >= 3) << i;
    budget.Settle(accessor, kNow, *ticket, /*genuine=*/false);
  }
  EXPECT_EQ(budget.suspects(), 3u);
  // Entries age out after kSuspectFor.
  absl::StatusOr<RefusalBudget::Ticket> later =
      budget.Admit("fresh", kNow + RefusalBudget::kSuspectFor);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->suspect);
}

TEST(RefusalBudgetTest, AuditHmacsArePaidFromTheRefusalBudget) {
  RefusalBudget budget(/*per_second=*/2, /*max_suspects=*/10);
  EXPECT_TRUE(budget.TakeAuditHmac(kNow));
  EXPECT_TRUE(budget.TakeAuditHmac(kNow));
  EXPECT_FALSE(budget.TakeAuditHmac(kNow));
  EXPECT_TRUE(budget.TakeAuditHmac(kNow + absl::Seconds(1)));
}

}  // namespace
}  // namespace strongroom::server::access
