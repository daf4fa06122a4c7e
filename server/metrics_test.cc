#include "server/metrics.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;

// Runs `promtool check metrics` on `text`; returns {exit code, output}.
std::pair<int, std::string> PromtoolCheck(const std::string& text) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/exposition.txt");
  std::ofstream(path) << text;
  FILE* p = popen(absl::StrCat("promtool check metrics < ", path, " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(FormatValueTest, IntegersSpecialsAndShortestDecimals) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
}

TEST(EscapeLabelValueTest, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

TEST(MetricsRegistryTest, CountersAndGaugesPerLabelSet) {
  MetricsRegistry r;
  Family<Counter>* c = r.AddCounter("test_requests_total", "Requests.", {"method", "code"});
  c->WithLabels({"Encrypt", "OK"})->Increment();
  c->WithLabels({"Encrypt", "OK"})->Increment(2);
  c->WithLabels({"Decrypt", "NOT_FOUND"})->Increment();
  EXPECT_EQ(c->WithLabels({"Encrypt", "OK"}), c->WithLabels({"Encrypt", "OK"}));
  Gauge* g = r.AddGauge("test_temperature_celsius", "A gauge.")->Get();
  g->Set(5);
  g->Add(-7.5);
  EXPECT_EQ(r.Exposition(),
            "# HELP test_requests_total Requests.\n"
            "# TYPE test_requests_total counter\n"
            "test_requests_total{method=\"Decrypt\",code=\"NOT_FOUND\"} 1\n"
            "test_requests_total{method=\"Encrypt\",code=\"OK\"} 3\n"
            "# HELP test_temperature_celsius A gauge.\n"
            "# TYPE test_temperature_celsius gauge\n"
            "test_temperature_celsius -2.5\n");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInf) {
  MetricsRegistry r;
  Histogram* h =
      r.AddHistogram("test_duration_seconds", "Durations.", {"op"}, {0.1, 1})->WithLabels({"x"});
  h->Observe(0.05);
  h->Observe(0.1);  // upper bounds are inclusive
  h->Observe(0.5);
  h->Observe(3);
  EXPECT_EQ(r.Exposition(),
            "# HELP test_duration_seconds Durations.\n"
            "# TYPE test_duration_seconds histogram\n"
            "test_duration_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
            "test_duration_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
            "test_duration_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
            "test_duration_seconds_sum{op=\"x\"} 3.65\n"
            "test_duration_seconds_count{op=\"x\"} 4\n");
}

TEST(MetricsRegistryTest, CallbackGaugesAreEvaluatedAtScrape) {
  MetricsRegistry r;
  double v = 1;
  r.AddGaugeCallback("test_up", "Scrape-time value.", [&v] { return v; });
  r.AddGaugeCallback("test_info", "Info.", {"version"},
                     [](GaugeSink& sink) { sink.Add({"1.2.3"}, 1); });
  EXPECT_THAT(r.Exposition(), HasSubstr("test_up 1\n"));
  v = 0;
  EXPECT_THAT(r.Exposition(), HasSubstr("test_up 0\n"));
  EXPECT_THAT(r.Exposition(), HasSubstr("test_info{version=\"1.2.3\"} 1\n"));
}

TEST(MetricsRegistryTest, HelpAndLabelValuesAreEscaped) {
  MetricsRegistry r;
  r.AddCounter("test_odd_total", "Back\\slash and\nnewline.", {"path"})
      ->WithLabels({"C:\\dir \"q\"\nnext"})
      ->Increment();
  EXPECT_EQ(r.Exposition(),
            "# HELP test_odd_total Back\\\\slash and\\nnewline.\n"
            "# TYPE test_odd_total counter\n"
            "test_odd_total{path=\"C:\\\\dir \\\"q\\\"\\nnext\"} 1\n");
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry r;
  Family<Counter>* c = r.AddCounter("test_ops_total", "Ops.", {"worker"});
  Family<Histogram>* h = r.AddHistogram("test_op_seconds", "Op time.", {}, LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c->WithLabels({absl::StrCat(t % 2)})->Increment();
        h->Get()->Observe(0.001);
        if (i % 1000 == 0) (void)r.Exposition();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->WithLabels({"0"})->value() + c->WithLabels({"1"})->value(), 80000);
  EXPECT_EQ(h->Get()->snapshot().count, 80000u);
}

TEST(MetricsRegistryDeathTest, InvalidOrDuplicateNamesAbort) {
  MetricsRegistry r;
  r.AddCounter("test_a_total", "A.");
  EXPECT_DEATH(r.AddCounter("test_a_total", "Again."), "duplicate metric");
  EXPECT_DEATH(r.AddGauge("1bad", "Bad."), "invalid metric name");
  EXPECT_DEATH(r.AddGauge("test_g", "G.", {"le-x"}), "invalid label name");
  EXPECT_DEATH(r.AddHistogram("test_h", "H.", {}, {1, 1}), "strictly increasing");
  Family<Counter>* c = r.AddCounter("test_b_total", "B.", {"x"});
  EXPECT_DEATH(c->WithLabels({}), "expected 1 label values");
}

TEST(MetricsRegistryTest, PromtoolAcceptsTheExposition) {
  MetricsRegistry r;
  r.AddCounter("test_requests_total", "Requests by method and code.", {"method", "code"})
      ->WithLabels({"Encrypt", "OK"})
      ->Increment(3);
  r.AddGauge("test_sessions", "Sessions in use.")->Get()->Set(2);
  Family<Histogram>* h =
      r.AddHistogram("test_request_duration_seconds", "Latency.", {"method"}, LatencyBuckets());
  h->WithLabels({"Encrypt"})->Observe(0.003);
  h->WithLabels({"Decrypt"})->Observe(12);
  r.AddGaugeCallback("test_info", "Info with \"quotes\" \\ and\nnewline.", {"version"},
                     [](GaugeSink& sink) { sink.Add({"v\"1\"\n"}, 1); });
  r.AddGaugeCallback("test_start_time_seconds", "Start time.", [] { return 1.7e9 + 0.25; });
  std::string text = r.Exposition();
  auto [code, out] = PromtoolCheck(text);
  EXPECT_EQ(code, 0) << out << "\n" << text;
}

}  // namespace
}  // namespace strongroom::server
