#include "kms/postgres_change_feed.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace strongroom::kms {
namespace {

constexpr char kChangesChannel[] = "strongroom_changes";

}  // namespace

absl::Status PgChangeFeed::Connect() {
  conn_.reset();
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(settings_, {});
  if (!conn.ok()) return conn.status();
  const std::string sync_channel = absl::StrCat("strongroom_sync_", (*conn)->BackendPid());
  const std::string listen =
      absl::StrCat("LISTEN ", kChangesChannel, "; LISTEN ", sync_channel, ";");
  absl::StatusOr<PgResult> result = (*conn)->Run(listen.c_str(), "change feed: listen");
  if (!result.ok()) return result.status();
  conn_ = *std::move(conn);
  sync_channel_ = sync_channel;
  return absl::OkStatus();
}

bool PgChangeFeed::Take(const PgNotification& notification, uint64_t sync, Batch* batch) const {
  if (notification.channel == sync_channel_) {
    return notification.payload == absl::StrCat(sync);
  }
  if (notification.channel != kChangesChannel) return false;
  const absl::string_view payload = notification.payload;
  const size_t space = payload.find(' ');
  Change change;
  const absl::string_view hex =
      space == absl::string_view::npos ? absl::string_view() : payload.substr(space + 1);
  if (hex.empty() || hex.size() % 2 != 0 ||
      !std::all_of(hex.begin(), hex.end(), [](char c) { return absl::ascii_isxdigit(c); }) ||
      !absl::SimpleAtoi(payload.substr(0, space), &change.revision) || change.revision < 0) {
    batch->resync = true;  // "*" (a key too long for a payload) or something unexpected
    return false;
  }
  change.key = absl::HexStringToBytes(hex);
  batch->changes.push_back(std::move(change));
  return false;
}

absl::StatusOr<ChangeFeed::Batch> PgChangeFeed::Next(absl::Duration max_wait) {
  Batch batch;
  if (conn_ == nullptr || conn_->broken()) {
    if (absl::Status s = Connect(); !s.ok()) return s;
    batch.resync = true;
    last_confirmed_ = absl::InfinitePast();
  }
  // Changes read but not returned would be lost: any failure drops the connection, so the
  // next call reconnects and resyncs.
  auto fail = [this](absl::Status status) {
    conn_.reset();
    return status;
  };
  // Deliver what arrives until the next confirmation is due; return early with changes.
  const absl::Time sync_due = last_confirmed_ + max_wait;
  const absl::Duration wait = std::max(sync_due - absl::Now(), absl::ZeroDuration());
  absl::StatusOr<std::vector<PgNotification>> got = conn_->AwaitNotifications(wait);
  if (!got.ok()) return fail(got.status());
  for (const PgNotification& n : *got) Take(n, 0, &batch);
  if (!batch.changes.empty() && absl::Now() < sync_due) return batch;

  const uint64_t sync = ++syncs_;
  const absl::Time sent = absl::Now();
  const std::string notify = absl::StrCat("NOTIFY ", sync_channel_, ", '", sync, "'");
  absl::StatusOr<PgResult> result = conn_->Run(notify.c_str(), "change feed: sync");
  if (!result.ok()) return fail(result.status());
  const absl::Time deadline = sent + max_wait;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return fail(absl::UnavailableError(absl::StrCat("postgres storage (", settings_.description,
                                                 "): change feed: no confirmation within ",
                                                 absl::FormatDuration(max_wait))));
    }
    got = conn_->AwaitNotifications(left);
    if (!got.ok()) return fail(got.status());
    bool synced = false;
    for (const PgNotification& n : *got) synced = Take(n, sync, &batch) || synced;
    if (synced) break;
  }
  last_confirmed_ = sent;
  batch.confirmed_as_of = sent;
  return batch;
}

}  // namespace strongroom::kms
