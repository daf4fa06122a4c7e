#include "kms/group_commit.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strongroom::kms {

GroupCommit::GroupCommit(Storage* storage, size_t max_group_ops)
    : storage_(storage), max_group_ops_(max_group_ops) {
  writer_ = std::thread(&GroupCommit::WriterLoop, this);
}

GroupCommit::~GroupCommit() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
}

absl::Status GroupCommit::Commit(const WriteBatch& batch) {
  if (batch.empty()) return absl::OkStatus();
  Pending pending{&batch};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&pending);
  mu_.Await(absl::Condition(&pending.done));
  return pending.status;
}

size_t GroupCommit::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

uint64_t GroupCommit::storage_commits() const {
  absl::MutexLock lock(&mu_);
  return storage_commits_;
}

uint64_t GroupCommit::CommitGroup(absl::Span<Pending* const> group) {
  if (group.size() == 1) {
    group[0]->status = storage_->Commit(*group[0]->batch);
    return 1;
  }
  WriteBatch merged;
  for (const Pending* p : group) {
    for (const WriteBatch::Op& op : p->batch->ops()) {
      if (op.kind == WriteBatch::Op::Kind::kPut) {
        merged.Put(op.key, op.value, op.expected_revision);
      } else {
        merged.Delete(op.key, op.expected_revision);
      }
    }
  }
  const absl::Status status = storage_->Commit(merged);
  if (!absl::IsAborted(status)) {
    for (Pending* p : group) p->status = status;
    return 1;
  }
  // Nothing was applied: halve the group until each failed revision check stands alone.
  const size_t half = group.size() / 2;
  return 1 + CommitGroup(group.subspan(0, half)) + CommitGroup(group.subspan(half));
}

bool GroupCommit::HasWork() const { return !queue_.empty() || stopping_; }

void GroupCommit::WriterLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(this, &GroupCommit::HasWork));
    if (queue_.empty()) return;  // stopping, and everything queued is answered
    // Take what is queued, in order, while the keys stay disjoint and the group small.
    std::vector<Pending*> group;
    absl::flat_hash_set<absl::string_view> keys;
    size_t ops = 0;
    while (!queue_.empty()) {
      const WriteBatch& next = *queue_.front()->batch;
      if (!group.empty() && ops + next.ops().size() > max_group_ops_) break;
      // A batch that requires a lease goes alone: the merged batch could not carry it.
      if (!group.empty() && (next.lease() || group.back()->batch->lease())) break;
      bool disjoint = true;
      for (const WriteBatch::Op& op : next.ops()) disjoint = disjoint && !keys.contains(op.key);
      if (!disjoint) break;
      for (const WriteBatch::Op& op : next.ops()) keys.insert(op.key);
      ops += next.ops().size();
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    mu_.Unlock();
    const uint64_t commits = CommitGroup(absl::MakeSpan(group));
    mu_.Lock();
    storage_commits_ += commits;
    for (Pending* p : group) p->done = true;  // callers wake as the lock is released
  }
}

}  // namespace strongroom::kms
