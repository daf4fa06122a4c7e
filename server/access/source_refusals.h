// SourceRefusals: per-source budgets for refused unauthenticated attempts (JWT logins).
//
// A source (a peer address without its port) that had no refusal for kQuietAfter attempts
// freely. Once refused, each of its attempts, and each further refusal, draws on its own
// TokenBucket of `per_second` (that many at once); when the bucket is empty Admit() says no,
// so the caller refuses without doing the work (signature checks, key fetches) until the
// source slows down. At most `max_sources` sources are tracked; past that, sources not yet
// tracked share one bucket, so a flood from many addresses is bounded too. Time is passed
// in. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access/token_bucket.h"

namespace strongroom::server::access {

class SourceRefusals {
 public:
  static constexpr absl::Duration kQuietAfter = absl::Seconds(60);

  explicit SourceRefusals(double per_second, size_t max_sources = 10000)
      : per_second_(per_second), max_sources_(max_sources), overflow_(per_second, per_second) {}

  // The source of a peer as gRPC and the HTTP server name it ("ipv4:127.0.0.1:40112" ->
  // "ipv4:127.0.0.1", "ipv6:[::1]:40112" -> "ipv6:[::1]").
  static absl::string_view SourceOf(absl::string_view peer) {
    size_t colon = peer.rfind(':');
    size_t bracket = peer.rfind(']');
    if (colon == absl::string_view::npos || (bracket != absl::string_view::npos && colon < bracket) ||
        colon <= peer.find(':')) {
      return peer;
    }
    return peer.substr(0, colon);
  }

  // Whether `source` may make an attempt at `now` (taking from its budget if it is tracked).
  bool Admit(absl::string_view source, absl::Time now) {
    absl::MutexLock lock(&mu_);
    auto it = sources_.find(source);
    if (it == sources_.end()) return sources_.size() < max_sources_ || overflow_.TryTake(now);
    if (now - it->second.last_refused >= kQuietAfter) return true;
    return it->second.bucket->TryTake(now);
  }

  // Sources tracked (at most max_sources()), for metrics.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return sources_.size();
  }
  size_t max_sources() const { return max_sources_; }

  // Records a refused attempt of `source` at `now`.
  void Refused(absl::string_view source, absl::Time now) {
    absl::MutexLock lock(&mu_);
    auto it = sources_.find(source);
    if (it == sources_.end()) {
      if (sources_.size() >= max_sources_) {
        absl::erase_if(sources_, [&](const auto& e) { return now - e.second.last_refused >= kQuietAfter; });
      }
      if (sources_.size() >= max_sources_) {
        overflow_.TryTake(now);
        return;
      }
      it = sources_.emplace(std::string(source),
                            Entry{std::make_unique<TokenBucket>(per_second_, per_second_), now})
               .first;
    }
    it->second.last_refused = now;
    it->second.bucket->TryTake(now);
  }

 private:
  struct Entry {
    std::unique_ptr<TokenBucket> bucket;
    absl::Time last_refused;
  };
  const double per_second_;
  const size_t max_sources_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> sources_ ABSL_GUARDED_BY(mu_);
  TokenBucket overflow_;
};

}  // namespace strongroom::server::access
