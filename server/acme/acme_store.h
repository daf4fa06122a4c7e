// AcmeStore: the ACME server's state in kms::Storage, so that every node sharing the
// storage sees the same accounts, orders, authorizations and nonces.
//
// Keys (records.proto): "acme/accounts/<id>", "acme/account-keys/<thumbprint>" -> id,
// "acme/orders/<id>", "acme/account-orders/<account>/<order>", "acme/order-expiry/<expires
// as 16 hex>/<order>", "acme/authz/<id>", "acme/certs/<serial>", "acme/eab/<kid>" (external
// account binding keys, without their HMAC key), and one entry per unused
// nonce "acme/nonces/<expiry in microseconds as 16 hex>/<nonce>" (the nonce carries its
// expiry, so an expired one is refused without a read, and key order is age order: a node
// never gives two nonces the same expiry, so a burst inside one second is still evicted
// oldest first).
//
// Nonces are single-use across nodes: Consume deletes the entry with compare-and-set, so of
// two requests racing with one nonce exactly one wins. Their number is bounded: every
// max_nonces/4 new nonces (and at least every 64) a sweep deletes the expired ones and, past
// max_nonces, the oldest. Expired orders go with their authorizations in the same sweep.
//
// Writes are grouped: every commit (a nonce issued, a nonce consumed, an account, order or
// authorization written) goes through one kms::GroupCommit, so the requests of a burst share
// durable commits instead of paying one each (~9 ms on SQLite), and nothing is returned
// before its commit is durable: a nonce is handed out only once it is stored, a consumed one
// is gone for every node before the request proceeds. Why stored nonces rather than
// stateless ones (an HMAC over an issue time, plus a durable set of spent nonces): both need
// one durable write to consume; stateless ones would save the write at issue, but need a
// MAC key shared by every node and a stored floor to keep the spent set bounded (evicting a
// spent entry would reopen a replay, so the floor must rise first). Evicting an unused
// stored nonce can only refuse it, so the bound needs no such care; and with grouping, the
// issue write costs a share of a commit, not a commit.
//
// Errors: UNAVAILABLE for storage faults; NOT_FOUND for unknown ids; ABORTED when a
// compare-and-set update lost a race (the caller retries or reports). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/group_commit.h"
#include "kms/storage.h"
#include "server/acme/records.pb.h"

namespace strongroom::server::acme {

struct AcmeStoreOptions {
  absl::Duration nonce_lifetime = absl::Minutes(5);
  uint32_t max_nonces = 10000;
};

// A stored record with the revision to update it by.
template <typename T>
struct Stored {
  T record;
  int64_t revision = 0;
};

class AcmeStore {
 public:
  // `storage` is not owned and outlives the store.
  AcmeStore(kms::Storage* storage, AcmeStoreOptions options);

  // A random base64url identifier (128 bits) for records and challenge tokens.
  static std::string NewId();

  // A fresh nonce, stored.
  absl::StatusOr<std::string> NewNonce(absl::Time now);
  // Whether `nonce` was issued, is unexpired and unused; consumes it when so. False (not an
  // error) for unknown, used, expired or malformed nonces.
  absl::StatusOr<bool> ConsumeNonce(absl::string_view nonce, absl::Time now);

  absl::StatusOr<std::optional<Stored<AccountRecord>>> GetAccount(absl::string_view id);
  absl::StatusOr<std::optional<std::string>> AccountIdByThumbprint(absl::string_view thumbprint);
  // Creates `account` and its key index; ALREADY_EXISTS if the key has an account. With a
  // `binding`, the same commit marks that EAB key used by the account (only if it is still
  // at binding->revision: FAILED_PRECONDITION if another account bound to it first) and
  // applies `extra` (the deletion of its wrapped HMAC key).
  absl::Status CreateAccount(const AccountRecord& account,
                             const Stored<EabRecord>* binding = nullptr,
                             kms::WriteBatch extra = {});

  // Stores a new EAB key record with `extra` (its wrapped HMAC key) in one commit.
  absl::Status CreateEab(const EabRecord& record, kms::WriteBatch extra);
  absl::StatusOr<std::optional<Stored<EabRecord>>> GetEab(absl::string_view kid);
  // Writes `account` if still at `revision`; when the key changed (old_thumbprint differs),
  // moves the key index too (ALREADY_EXISTS if the new key has an account).
  absl::Status UpdateAccount(const AccountRecord& account, int64_t revision,
                             absl::string_view old_thumbprint);

  // The ids of `account_id`'s unexpired orders, at most `limit`.
  absl::StatusOr<std::vector<std::string>> ListOrders(absl::string_view account_id, size_t limit);
  // Stores a new order with its authorizations and indexes, all in one commit.
  absl::Status CreateOrder(const OrderRecord& order,
                           const std::vector<AuthorizationRecord>& authorizations);
  absl::StatusOr<std::optional<Stored<OrderRecord>>> GetOrder(absl::string_view id);
  absl::Status UpdateOrder(const OrderRecord& order, int64_t revision);
  absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> GetAuthorization(
      absl::string_view id);
  absl::Status UpdateAuthorization(const AuthorizationRecord& authz, int64_t revision);

  // Stores who ordered certificate `record.serial` and sets the order valid, in one commit
  // (the order must still be at `order_revision`).
  absl::Status FinishOrder(const OrderRecord& order, int64_t order_revision,
                           const CertificateRecord& record);
  absl::StatusOr<std::optional<CertificateRecord>> GetCertificate(absl::string_view serial);

  // Deletes expired nonces (and the oldest past max_nonces) and expired orders with their
  // authorizations. Runs by itself as nonces are issued; public for tests and maintenance.
  absl::Status Sweep(absl::Time now);

  // Writes queued for their group commit (each caller waits for its own, so at most one per
  // request in flight), for metrics.
  size_t queued_writes() const { return group_.queued(); }

 private:
  template <typename T>
  absl::StatusOr<std::optional<Stored<T>>> GetRecord(const std::string& key);

  kms::Storage* const storage_;
  const AcmeStoreOptions options_;
  kms::GroupCommit group_;  // every write; declared after storage_, which it writes to
  std::atomic<uint32_t> issued_since_sweep_{0};
  std::atomic<int64_t> last_nonce_expiry_us_{0};  // strictly increasing on this node
};

}  // namespace strongroom::server::acme
