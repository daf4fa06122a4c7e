#include "server/access/visible_page.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/access/testing/policies.h"

namespace strongroom::server::access {
namespace {

using ::testing::ElementsAreArray;

// A sorted listing served in pages of `engine_page`, as the engines do.
class FakeListing {
 public:
  FakeListing(std::vector<std::string> names, size_t engine_page)
      : names_(std::move(names)), engine_page_(engine_page) {
    std::sort(names_.begin(), names_.end());
  }
  absl::StatusOr<std::vector<std::string>> Fetch(const std::string& after, std::string* next) {
    ++fetches;
    auto it =
        after.empty() ? names_.begin() : std::upper_bound(names_.begin(), names_.end(), after);
    std::vector<std::string> page;
    for (; it != names_.end() && page.size() < engine_page_; ++it) page.push_back(*it);
    next->clear();
    if (it != names_.end()) *next = page.back();
    return page;
  }
  int fetches = 0;

 private:
  std::vector<std::string> names_;
  size_t engine_page_;
};

std::shared_ptr<const PolicySet> Policies() {
  v1::AuthConfig config;
  testing::AddRule(&config, "app", "transit/keys/app-*", {"read"});
  testing::AddRule(&config, "app", "transit/keys/app-secret", {"*"}, "deny");
  return testing::Compile(config);
}

Principal Token(std::vector<std::string> policies) {
  return testing::TokenPrincipal(std::move(policies));
}

// Every page size, with the readable names spread among others: the pages together are
// exactly the readable names, in order, each page no longer than asked.
TEST(VisiblePageTest, PagesTogetherAreExactlyTheReadableNames) {
  std::vector<std::string> names, readable;
  for (int i = 0; i < 40; ++i) {
    std::string name = absl::StrCat(i % 3 == 0 ? "app-" : "db-", 100 + i);
    names.push_back(name);
    if (i % 3 == 0) readable.push_back(name);
  }
  names.push_back("app-secret");  // denied
  std::sort(readable.begin(), readable.end());
  auto policies = Policies();
  for (uint32_t page_size = 1; page_size <= 15; ++page_size) {
    SCOPED_TRACE(page_size);
    FakeListing listing(names, page_size);
    std::vector<std::string> seen;
    std::string token;
    for (int calls = 0; calls < 100; ++calls) {
      std::string next;
      auto page = VisiblePage(
          *policies, Token({"app"}), "transit/keys/", page_size, token,
          [&](const std::string& t, std::string* n) { return listing.Fetch(t, n); }, &next);
      ASSERT_TRUE(page.ok()) << page.status();
      EXPECT_LE(page->size(), page_size);
      seen.insert(seen.end(), page->begin(), page->end());
      if (next.empty()) break;
      token = next;
    }
    EXPECT_THAT(seen, ElementsAreArray(readable));
  }
}

// Nothing readable: the scan per call is bounded and the client can go on from where it
// stopped; a caller with `read` on everything (root) sees every name.
TEST(VisiblePageTest, ScanIsBoundedAndRootSeesAll) {
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back(absl::StrCat("db-", 1000 + i));
  auto policies = Policies();
  FakeListing listing(names, 5);
  std::string next;
  auto page = VisiblePage(
      *policies, Token({"app"}), "transit/keys/", 5, "",
      [&](const std::string& t, std::string* n) { return listing.Fetch(t, n); }, &next);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->empty());
  EXPECT_EQ(listing.fetches, kMaxScannedPages);
  EXPECT_EQ(next, "db-1049");

  page = VisiblePage(
      *policies, Token({"root"}), "transit/keys/", 0, "",
      [&](const std::string& t, std::string* n) { return listing.Fetch(t, n); }, &next);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->size(), 50u);  // 10 engine pages of 5
  page = VisiblePage(
      *policies, Token({"root"}), "transit/keys/", 3, "db-1197",
      [&](const std::string& t, std::string* n) { return listing.Fetch(t, n); }, &next);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(*page, ElementsAreArray({"db-1198", "db-1199"}));
  EXPECT_EQ(next, "");
}

TEST(VisiblePageTest, FetchErrorsAreReturned) {
  std::string next;
  auto page = VisiblePage(
      *Policies(), Token({"root"}), "transit/keys/", 5, "",
      [](const std::string&, std::string*) -> absl::StatusOr<std::vector<std::string>> {
        return absl::UnavailableError("sealed");
      },
      &next);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace strongroom::server::access
