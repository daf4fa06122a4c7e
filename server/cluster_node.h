// ClusterNode: this node among the strongroomd nodes that share one storage.
//
// A thread, every `heartbeat`, records the node in the store's node table (Storage::
// Heartbeat) and takes or renews the background lease (Storage::AcquireLease, `lease_ttl`
// on the database clock). holds_lease() is true only while a renewal that started less than
// lease_ttl ago granted it, so a node cut off from the database stops counting itself the
// holder no later than the database lets another node take over; when a node dies, another
// takes the lease within lease_ttl + heartbeat. The lease decides which node runs the
// background jobs (auto-rotation, CRL rebuilds), and fences their writes: a job writes under
// lease() (WriteBatch::RequireLease), so a holder that lost the lease while paused or cut
// off cannot land a job write after another node took over. Correctness still comes from
// compare-and-set. On a single-writer store the node always holds it (the same code path,
// at kSingleWriterLeaseEpoch). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kms/storage.h"

namespace strongroom::server {

struct ClusterNodeOptions {
  absl::Duration heartbeat = absl::Seconds(1);
  absl::Duration lease_ttl = absl::Seconds(5);
};

class ClusterNode {
 public:
  // `storage` must outlive the node.
  ClusterNode(kms::Storage* storage, ClusterNodeOptions options);
  ~ClusterNode();  // stops the thread (the lease then expires by itself)
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Starts beating as `node_id` (unique among the nodes), reporting `address` (its gRPC
  // address) to the others.
  void Start(std::string node_id, std::string address);
  bool holds_lease() const;
  // The background lease as this node holds it (its holder and epoch), for the background
  // jobs to write under; nullopt while holds_lease() is false.
  std::optional<kms::LeaseFence> lease() const;

  struct View {
    std::string node_id;  // empty before Start
    kms::LeaseState lease;
    std::vector<kms::NodeSeen> live;
    std::string error;  // of the last heartbeat, empty when it worked
  };
  View view() const;

 private:
  void Beat(const std::string& node_id, const std::string& address);

  kms::Storage* const storage_;
  const ClusterNodeOptions options_;
  std::atomic<int64_t> held_until_unix_nanos_{0};
  mutable absl::Mutex mu_;
  View view_ ABSL_GUARDED_BY(mu_);
  int64_t held_epoch_ ABSL_GUARDED_BY(mu_) = 0;  // of the last renewal that granted it
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace strongroom::server
