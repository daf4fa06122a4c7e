// Sampler: what a running strongroomd holds, sampled over time, with the trend per minute.
//
// SampleProcess() reads the server's resident memory, open descriptors and threads from
// /proc/<pid>, and the bytes under its state folder (storage and audit log); the caller adds
// the HSM sessions in use and the entries of the bounded caches and queues (from /metrics), and
// its own request counters. Trend() fits a least-
// squares line through a series and gives its slope per minute; PrintTable() prints one row
// per minute of samples, then the slopes. Linux only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strongroom::soak {

struct Sample {
  double seconds = 0;  // since the load started
  double rss_mb = 0;
  int fds = 0;
  int threads = 0;
  int hsm_sessions = -1;  // -1: not known
  int64_t bounded_entries = -1;  // caches and queues (strongroom_bounded_entries); -1: not known
  double storage_mb = 0;
  uint64_t served = 0;   // requests the server carried out, cumulative
  uint64_t refused = 0;  // requests it refused as the soak expected, cumulative
};

// RSS, fds and threads of `pid`, bytes under `state_dir`; the other fields are left as zero.
// False if the process is gone.
bool SampleProcess(pid_t pid, const std::string& state_dir, Sample* sample);

// Least-squares slope of value(sample) per minute over `samples`; 0 for fewer than two.
double SlopePerMinute(const std::vector<Sample>& samples,
                      const std::function<double(const Sample&)>& value);

// One row per whole minute (the last sample of each minute, plus the last sample), then the
// slope of each column over `samples`.
void PrintTable(const std::vector<Sample>& samples);

}  // namespace strongroom::soak
