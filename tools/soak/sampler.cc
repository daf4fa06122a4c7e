#include "tools/soak/sampler.h"

#include <dirent.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace strongroom::soak {
namespace {

// The value of "Name:" in /proc/<pid>/status (kB for memory), or -1.
long StatusField(const std::string& status, const std::string& name) {
  size_t at = status.find("\n" + name + ":");
  if (at == std::string::npos) return -1;
  std::istringstream in(status.substr(at + name.size() + 2));
  long value = -1;
  in >> value;
  return value;
}

int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

double BytesUnder(const std::string& dir) {
  std::error_code ec;
  uintmax_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      uintmax_t size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return static_cast<double>(total);
}

}  // namespace

bool SampleProcess(pid_t pid, const std::string& state_dir, Sample* sample) {
  const std::string proc = absl::StrCat("/proc/", pid);
  std::ifstream in(proc + "/status");
  if (!in) return false;
  std::stringstream status;
  status << "\n" << in.rdbuf();
  long rss_kb = StatusField(status.str(), "VmRSS");
  if (rss_kb < 0) return false;
  sample->rss_mb = rss_kb / 1024.0;
  sample->threads = static_cast<int>(StatusField(status.str(), "Threads"));
  sample->fds = CountEntries(proc + "/fd");
  sample->storage_mb = BytesUnder(state_dir) / (1024.0 * 1024.0);
  return true;
}

double SlopePerMinute(const std::vector<Sample>& samples,
                      const std::function<double(const Sample&)>& value) {
  if (samples.size() < 2) return 0;
  double n = samples.size(), sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const Sample& s : samples) {
    double x = s.seconds / 60.0, y = value(s);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  double denominator = n * sxx - sx * sx;
  return denominator == 0 ? 0 : (n * sxy - sx * sy) / denominator;
}

void PrintTable(const std::vector<Sample>& samples) {
  std::printf("%6s %9s %6s %8s %9s %9s %11s %12s %12s\n", "minute", "RSS MB", "fds", "threads",
              "sessions", "bounded", "storage MB", "served", "refused");
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    bool last_of_minute = i + 1 == samples.size() ||
                          static_cast<int>(samples[i + 1].seconds / 60) != static_cast<int>(s.seconds / 60);
    if (!last_of_minute) continue;
    std::printf("%6.1f %9.1f %6d %8d %9d %9lld %11.2f %12llu %12llu\n", s.seconds / 60.0, s.rss_mb,
                s.fds, s.threads, s.hsm_sessions, static_cast<long long>(s.bounded_entries),
                s.storage_mb, static_cast<unsigned long long>(s.served),
                static_cast<unsigned long long>(s.refused));
  }
  std::printf("%6s %9.2f %6.2f %8.2f %9.2f %9.1f %11.3f %12.0f %12.0f   (slope per minute)\n",
              "slope",
              SlopePerMinute(samples, [](const Sample& s) { return s.rss_mb; }),
              SlopePerMinute(samples, [](const Sample& s) { return s.fds; }),
              SlopePerMinute(samples, [](const Sample& s) { return s.threads; }),
              SlopePerMinute(samples, [](const Sample& s) { return s.hsm_sessions; }),
              SlopePerMinute(samples, [](const Sample& s) { return static_cast<double>(s.bounded_entries); }),
              SlopePerMinute(samples, [](const Sample& s) { return s.storage_mb; }),
              SlopePerMinute(samples, [](const Sample& s) { return static_cast<double>(s.served); }),
              SlopePerMinute(samples, [](const Sample& s) { return static_cast<double>(s.refused); }));
  std::fflush(stdout);
}

}  // namespace strongroom::soak
