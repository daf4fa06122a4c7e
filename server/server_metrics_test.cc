#include "server/server_metrics.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The route and method strings as HttpServer passes them: its own, stable for its life.
constexpr absl::string_view kHealth = "/v1/sys/health";
constexpr absl::string_view kEncrypt = "/v1/transit/encrypt/{name}";

std::string Requests(absl::string_view route, absl::string_view method, int code, int count) {
  return absl::StrCat("strongroom_http_requests_total{route=\"", route, "\",method=\"", method,
                      "\",code=\"", code, "\"} ", count, "\n");
}

TEST(ServerMetricsTest, HttpRequestsAreCountedByRouteMethodAndStatus) {
  MetricsRegistry registry;
  ServerMetrics metrics(&registry);
  auto record = [&] {
    for (int i = 0; i < 3; ++i) metrics.RecordHttp("GET", kHealth, 200, absl::Milliseconds(1));
    metrics.RecordHttp("GET", kHealth, 503, absl::Milliseconds(1));
    metrics.RecordHttp("POST", kEncrypt, 200, absl::Milliseconds(2));
  };
  // Twice on this thread and once on another: each thread's series are the same series.
  record();
  record();
  std::thread other(record);
  other.join();
  const std::string text = registry.Exposition();
  EXPECT_THAT(text, HasSubstr(Requests(kHealth, "GET", 200, 9)));
  EXPECT_THAT(text, HasSubstr(Requests(kHealth, "GET", 503, 3)));
  EXPECT_THAT(text, HasSubstr(Requests(kEncrypt, "POST", 200, 3)));
  EXPECT_THAT(text, Not(HasSubstr(Requests(kEncrypt, "GET", 200, 3))));
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "strongroom_http_request_duration_seconds_count{route=\"", kHealth,
                        "\",method=\"GET\"} 12\n")));
}

TEST(ServerMetricsTest, EachInstanceCountsItsOwnHttpRequests) {
  MetricsRegistry first_registry, second_registry;
  ServerMetrics first(&first_registry);
  first.RecordHttp("GET", kHealth, 200, absl::Milliseconds(1));
  ServerMetrics second(&second_registry);
  second.RecordHttp("GET", kHealth, 200, absl::Milliseconds(1));
  second.RecordHttp("GET", kHealth, 200, absl::Milliseconds(1));
  EXPECT_THAT(first_registry.Exposition(), HasSubstr(Requests(kHealth, "GET", 200, 1)));
  EXPECT_THAT(second_registry.Exposition(), HasSubstr(Requests(kHealth, "GET", 200, 2)));
}

}  // namespace
}  // namespace strongroom::server
