#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server {
namespace {

void AtomicAdd(std::atomic<double>& a, double v) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = absl::ascii_isalpha(c) || c == '_' || (allow_colon && c == ':') ||
              (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Sorted (label values, series) pairs of a family, copied under its reader lock.
template <typename T, typename Map>
std::vector<std::pair<std::vector<std::string>, const T*>> Sorted(const Map& series) {
  std::vector<std::pair<std::vector<std::string>, const T*>> out;
  out.reserve(series.size());
  for (const auto& [labels, s] : series) out.emplace_back(labels, s.get());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

class CallbackFamily : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, std::vector<std::string> label_names,
                 std::function<void(GaugeSink&)> fn)
      : FamilyBase(std::move(name), std::move(help), "gauge", std::move(label_names)),
        fn_(std::move(fn)) {}

  void Write(std::string* out) const override {
    struct Collector : GaugeSink {
      size_t arity;
      const std::string* name;
      std::vector<std::pair<std::vector<std::string>, double>> samples;
      void Add(const std::vector<std::string>& values, double value) override {
        if (values.size() != arity) Die(absl::StrCat(*name, ": wrong number of label values"));
        samples.emplace_back(values, value);
      }
    } collector;
    collector.arity = label_names_.size();
    collector.name = &name_;
    fn_(collector);
    std::sort(collector.samples.begin(), collector.samples.end());
    WriteHeader(out);
    for (const auto& [values, value] : collector.samples) {
      WriteSample(out, "", values, "", value);
    }
  }

 private:
  std::function<void(GaugeSink&)> fn_;
};

}  // namespace

void Counter::Increment(double v) { AtomicAdd(value_, v); }

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  // Concurrent observations may land between the loads; keep the exposition consistent
  // (count equals the +Inf bucket).
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

FamilyBase::FamilyBase(std::string name, std::string help, std::string type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(std::move(type)),
      label_names_(std::move(label_names)) {
  if (!ValidName(name_, /*allow_colon=*/true)) Die(absl::StrCat("invalid metric name ", name_));
  for (const std::string& l : label_names_) {
    if (!ValidName(l, false) || l.rfind("__", 0) == 0 || (type_ == "histogram" && l == "le")) {
      Die(absl::StrCat(name_, ": invalid label name ", l));
    }
  }
}

void FamilyBase::WriteHeader(std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ", type_,
                  "\n");
}

void FamilyBase::WriteSample(std::string* out, const std::string& suffix,
                             const std::vector<std::string>& values, const std::string& extra,
                             double value) const {
  absl::StrAppend(out, name_, suffix);
  if (!values.empty() || !extra.empty()) {
    out->push_back('{');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out->push_back(',');
      absl::StrAppend(out, label_names_[i], "=\"", EscapeLabelValue(values[i]), "\"");
    }
    if (!extra.empty()) {
      if (!values.empty()) out->push_back(',');
      out->append(extra);
    }
    out->push_back('}');
  }
  absl::StrAppend(out, " ", FormatValue(value), "\n");
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help),
                 std::is_same_v<T, Counter> ? "counter"
                 : std::is_same_v<T, Gauge> ? "gauge"
                                            : "histogram",
                 std::move(label_names)),
      bounds_(std::move(bounds)) {
  if constexpr (std::is_same_v<T, Histogram>) {
    for (size_t i = 0; i < bounds_.size(); ++i) {
      if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
        Die(absl::StrCat(name_, ": bucket bounds must be finite and strictly increasing"));
      }
    }
  }
}

template <typename T>
std::unique_ptr<T> Family<T>::NewSeries() const {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(&bounds_);
  } else {
    return std::make_unique<T>();
  }
}

template <typename T>
T* Family<T>::WithLabels(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    Die(absl::StrCat(name_, ": expected ", label_names_.size(), " label values, got ",
                     label_values.size()));
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = series_.find(label_values);
    if (it != series_.end()) return it->second.get();
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& slot = series_[label_values];
  if (slot == nullptr) slot = NewSeries();
  return slot.get();
}

template <typename T>
void Family<T>::Write(std::string* out) const {
  absl::ReaderMutexLock lock(&mu_);
  WriteHeader(out);
  for (const auto& [values, series] : Sorted<T>(series_)) {
    if constexpr (std::is_same_v<T, Histogram>) {
      Histogram::Snapshot s = series->snapshot();
      for (size_t i = 0; i < s.cumulative.size(); ++i) {
        std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
        WriteSample(out, "_bucket", values, absl::StrCat("le=\"", le, "\""),
                    static_cast<double>(s.cumulative[i]));
      }
      WriteSample(out, "_sum", values, "", s.sum);
      WriteSample(out, "_count", values, "", static_cast<double>(s.count));
    } else {
      WriteSample(out, "", values, "", series->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename F>
F* MetricsRegistry::Add(std::unique_ptr<F> family) {
  absl::MutexLock lock(&mu_);
  for (const auto& f : families_) {
    if (f->name() == family->name()) Die(absl::StrCat("duplicate metric ", family->name()));
  }
  F* raw = family.get();
  families_.push_back(std::move(family));
  return raw;
}

Family<Counter>* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                             std::vector<std::string> label_names) {
  return Add(
      std::unique_ptr<Family<Counter>>(new Family<Counter>(name, help, std::move(label_names))));
}

Family<Gauge>* MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                         std::vector<std::string> label_names) {
  return Add(std::unique_ptr<Family<Gauge>>(new Family<Gauge>(name, help, std::move(label_names))));
}

Family<Histogram>* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                                 std::vector<std::string> label_names,
                                                 std::vector<double> bounds) {
  return Add(std::unique_ptr<Family<Histogram>>(
      new Family<Histogram>(name, help, std::move(label_names), std::move(bounds))));
}

void MetricsRegistry::AddGaugeCallback(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names,
                                       std::function<void(GaugeSink&)> fn) {
  Add(std::make_unique<CallbackFamily>(name, help, std::move(label_names), std::move(fn)));
}

void MetricsRegistry::AddGaugeCallback(const std::string& name, const std::string& help,
                                       std::function<double()> fn) {
  AddGaugeCallback(name, help, {}, [fn = std::move(fn)](GaugeSink& sink) { sink.Add({}, fn()); });
}

std::string MetricsRegistry::Exposition() const {
  std::vector<const FamilyBase*> families;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& f : families_) families.push_back(f.get());
  }  // Families are never removed, so the pointers outlive the lock.
  std::sort(families.begin(), families.end(),
            [](const FamilyBase* a, const FamilyBase* b) { return a->name() < b->name(); });
  std::string out;
  for (const FamilyBase* f : families) f->Write(&out);
  return out;
}

}  // namespace strongroom::server
