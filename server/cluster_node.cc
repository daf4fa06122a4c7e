#include "server/cluster_node.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strongroom::server {
namespace {

constexpr char kBackgroundLease[] = "background";

}  // namespace

ClusterNode::ClusterNode(kms::Storage* storage, ClusterNodeOptions options)
    : storage_(storage), options_(std::move(options)) {}

ClusterNode::~ClusterNode() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void ClusterNode::Start(std::string node_id, std::string address) {
  {
    absl::MutexLock lock(&mu_);
    view_.node_id = node_id;
  }
  Beat(node_id, address);
  thread_ = std::thread([this, node_id = std::move(node_id), address = std::move(address)] {
    while (!stop_.WaitForNotificationWithTimeout(options_.heartbeat)) Beat(node_id, address);
  });
}

bool ClusterNode::holds_lease() const {
  return absl::Now() < absl::FromUnixNanos(held_until_unix_nanos_.load(std::memory_order_acquire));
}

std::optional<kms::LeaseFence> ClusterNode::lease() const {
  absl::MutexLock lock(&mu_);
  if (!holds_lease()) return std::nullopt;
  return kms::LeaseFence{kBackgroundLease, view_.node_id, held_epoch_};
}

ClusterNode::View ClusterNode::view() const {
  absl::MutexLock lock(&mu_);
  View view = view_;
  view.lease.held = holds_lease();
  return view;
}

void ClusterNode::Beat(const std::string& node_id, const std::string& address) {
  const absl::Time started = absl::Now();
  absl::StatusOr<std::vector<kms::NodeSeen>> live =
      storage_->Heartbeat(node_id, address, 3 * options_.heartbeat);
  absl::StatusOr<kms::LeaseState> lease =
      storage_->AcquireLease(kBackgroundLease, node_id, options_.lease_ttl);
  absl::MutexLock lock(&mu_);
  if (lease.ok() && lease->held) {
    held_epoch_ = lease->epoch;
    held_until_unix_nanos_.store(absl::ToUnixNanos(started + options_.lease_ttl),
                                 std::memory_order_release);
  } else if (lease.ok()) {
    held_until_unix_nanos_.store(0, std::memory_order_release);
  }
  view_.error.clear();
  if (live.ok()) {
    view_.live = *std::move(live);
  } else {
    view_.error = absl::StrCat("heartbeat: ", live.status().message());
  }
  if (lease.ok()) {
    view_.lease = *std::move(lease);
  } else if (view_.error.empty()) {
    view_.error = absl::StrCat("lease: ", lease.status().message());
  }
}

}  // namespace strongroom::server
