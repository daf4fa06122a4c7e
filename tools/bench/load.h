// Load generation for strongroom-bench's phases: a unary operation on N threads, or N
// unary gRPC calls (single or batched) kept in flight through the callback API, for a
// fixed window; ops/s, latency percentiles and the busy CPU of the whole machine per
// operation. A failed operation ends the bench (exit 1): its figures would be void.
// Header-only; not thread-safe across concurrent measurements (CPU is machine-wide).
#pragma once

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace strongroom::bench {

using Clock = std::chrono::steady_clock;

struct Result {
  double ops_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_us_per_op = 0;  // busy CPU of the whole machine per operation (0: not measured)
};

// Busy CPU time of the whole machine so far (all cores, every process), in seconds.
inline double BusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) / sysconf(_SC_CLK_TCK);
}

// What the rounds of one measurement add up to.
struct Sample {
  uint64_t ops = 0;
  double seconds = 0;
  double busy_cpu_seconds = 0;
  std::vector<double> latency_ms;

  Result Summary() const {
    Result r;
    r.ops_per_second = seconds > 0 ? ops / seconds : 0;
    r.cpu_us_per_op = ops > 0 ? busy_cpu_seconds * 1e6 / ops : 0;
    std::vector<double> sorted = latency_ms;
    std::sort(sorted.begin(), sorted.end());
    if (!sorted.empty()) {
      r.p50_ms = sorted[sorted.size() / 2];
      r.p99_ms = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
    }
    return r;
  }
};

// Runs `op` on `threads` threads for `seconds` and adds what it saw to *sample; op(thread)
// does one unit of work and returns how many operations it was (0 = failure, which stops
// the bench).
inline void RunInto(const char* what, int threads, double seconds, bool latency,
             const std::function<int(int thread)>& op, Sample* sample) {
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> lat(threads);
  std::vector<uint64_t> counts(threads, 0);
  std::vector<std::thread> workers;
  const double busy = BusyCpuSeconds();
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto begin = Clock::now();
        int n = op(t);
        if (n == 0) {
          failed = true;
          stop = true;
          return;
        }
        counts[t] += n;
        if (latency) {
          lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measurement window
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) {
    std::fprintf(stderr, "strongroom-bench: %s: an operation failed; figures are void\n", what);
    std::exit(1);
  }
  sample->seconds += elapsed;
  sample->busy_cpu_seconds += BusyCpuSeconds() - busy;
  for (uint64_t c : counts) sample->ops += c;
  for (auto& v : lat) sample->latency_ms.insert(sample->latency_ms.end(), v.begin(), v.end());
}

inline Result Run(const char* what, int threads, double seconds, bool latency,
           const std::function<int(int thread)>& op) {
  Sample sample;
  RunInto(what, threads, seconds, latency, op, &sample);
  return sample.Summary();
}

// Keeps `in_flight` unary calls outstanding for `seconds` through gRPC's callback API, so
// the load generator needs no thread per call, and adds what it saw to *sample.
// start(slot, context, response, done) begins one call on `context`; `done` runs when it
// completes. A call that fails stops the bench.
template <typename Response>
void RunInFlight(const char* what, int in_flight, double seconds,
                 const std::function<void(int slot, grpc::ClientContext*, Response*,
                                          std::function<void(grpc::Status)>)>& start,
                 Sample* sample) {
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    Response response;
    Clock::time_point begin;
    uint64_t ops = 0;
    std::vector<double> latency_ms;
  };
  std::vector<Slot> slots(in_flight);
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  int running = in_flight;
  std::function<void(int)> issue = [&](int i) {
    Slot& slot = slots[i];
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.response.Clear();
    slot.begin = Clock::now();
    start(i, slot.context.get(), &slot.response, [&, i](grpc::Status status) {
      Slot& slot = slots[i];
      if (!status.ok()) {
        std::fprintf(stderr, "strongroom-bench: %s: %s; figures are void\n", what,
                     status.error_message().c_str());
        std::exit(1);
      }
      ++slot.ops;
      slot.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - slot.begin).count());
      if (!stop.load(std::memory_order_relaxed)) {
        issue(i);
        return;
      }
      absl::MutexLock lock(&mu);
      --running;
    });
  };
  const double busy = BusyCpuSeconds();
  const auto begin = Clock::now();
  for (int i = 0; i < in_flight; ++i) issue(i);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measurement window
  stop = true;
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &running));
  }
  sample->seconds += std::chrono::duration<double>(Clock::now() - begin).count();
  sample->busy_cpu_seconds += BusyCpuSeconds() - busy;
  for (Slot& slot : slots) {
    sample->ops += slot.ops;
    sample->latency_ms.insert(sample->latency_ms.end(), slot.latency_ms.begin(),
                              slot.latency_ms.end());
  }
}

// Keeps batched requests (`items` each) in flight like unary calls, so one batch's audit
// wait overlaps the next one's work; rates are in items. A batch with a failed item stops
// the bench.
template <typename Response, typename Call>
Result RunBatches(const char* what, int in_flight, double seconds, int items, Call call) {
  Sample sample;
  RunInFlight<Response>(
      what, in_flight, seconds,
      [&](int i, grpc::ClientContext* context, Response* reply,
          std::function<void(grpc::Status)> done) {
        call(i, context, reply, [reply, done = std::move(done)](grpc::Status status) {
          done(status.ok() && reply->results(0).has_error()
                   ? grpc::Status(grpc::StatusCode::INTERNAL, "an item failed")
                   : status);
        });
      },
      &sample);
  Result r = sample.Summary();
  r.ops_per_second *= items;
  return r;
}

}  // namespace strongroom::bench
