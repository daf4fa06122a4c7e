// Metrics: a small registry of counters, gauges and histograms with Prometheus text
// exposition (format 0.0.4).
//
// A metric family is registered once (at start-up) with a name, help text and label names;
// its series are found per label set with WithLabels(), which takes only a shared (reader)
// lock on a read-mostly map — creating a new series takes the writer lock once. Callers on
// the hot path keep the returned pointer where the labels are fixed. Updates are lock-free
// atomics. Gauges may instead be callbacks evaluated at scrape time. Series live as long as
// the registry; pointers to them stay valid.
//
// Registering an invalid or duplicate name, or a label set of the wrong size, is a
// programming error and aborts. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace strongroom::server {

// Counter: a monotonically increasing value.
class Counter {
 public:
  // `v` must be >= 0.
  void Increment(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Gauge: a value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Histogram: counts of observations in fixed cumulative buckets, with their sum.
class Histogram {
 public:
  // `bounds` are the finite upper bounds, strictly increasing; +Inf is implicit.
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count;
    double sum;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // non-cumulative, bounds + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default buckets for request latencies in seconds (0.5 ms to 10 s).
std::vector<double> LatencyBuckets();

// Family<T>: the series of one metric, one per label set.
template <typename T>
class Family;

class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  // Appends this family's HELP, TYPE and sample lines.
  virtual void Write(std::string* out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, std::string type,
             std::vector<std::string> label_names);
  void WriteHeader(std::string* out) const;
  // `name{l1="v1",...,extra}` (extra is an already formatted label, may be empty).
  void WriteSample(std::string* out, const std::string& suffix,
                   const std::vector<std::string>& values, const std::string& extra,
                   double value) const;

  const std::string name_;
  const std::string help_;
  const std::string type_;
  const std::vector<std::string> label_names_;
};

// What a gauge callback reports: one value per label set.
class GaugeSink {
 public:
  virtual ~GaugeSink() = default;
  virtual void Add(const std::vector<std::string>& label_values, double value) = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Family<Counter>* AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>* AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);
  // A gauge evaluated at every scrape: `fn` adds one sample per label set. It runs on the
  // scraping thread and must be thread-safe.
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names, std::function<void(GaugeSink&)> fn);
  // A gauge without labels evaluated at every scrape.
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::function<double()> fn);

  // Every family in the Prometheus text format, families sorted by name, series by label
  // values.
  std::string Exposition() const;

 private:
  template <typename F>
  F* Add(std::unique_ptr<F> family);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

template <typename T>
class Family : public FamilyBase {
 public:
  // The series for `label_values` (as many as the label names), created on first use.
  T* WithLabels(const std::vector<std::string>& label_values);
  // The series of a family without labels.
  T* Get() { return WithLabels({}); }
  void Write(std::string* out) const override;

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  std::unique_ptr<T> NewSeries() const;

  const std::vector<double> bounds_;  // histograms only
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::vector<std::string>, std::unique_ptr<T>> series_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value (backslash, double quote, newline) for the text format.
std::string EscapeLabelValue(const std::string& value);
// Formats a sample value as Prometheus expects: integers without exponent, +Inf, -Inf, NaN.
std::string FormatValue(double value);

}  // namespace strongroom::server
