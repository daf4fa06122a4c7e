#include "server/acme/acme_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server::acme {
namespace {

constexpr absl::string_view kNonces = "acme/nonces/";
constexpr absl::string_view kAccounts = "acme/accounts/";
constexpr absl::string_view kAccountKeys = "acme/account-keys/";
constexpr absl::string_view kOrders = "acme/orders/";
constexpr absl::string_view kAccountOrders = "acme/account-orders/";
constexpr absl::string_view kOrderExpiry = "acme/order-expiry/";
constexpr absl::string_view kAuthz = "acme/authz/";
constexpr absl::string_view kCerts = "acme/certs/";
constexpr absl::string_view kEab = "acme/eab/";
// Expired orders deleted per sweep (the next sweep takes the rest).
constexpr size_t kOrdersPerSweep = 200;

std::string Hex16(int64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The expiry encoded in the first 16 characters of a nonce or an index key's tail.
std::optional<int64_t> ExpiryOf(absl::string_view hex) {
  if (hex.size() < 16) return std::nullopt;
  uint64_t v = 0;
  if (!absl::SimpleHexAtoi(hex.substr(0, 16), &v)) return std::nullopt;
  return static_cast<int64_t>(v);
}

bool ValidId(absl::string_view id) {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_';
         });
}

std::string NonceKey(absl::string_view nonce) {
  return absl::StrCat(kNonces, nonce.substr(0, 16), "/", nonce.substr(16));
}

template <typename T>
std::string Encode(const T& record) {
  std::string out;
  record.SerializeToString(&out);
  return out;
}

}  // namespace

AcmeStore::AcmeStore(kms::Storage* storage, AcmeStoreOptions options)
    : storage_(storage), options_(options), group_(storage) {}

std::string AcmeStore::NewId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) abort();  // no randomness: nothing is safe
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<std::string> AcmeStore::NewNonce(absl::Time now) {
  const int64_t due = absl::ToUnixMicros(now + options_.nonce_lifetime);
  int64_t last = last_nonce_expiry_us_.load();
  int64_t expires;
  do {
    expires = std::max(due, last + 1);
  } while (!last_nonce_expiry_us_.compare_exchange_weak(last, expires));
  const std::string nonce = absl::StrCat(Hex16(expires), NewId());
  kms::WriteBatch batch;
  batch.Put(NonceKey(nonce), "", kms::WriteBatch::kMustNotExist);
  if (absl::Status s = group_.Commit(batch); !s.ok()) return s;
  const uint32_t every = std::max<uint32_t>(1, std::min<uint32_t>(64, options_.max_nonces / 4));
  if (issued_since_sweep_.fetch_add(1) + 1 >= every) {
    issued_since_sweep_.store(0);
    // A failed sweep leaves more entries for the next one; the nonce is good either way.
    (void)Sweep(now);
  }
  return nonce;
}

absl::StatusOr<bool> AcmeStore::ConsumeNonce(absl::string_view nonce, absl::Time now) {
  if (nonce.size() != 48 || !ValidId(nonce)) return false;
  std::optional<int64_t> expires = ExpiryOf(nonce);
  if (!expires || *expires < absl::ToUnixMicros(now)) return false;
  const std::string key = NonceKey(nonce);
  absl::StatusOr<std::optional<kms::Entry>> entry = storage_->Get(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return false;
  kms::WriteBatch batch;
  batch.Delete(key, (*entry)->revision);
  absl::Status s = group_.Commit(batch);
  if (absl::IsAborted(s)) return false;  // another request used it first
  if (!s.ok()) return s;
  return true;
}

template <typename T>
absl::StatusOr<std::optional<Stored<T>>> AcmeStore::GetRecord(const std::string& key) {
  absl::StatusOr<std::optional<kms::Entry>> entry = storage_->Get(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::nullopt;
  Stored<T> stored;
  if (!stored.record.ParseFromString((*entry)->value)) {
    return absl::DataLossError(absl::StrCat("unreadable record ", key));
  }
  stored.revision = (*entry)->revision;
  return stored;
}

absl::StatusOr<std::optional<Stored<AccountRecord>>> AcmeStore::GetAccount(absl::string_view id) {
  if (!ValidId(id)) return std::nullopt;
  return GetRecord<AccountRecord>(absl::StrCat(kAccounts, id));
}

absl::StatusOr<std::optional<std::string>> AcmeStore::AccountIdByThumbprint(
    absl::string_view thumbprint) {
  if (!ValidId(thumbprint)) return std::nullopt;
  absl::StatusOr<std::optional<kms::Entry>> entry =
      storage_->Get(absl::StrCat(kAccountKeys, thumbprint));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::nullopt;
  return (*entry)->value;
}

absl::Status AcmeStore::CreateAccount(const AccountRecord& account,
                                      const Stored<EabRecord>* binding, kms::WriteBatch extra) {
  kms::WriteBatch& batch = extra;
  batch.Put(absl::StrCat(kAccountKeys, account.thumbprint()), account.id(),
            kms::WriteBatch::kMustNotExist);
  batch.Put(absl::StrCat(kAccounts, account.id()), Encode(account),
            kms::WriteBatch::kMustNotExist);
  if (binding != nullptr) {
    EabRecord used = binding->record;
    used.set_account_id(account.id());
    batch.Put(absl::StrCat(kEab, used.kid()), Encode(used), binding->revision);
  }
  absl::Status s = group_.Commit(batch);
  if (!absl::IsAborted(s)) return s;
  if (binding != nullptr) {
    absl::StatusOr<std::optional<Stored<EabRecord>>> now = GetEab(binding->record.kid());
    if (now.ok() && (!now->has_value() || !(*now)->record.account_id().empty())) {
      return absl::FailedPreconditionError("the external account binding key is already used");
    }
  }
  return absl::AlreadyExistsError("an account exists for this key");
}

absl::Status AcmeStore::CreateEab(const EabRecord& record, kms::WriteBatch extra) {
  extra.Put(absl::StrCat(kEab, record.kid()), Encode(record), kms::WriteBatch::kMustNotExist);
  return group_.Commit(extra);
}

absl::StatusOr<std::optional<Stored<EabRecord>>> AcmeStore::GetEab(absl::string_view kid) {
  if (!ValidId(kid)) return std::nullopt;
  return GetRecord<EabRecord>(absl::StrCat(kEab, kid));
}

absl::Status AcmeStore::UpdateAccount(const AccountRecord& account, int64_t revision,
                                      absl::string_view old_thumbprint) {
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kAccounts, account.id()), Encode(account), revision);
  if (old_thumbprint != account.thumbprint()) {
    batch.Delete(absl::StrCat(kAccountKeys, old_thumbprint));
    batch.Put(absl::StrCat(kAccountKeys, account.thumbprint()), account.id(),
              kms::WriteBatch::kMustNotExist);
  }
  return group_.Commit(batch);
}

absl::StatusOr<std::vector<std::string>> AcmeStore::ListOrders(absl::string_view account_id,
                                                               size_t limit) {
  const std::string prefix = absl::StrCat(kAccountOrders, account_id, "/");
  absl::StatusOr<std::vector<kms::Entry>> entries = storage_->List(prefix, "", limit);
  if (!entries.ok()) return entries.status();
  std::vector<std::string> ids;
  for (const kms::Entry& e : *entries) ids.push_back(e.key.substr(prefix.size()));
  return ids;
}

absl::Status AcmeStore::CreateOrder(const OrderRecord& order,
                                    const std::vector<AuthorizationRecord>& authorizations) {
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kOrders, order.id()), Encode(order), kms::WriteBatch::kMustNotExist);
  batch.Put(absl::StrCat(kAccountOrders, order.account_id(), "/", order.id()), "");
  batch.Put(absl::StrCat(kOrderExpiry, Hex16(order.expires()), "/", order.id()), "");
  for (const AuthorizationRecord& authz : authorizations) {
    batch.Put(absl::StrCat(kAuthz, authz.id()), Encode(authz), kms::WriteBatch::kMustNotExist);
  }
  return group_.Commit(batch);
}

absl::StatusOr<std::optional<Stored<OrderRecord>>> AcmeStore::GetOrder(absl::string_view id) {
  if (!ValidId(id)) return std::nullopt;
  return GetRecord<OrderRecord>(absl::StrCat(kOrders, id));
}

absl::Status AcmeStore::UpdateOrder(const OrderRecord& order, int64_t revision) {
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kOrders, order.id()), Encode(order), revision);
  return group_.Commit(batch);
}

absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> AcmeStore::GetAuthorization(
    absl::string_view id) {
  if (!ValidId(id)) return std::nullopt;
  return GetRecord<AuthorizationRecord>(absl::StrCat(kAuthz, id));
}

absl::Status AcmeStore::UpdateAuthorization(const AuthorizationRecord& authz, int64_t revision) {
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kAuthz, authz.id()), Encode(authz), revision);
  return group_.Commit(batch);
}

absl::Status AcmeStore::FinishOrder(const OrderRecord& order, int64_t order_revision,
                                    const CertificateRecord& record) {
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kOrders, order.id()), Encode(order), order_revision);
  batch.Put(absl::StrCat(kCerts, record.serial()), Encode(record),
            kms::WriteBatch::kMustNotExist);
  return group_.Commit(batch);
}

absl::StatusOr<std::optional<CertificateRecord>> AcmeStore::GetCertificate(
    absl::string_view serial) {
  if (!ValidId(serial)) return std::nullopt;
  absl::StatusOr<std::optional<Stored<CertificateRecord>>> stored =
      GetRecord<CertificateRecord>(absl::StrCat(kCerts, serial));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::nullopt;
  return (*stored)->record;
}

absl::Status AcmeStore::Sweep(absl::Time now) {
  const int64_t now_s = absl::ToUnixSeconds(now);
  const int64_t now_us = absl::ToUnixMicros(now);
  // Nonces, oldest first: the expired ones, then any past the bound.
  absl::StatusOr<std::vector<kms::Entry>> nonces =
      storage_->List(kNonces, "", size_t{options_.max_nonces} * 2);
  if (!nonces.ok()) return nonces.status();
  kms::WriteBatch batch;
  size_t live = nonces->size();
  for (const kms::Entry& e : *nonces) {
    std::optional<int64_t> expires = ExpiryOf(absl::string_view(e.key).substr(kNonces.size()));
    if ((expires && *expires >= now_us) && live <= options_.max_nonces) break;
    batch.Delete(e.key);
    --live;
  }
  // Orders past their expiry, with their authorizations and indexes.
  absl::StatusOr<std::vector<kms::Entry>> expiring =
      storage_->List(kOrderExpiry, "", kOrdersPerSweep);
  if (!expiring.ok()) return expiring.status();
  for (const kms::Entry& e : *expiring) {
    absl::string_view tail = absl::string_view(e.key).substr(kOrderExpiry.size());
    std::optional<int64_t> expires = ExpiryOf(tail);
    if (expires && *expires >= now_s) break;
    batch.Delete(e.key);
    if (tail.size() < 18) continue;
    const std::string order_id(tail.substr(17));
    absl::StatusOr<std::optional<Stored<OrderRecord>>> order = GetOrder(order_id);
    if (!order.ok()) return order.status();
    batch.Delete(absl::StrCat(kOrders, order_id));
    if (!order->has_value()) continue;
    batch.Delete(absl::StrCat(kAccountOrders, (*order)->record.account_id(), "/", order_id));
    for (const std::string& authz : (*order)->record.authorization_ids()) {
      batch.Delete(absl::StrCat(kAuthz, authz));
    }
  }
  if (batch.empty()) return absl::OkStatus();
  return group_.Commit(batch);
}

}  // namespace strongroom::server::acme
