// TokenStore: bearer tokens, stored only as a keyed hash (see records.proto).
//
// A token is "srt." + accessor + "." + secret: the accessor is 16 random bytes in lowercase
// hex (not a credential; it names the token in listings, the audit log and by-accessor
// calls), the secret 32 random bytes in base64url without padding, both from the HSM's RNG.
// The token is returned once, by Create / Bootstrap / CreateRoot, as SecretData; it is never
// stored, logged or put in an error message. Storage holds a TokenRecord under
// "auth/tokens/<accessor>" whose token_hash is HMAC-SHA256 of the token under a
// non-extractable HSM key, and whose record_mac covers every other field, so edits of the
// stored policies or times are detected.
//
// Authorization is the caller's job (the access gate): this class checks only that
// requests are well formed. Policy "root" is granted only by Bootstrap and CreateRoot.
//
// Authenticate keeps tokens it has verified in a bounded in-memory cache (by accessor, with
// the token's SHA-256 compared in constant time), so checking an
// already-verified token touches neither the HSM nor storage for
// options.cache_revalidate_after; expiry is still checked on every call. Revoke and Renew
// through this object update the cache at once; those of another process sharing the
// storage take effect once the entry is due for revalidation, or, with WatchChanges, as
// soon as the change reaches this node (and while freshness is unconfirmed the cache is
// not used at all).
//
// Refused tokens and the HSM: a token that is malformed, whose accessor names no stored
// token, or whose accessor names a cached token with another secret is refused without HSM
// work. Only a well-formed token whose accessor exists and is not verified in the cache
// costs an HMAC in the HSM, and with options.refused_token_hmacs_per_second set that HMAC is
// paid from the store's RefusalBudget (refusal_budget.h) on every path that checks a token:
// refused attempts cost at most the budget's bursts and rates, however many accessors the
// caller knows; a genuine token pays nothing while its verdict is cached (used within
// cache_revalidate_after of its last verification, or swept no earlier than that), and
// waits only while the first-check budget is drained.
//
// Errors: a token that is malformed, unknown, revoked or wrong is UNAUTHENTICATED
// "invalid token"; a genuine but expired one UNAUTHENTICATED "token expired". By-accessor
// calls on an unknown or expired token are NOT_FOUND. Bad requests are INVALID_ARGUMENT
// naming the field and the limit; HSM and storage faults keep their codes (UNAVAILABLE,
// ...); a stored record that fails its integrity check (record_mac) is DATA_LOSS naming the
// accessor — Authenticate says so only to the holder of the genuine token; a record that
// does not even parse authenticates nothing ("invalid token").
// Writes use compare-and-set and retry, so concurrent renewals and revocations (also from
// other processes) never lose an update.
//
// Thread-safe. `storage` and `hsm` must outlive the store.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "hsm/secret_data.h"
#include "kms/change_watcher.h"
#include "kms/storage.h"
#include "server/access/principal.h"
#include "server/access/records.pb.h"
#include "server/access/refusal_budget.h"
#include "strongroom/v1/auth.pb.h"

namespace strongroom::server::access {

struct TokenStoreOptions {
  // TTL of a token created without one.
  absl::Duration default_ttl = absl::Hours(1);
  // Upper bound of ttl, period and explicit_max_ttl; also the default explicit_max_ttl.
  absl::Duration max_ttl = absl::Hours(768);
  // CKA_LABEL of the HSM HMAC key.
  std::string hmac_key_label = "strongroom-token-hmac";
  // Most verified tokens kept in the Authenticate cache.
  size_t max_cached_tokens = 100000;
  // How long a verified token is trusted from the cache before storage is read again, so
  // that revocations by another process (`strongroomd generate-root-token`, another node)
  // take effect within this time. A verdict past it is dropped within one more such period
  // (while tokens are being verified), so the cache holds the recent working set only.
  absl::Duration cache_revalidate_after = absl::Seconds(5);
  // HSM HMACs per second (and at once) for tokens not yet known to be genuine (see
  // RefusalBudget); unset: unmetered (offline tools and tests only).
  std::optional<double> refused_token_hmacs_per_second;
};

class TokenStore {
 public:
  // Opens the store, creating the HSM HMAC key (512-bit generic secret, sensitive,
  // non-extractable) on first use. INVALID_ARGUMENT for inconsistent options.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Open(kms::Storage* storage, hsm::Hsm* hsm,
                                                          TokenStoreOptions options);

  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // Entries of the verified-token cache and of the refusal budget's table of accessors under
  // attack (each at most options.max_cached_tokens), for metrics.
  struct CacheSizes {
    size_t tokens = 0;
    size_t suspects = 0;
  };
  CacheSizes cache_sizes() const;
  const TokenStoreOptions& options() const { return options_; }

  // A new token (shown once) and its details.
  struct Created {
    hsm::SecretData token;
    v1::TokenInfo info;
  };

  // Creates a token for `request`, recording `creator` (the caller's identity). Policies:
  // 1 to 64 names of [A-Za-z0-9._-] (at most 128 characters; duplicates dropped), never
  // "root". ttl (default options.default_ttl), period and explicit_max_ttl (default
  // options.max_ttl) at most options.max_ttl; a ttl above explicit_max_ttl is refused.
  // Periodic tokens (period > 0) ignore ttl and take no explicit_max_ttl. Tokens from
  // Create are renewable unless request.renewable is set to false.
  // `parent` is the accessor of the creating token (empty for an orphan): the new token is
  // its child, revoked with it (Revoke), and unless the parent is a root token it never
  // outlives the parent's current expiry. Its expiry and maximum expiry are at most that (a
  // ttl or explicit_max_ttl reaching beyond it is refused; the defaults are cut to it), a
  // periodic one gets it as its maximum expiry, and its period is at most the parent's
  // period (or ttl, for a non-periodic parent). FAILED_PRECONDITION if the parent has
  // expired or was revoked meanwhile.
  absl::StatusOr<Created> Create(const v1::CreateTokenRequest& request, absl::string_view creator,
                                 absl::Time now, absl::string_view parent = "");

  // The accessor a well-formed `token` names (its secret unchecked: a name, not a proof);
  // nullopt if `token` is not of the form "srt.<accessor>.<secret>".
  static std::optional<absl::string_view> AccessorOf(absl::string_view token);

  // The details of a valid `token` at `now`. UNAUTHENTICATED "invalid token" / "token
  // expired" (see above); an expired token's record is deleted. UNAVAILABLE when the refusal
  // budget needed for its HSM check is empty.
  absl::StatusOr<v1::TokenInfo> Authenticate(absl::string_view token, absl::Time now);

  // One HMAC for the audit record of a refused token, if the refusal budget allows it
  // (always, unmetered).
  bool TakeAuditHmac(absl::Time now) { return budget_ == nullptr || budget_->TakeAuditHmac(now); }

  // Extends the token's expiry to now + min(increment, rule), where the rule is the token's
  // period (periodic tokens) or ttl, never past its max_expire_time (if it has one); a zero
  // increment means the rule itself. FAILED_PRECONDITION for a non-renewable (root) token;
  // INVALID_ARGUMENT for a negative increment.
  absl::StatusOr<v1::TokenInfo> Renew(absl::string_view accessor, absl::Duration increment,
                                      absl::Time now);

  // The details of the token `accessor`; NOT_FOUND if it does not exist or has expired.
  absl::StatusOr<v1::TokenInfo> Lookup(absl::string_view accessor, absl::Time now);

  // Deletes the token `accessor` and, as Vault does, every token it created (its children
  // and theirs): every later Authenticate of them fails. NOT_FOUND if there is no such token.
  // A child created while its parent is being revoked may survive it, up to its expiry,
  // which is never later than the parent's.
  absl::Status Revoke(absl::string_view accessor);
  // Deletes the token `accessor` only; its children become orphans (Vault's revoke-orphan):
  // their records forget the parent, so they read orphan. Children that expire or go
  // meanwhile are skipped.
  absl::Status RevokeOrphan(absl::string_view accessor);

  // Every unexpired token, in accessor order; expired records met on the way are deleted.
  // For listings only: records are not integrity-checked here (Authenticate, Lookup and
  // Renew check them).
  absl::StatusOr<std::vector<v1::TokenInfo>> List(absl::Time now);

  // First start only: the one-time root token (policies {"root"}, `ttl`, not renewable),
  // created together with a bootstrap marker in one atomic write. nullopt if the marker
  // exists (bootstrap happened before, even if that token was revoked since).
  absl::StatusOr<std::optional<Created>> Bootstrap(absl::Duration ttl, absl::Time now);

  // Drops cached verdicts of tokens other nodes change; with unconfirmed freshness,
  // Authenticate reads storage. Call once, before `watcher` starts; it must outlive this.
  void WatchChanges(kms::ChangeWatcher* watcher);

  // Offline recovery by an operator holding the HSM PIN (`strongroomd generate-root-token`):
  // always creates a new root token (policies {"root"}, `ttl`, not renewable).
  absl::StatusOr<Created> CreateRoot(absl::Duration ttl, absl::Time now);

 private:
  using Digest = std::array<uint8_t, 32>;

  // A verified token: its SHA-256 and its record (record->generation() orders updates).
  struct CacheEntry {
    Digest token_digest;
    std::shared_ptr<const TokenRecord> record;
    absl::Time verified;  // when storage and the HSM last vouched for it
  };

  TokenStore(kms::Storage* storage, hsm::Hsm* hsm, TokenStoreOptions options);

  // Draws a token for `record` (whose policies and times are filled in) and stores the
  // record, with the bootstrap marker (which must not exist yet) in the same batch if asked.
  absl::StatusOr<Created> Mint(TokenRecord record, bool bootstrap_marker);
  absl::StatusOr<std::string> TokenHash(absl::string_view token);
  absl::StatusOr<std::string> RecordMac(const TokenRecord& record);
  // Loads the record of `accessor`; nullopt if absent. DATA_LOSS if it does not parse or
  // (with verify) its record_mac does not match.
  struct Loaded {
    TokenRecord record;
    int64_t revision;
  };
  absl::StatusOr<std::optional<Loaded>> Load(absl::string_view accessor, bool verify);
  // Deletes an expired record unless it changed meanwhile; failures are ignored (the
  // record stays refused and is deleted on a later call).
  void DeleteExpired(absl::string_view accessor, const TokenRecord& record, int64_t revision);
  // Deletes the record of `accessor` with its entry under its parent and its children's
  // entries, whose accessors it appends to *children. NOT_FOUND if there is no such token.
  absl::Status RevokeOne(absl::string_view accessor, std::vector<std::string>* children);
  // Clears the parent of the record of `accessor` if it is `parent` (re-MACed, generation
  // + 1); nothing if the token is gone.
  absl::Status ForgetParent(absl::string_view accessor, absl::string_view parent);
  // Stores the changed `record` over `revision` with its generation advanced and its MAC
  // renewed, and updates the cache; ABORTED if the record changed meanwhile.
  absl::Status Rewrite(absl::string_view accessor, int64_t revision, TokenRecord* record);

  // Caches a verified token unless a renewal or revocation happened since `epoch_before`.
  void CacheInsert(absl::string_view accessor, const Digest& digest, TokenRecord record,
                   uint64_t epoch_before, absl::Time now);
  // After a renewal: replaces a cached older generation of the record.
  void CacheUpdate(absl::string_view accessor, const TokenRecord& record);
  // After a revocation or expiry: drops the token.
  void CacheErase(absl::string_view accessor);

  kms::Storage* const storage_;
  hsm::Hsm* const hsm_;
  const TokenStoreOptions options_;
  const kms::ChangeWatcher* watcher_ = nullptr;
  const std::unique_ptr<RefusalBudget> budget_;  // null: unmetered

  mutable absl::Mutex cache_mu_;
  // Grows on every revocation and renewal, so a verification that raced with one does not
  // cache what it read.
  uint64_t epoch_ ABSL_GUARDED_BY(cache_mu_) = 0;
  absl::flat_hash_map<std::string, CacheEntry> cache_ ABSL_GUARDED_BY(cache_mu_);
  // When CacheInsert next drops stale verdicts.
  absl::Time next_sweep_ ABSL_GUARDED_BY(cache_mu_) = absl::InfinitePast();
};

}  // namespace strongroom::server::access
