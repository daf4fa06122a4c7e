// PgChangeFeed: the ChangeFeed (see storage.h) of PostgresStorage, on LISTEN/NOTIFY.
//
// A trigger on the entries table notifies channel "strongroom_changes" with every changed
// key and its new revision (0: deleted) when the writing transaction commits. The feed
// holds one connection of its own that LISTENs there. To confirm that nothing is missing
// it NOTIFYs a channel only its own session listens to ("strongroom_sync_<pid>") and waits
// for that notification to come back: PostgreSQL delivers notifications in the order their
// transactions committed, so once it arrives, every change committed before it was sent
// has been delivered. The first call, and every call after the connection was lost (it
// reconnects by itself, finding the primary through the multi-host connection string),
// returns `resync`. Payloads are parsed defensively: one that does not parse means resync.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/postgres_connection.h"
#include "kms/storage.h"

namespace strongroom::kms {

class PgChangeFeed final : public ChangeFeed {
 public:
  // `settings` must outlive the feed.
  explicit PgChangeFeed(const PgSettings& settings) : settings_(settings) {}

  absl::StatusOr<Batch> Next(absl::Duration max_wait) override;

 private:
  // Connects and LISTENs (both channels).
  absl::Status Connect();
  // Adds the change a notification carries to *batch (or marks it resync); returns whether
  // it was the sync notification numbered `sync`.
  bool Take(const PgNotification& notification, uint64_t sync, Batch* batch) const;

  const PgSettings& settings_;
  std::unique_ptr<PgConnection> conn_;
  std::string sync_channel_;
  uint64_t syncs_ = 0;
  absl::Time last_confirmed_ = absl::InfinitePast();
};

}  // namespace strongroom::kms
