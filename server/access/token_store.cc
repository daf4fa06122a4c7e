#include "server/access/token_store.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kms/crypto/mac.h"

namespace strongroom::server::access {
namespace {

constexpr char kTokenPrefix[] = "srt.";
constexpr size_t kAccessorBytes = 16;
constexpr size_t kAccessorLength = 2 * kAccessorBytes;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretLength = 43;  // base64url of 32 bytes, no padding
constexpr size_t kTokenLength = 4 + kAccessorLength + 1 + kSecretLength;
constexpr size_t kHashBytes = 32;  // HMAC-SHA256

constexpr char kRecordPrefix[] = "auth/tokens/";
constexpr char kBootstrapKey[] = "auth/bootstrap";
constexpr char kTokenHashDomain[] = "strongroom-token-v1";
constexpr char kRecordMacDomain[] = "strongroom-token-record-v1";
constexpr uint32_t kRecordVersion = 1;

constexpr size_t kMaxPolicies = 64;
constexpr size_t kMaxPolicyName = 128;
constexpr size_t kMaxDisplayName = 256;
constexpr size_t kMaxCreator = 1024;
constexpr int kMutateAttempts = 16;

std::string RecordKey(absl::string_view accessor) { return absl::StrCat(kRecordPrefix, accessor); }
// The entries naming a token's children: "auth/children/<parent>/<child>".
constexpr char kChildrenPrefix[] = "auth/children/";
std::string ChildrenPrefix(absl::string_view parent) {
  return absl::StrCat(kChildrenPrefix, parent, "/");
}
std::string ChildKey(absl::string_view parent, absl::string_view child) {
  return absl::StrCat(ChildrenPrefix(parent), child);
}

absl::Status InvalidToken() { return absl::UnauthenticatedError("invalid token"); }
absl::Status ExpiredToken() { return absl::UnauthenticatedError("token expired"); }
absl::Status NoSuchToken(absl::string_view accessor) {
  return absl::NotFoundError(absl::StrCat("no token with accessor ", accessor));
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsBase64Url(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

bool IsAccessor(absl::string_view accessor) {
  return accessor.size() == kAccessorLength &&
         std::all_of(accessor.begin(), accessor.end(), IsLowerHex);
}

absl::Status CheckAccessor(absl::string_view accessor) {
  if (IsAccessor(accessor)) return absl::OkStatus();
  return absl::InvalidArgumentError("accessor: must be 32 lowercase hexadecimal characters");
}

// Splits "srt.<accessor>.<secret>" without looking at the secret's value.
bool ParseToken(absl::string_view token, absl::string_view* accessor) {
  if (token.size() != kTokenLength || !absl::StartsWith(token, kTokenPrefix)) return false;
  absl::string_view acc = token.substr(4, kAccessorLength);
  if (!IsAccessor(acc) || token[4 + kAccessorLength] != '.') return false;
  absl::string_view secret = token.substr(4 + kAccessorLength + 1);
  if (!std::all_of(secret.begin(), secret.end(), IsBase64Url)) return false;
  *accessor = acc;
  return true;
}

// base64url without padding of `in`, written to `out` (4 * ceil(n / 3) minus padding bytes).
void Base64UrlEncode(absl::Span<const uint8_t> in, char* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
    *out++ = kAlphabet[v & 63];
  }
  if (in.size() - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
  }
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp out;
  int64_t seconds = absl::ToUnixSeconds(t);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return out;
}

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  absl::Duration remainder;
  out.set_seconds(absl::IDivDuration(d, absl::Seconds(1), &remainder));
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
  return out;
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Time ExpireTime(const TokenRecord& record) { return FromProto(record.expire_time()); }

// A request duration: zero if unset, else more than 0 and at most `max`.
absl::StatusOr<absl::Duration> RequestDuration(const google::protobuf::Duration& d,
                                               absl::string_view field, absl::Duration max) {
  if (d.seconds() < 0 || d.nanos() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not be negative"));
  }
  if (d.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": nanos must be below 1e9"));
  }
  absl::Duration value = FromProto(d);
  if (value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": at most ", absl::FormatDuration(max), " (the maximum token TTL)"));
  }
  return value;
}

absl::Status CheckPolicyName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxPolicyName) {
    return absl::InvalidArgumentError(
        absl::StrCat("policies: each name must be 1 to ", kMaxPolicyName, " characters"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          "policies: only letters, digits, '.', '_' and '-' are allowed in a name");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckText(absl::string_view text, absl::string_view field, size_t max) {
  if (text.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": at most ", max, " bytes"));
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": control characters not allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRootTtl(absl::Duration ttl, absl::Duration max) {
  if (ttl <= absl::ZeroDuration() || ttl > max) {
    return absl::InvalidArgumentError(absl::StrCat("ttl: must be more than 0 and at most ",
                                                   absl::FormatDuration(max),
                                                   " (the maximum token TTL)"));
  }
  return absl::OkStatus();
}

// ---- Canonical encoding of a record for its MAC ----

void PutU64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
void PutBytes(absl::string_view s, std::string* out) {
  PutU64(s.size(), out);
  out->append(s.data(), s.size());
}
void PutTimestamp(const google::protobuf::Timestamp& t, std::string* out) {
  PutU64(static_cast<uint64_t>(t.seconds()), out);
  PutU64(static_cast<uint64_t>(static_cast<int64_t>(t.nanos())), out);
}
void PutDuration(const google::protobuf::Duration& d, std::string* out) {
  PutU64(static_cast<uint64_t>(d.seconds()), out);
  PutU64(static_cast<uint64_t>(static_cast<int64_t>(d.nanos())), out);
}

std::string MacInput(const TokenRecord& r) {
  std::string out(kRecordMacDomain, sizeof(kRecordMacDomain));  // includes the NUL
  PutU64(r.version(), &out);
  PutBytes(r.accessor(), &out);
  PutBytes(r.token_hash(), &out);
  PutU64(r.policies_size(), &out);
  for (const std::string& p : r.policies()) PutBytes(p, &out);
  PutBytes(r.display_name(), &out);
  PutBytes(r.creator(), &out);
  PutTimestamp(r.create_time(), &out);
  PutTimestamp(r.expire_time(), &out);
  PutU64(r.has_max_expire_time() ? 1 : 0, &out);
  PutTimestamp(r.max_expire_time(), &out);
  PutDuration(r.ttl(), &out);
  PutDuration(r.period(), &out);
  PutU64(r.renewable() ? 1 : 0, &out);
  PutU64(r.generation(), &out);
  // Last and only when set, so that the records of orphans keep the MAC they had before
  // tokens named their parent.
  if (!r.parent().empty()) PutBytes(r.parent(), &out);
  return out;
}

v1::TokenInfo InfoOf(const TokenRecord& r) {
  v1::TokenInfo info;
  info.set_accessor(r.accessor());
  info.set_display_name(r.display_name());
  for (const std::string& p : r.policies()) info.add_policies(p);
  *info.mutable_create_time() = r.create_time();
  *info.mutable_expire_time() = r.expire_time();
  *info.mutable_ttl() = r.ttl();
  *info.mutable_period() = r.period();
  if (r.has_max_expire_time()) *info.mutable_max_expire_time() = r.max_expire_time();
  info.set_creator(r.creator());
  info.set_renewable(r.renewable());
  info.set_orphan(r.parent().empty());
  return info;
}

bool ParseRecord(const kms::Entry& entry, absl::string_view accessor, TokenRecord* record) {
  return record->ParseFromString(entry.value) && record->version() == kRecordVersion &&
         record->accessor() == accessor && record->token_hash().size() == kHashBytes &&
         record->record_mac().size() == kHashBytes;
}

absl::Status CorruptRecord(absl::string_view accessor) {
  return absl::DataLossError(
      absl::StrCat("stored record of token ", accessor, " is corrupt or was altered"));
}

bool SameBytes(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(kms::Storage* storage, hsm::Hsm* hsm,
                                                             TokenStoreOptions options) {
  if (storage == nullptr || hsm == nullptr) {
    return absl::InvalidArgumentError("token store: storage and hsm are required");
  }
  if (options.max_ttl <= absl::ZeroDuration() || options.default_ttl <= absl::ZeroDuration() ||
      options.default_ttl > options.max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("token store: default TTL (", absl::FormatDuration(options.default_ttl),
                     ") must be more than 0 and at most the maximum TTL (",
                     absl::FormatDuration(options.max_ttl), ")"));
  }
  if (options.hmac_key_label.empty()) {
    return absl::InvalidArgumentError("token store: the HMAC key label must not be empty");
  }
  if (options.max_cached_tokens == 0) {
    return absl::InvalidArgumentError("token store: max_cached_tokens must be at least 1");
  }
  absl::StatusOr<bool> exists = hsm->SecretKeyExists(options.hmac_key_label);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    absl::Status s = hsm->GenerateHmacKey(options.hmac_key_label);
    // Another process may have created it first.
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  }
  return std::unique_ptr<TokenStore>(new TokenStore(storage, hsm, std::move(options)));
}

TokenStore::TokenStore(kms::Storage* storage, hsm::Hsm* hsm, TokenStoreOptions options)
    : storage_(storage),
      hsm_(hsm),
      options_(std::move(options)),
      budget_(options_.refused_token_hmacs_per_second.has_value()
                  ? std::make_unique<RefusalBudget>(*options_.refused_token_hmacs_per_second,
                                                    options_.max_cached_tokens)
                  : nullptr) {}

absl::StatusOr<std::string> TokenStore::TokenHash(absl::string_view token) {
  hsm::SecretData input(sizeof(kTokenHashDomain) + token.size());
  absl::Span<uint8_t> bytes = input.MutableSecret();
  memcpy(bytes.data(), kTokenHashDomain, sizeof(kTokenHashDomain));  // includes the NUL
  memcpy(bytes.data() + sizeof(kTokenHashDomain), token.data(), token.size());
  return hsm_->Hmac(options_.hmac_key_label, hsm::HashAlgorithm::kSha256,
                    input.RevealSecretAsString());
}

absl::StatusOr<std::string> TokenStore::RecordMac(const TokenRecord& record) {
  return hsm_->Hmac(options_.hmac_key_label, hsm::HashAlgorithm::kSha256, MacInput(record));
}

absl::StatusOr<TokenStore::Created> TokenStore::Mint(TokenRecord record, bool bootstrap_marker) {
  uint8_t accessor_bytes[kAccessorBytes];
  if (absl::Status s = hsm_->GenerateRandom(absl::MakeSpan(accessor_bytes)); !s.ok()) return s;
  const std::string accessor = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(accessor_bytes), kAccessorBytes));
  hsm::SecretData secret(kSecretBytes);
  if (absl::Status s = hsm_->GenerateRandom(secret.MutableSecret()); !s.ok()) return s;

  hsm::SecretData token(kTokenLength);
  char* out = reinterpret_cast<char*>(token.MutableSecret().data());
  memcpy(out, kTokenPrefix, 4);
  memcpy(out + 4, accessor.data(), kAccessorLength);
  out[4 + kAccessorLength] = '.';
  Base64UrlEncode(secret.RevealSecret(), out + 4 + kAccessorLength + 1);

  absl::StatusOr<std::string> hash = TokenHash(token.RevealSecretAsString());
  if (!hash.ok()) return hash.status();
  record.set_version(kRecordVersion);
  record.set_accessor(accessor);
  record.set_token_hash(*std::move(hash));
  record.set_generation(1);
  absl::StatusOr<std::string> mac = RecordMac(record);
  if (!mac.ok()) return mac.status();
  record.set_record_mac(*std::move(mac));

  kms::WriteBatch batch;
  batch.Put(RecordKey(accessor), record.SerializeAsString(), kms::WriteBatch::kMustNotExist);
  if (!record.parent().empty()) {
    batch.Put(ChildKey(record.parent(), accessor), "", kms::WriteBatch::kMustNotExist);
  }
  if (bootstrap_marker) {
    BootstrapRecord marker;
    *marker.mutable_time() = record.create_time();
    marker.set_accessor(accessor);
    batch.Put(kBootstrapKey, marker.SerializeAsString(), kms::WriteBatch::kMustNotExist);
  }
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  return Created{std::move(token), InfoOf(record)};
}

std::optional<absl::string_view> TokenStore::AccessorOf(absl::string_view token) {
  absl::string_view accessor;
  if (!ParseToken(token, &accessor)) return std::nullopt;
  return accessor;
}

absl::StatusOr<TokenStore::Created> TokenStore::Create(const v1::CreateTokenRequest& request,
                                                       absl::string_view creator, absl::Time now,
                                                       absl::string_view parent) {
  if (request.policies().empty()) {
    return absl::InvalidArgumentError("policies: at least one policy is required");
  }
  if (request.policies_size() > static_cast<int>(kMaxPolicies)) {
    return absl::InvalidArgumentError(absl::StrCat("policies: at most ", kMaxPolicies));
  }
  TokenRecord record;
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& policy : request.policies()) {
    if (absl::Status s = CheckPolicyName(policy); !s.ok()) return s;
    if (policy == kRootPolicy) {
      return absl::InvalidArgumentError(
          "policies: 'root' is granted only by the bootstrap root token or `strongroomd "
          "generate-root-token`, not by CreateToken");
    }
    if (seen.insert(policy).second) record.add_policies(policy);
  }
  if (absl::Status s = CheckText(request.display_name(), "display_name", kMaxDisplayName);
      !s.ok()) {
    return s;
  }
  if (creator.empty()) return absl::InvalidArgumentError("creator: must not be empty");
  if (absl::Status s = CheckText(creator, "creator", kMaxCreator); !s.ok()) return s;

  absl::StatusOr<absl::Duration> ttl = RequestDuration(request.ttl(), "ttl", options_.max_ttl);
  if (!ttl.ok()) return ttl.status();
  absl::StatusOr<absl::Duration> period =
      RequestDuration(request.period(), "period", options_.max_ttl);
  if (!period.ok()) return period.status();
  absl::StatusOr<absl::Duration> explicit_max =
      RequestDuration(request.explicit_max_ttl(), "explicit_max_ttl", options_.max_ttl);
  if (!explicit_max.ok()) return explicit_max.status();

  // A token's children never outlive it: `bound` is the parent's expiry, `parent_rule`
  // the extension its own renewals get (its period, or its ttl).
  std::optional<absl::Time> bound;
  absl::Duration parent_rule = absl::InfiniteDuration();
  if (!parent.empty()) {
    if (absl::Status s = CheckAccessor(parent); !s.ok()) return s;
    absl::StatusOr<std::optional<Loaded>> loaded = Load(parent, /*verify=*/true);
    if (!loaded.ok()) return loaded.status();
    if (!loaded->has_value() || now >= ExpireTime((*loaded)->record)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the creating token ", parent, " has expired or was revoked"));
    }
    const TokenRecord& p = (*loaded)->record;
    // A root token's children are bounded by max_ttl only: root tokens are short-lived
    // set-up credentials, as Vault's initial root token (which never expires) is not.
    if (std::find(p.policies().begin(), p.policies().end(), kRootPolicy) == p.policies().end()) {
      bound = ExpireTime(p);
      parent_rule = FromProto(p.period()) > absl::ZeroDuration() ? FromProto(p.period())
                                                                   : FromProto(p.ttl());
    }
  }
  // For error messages: the parent's remaining lifetime in whole seconds.
  auto remaining_text = [&] {
    return absl::StrCat(absl::FormatDuration(absl::Trunc(*bound - now, absl::Seconds(1))),
                        " (the creating token's remaining lifetime)");
  };

  record.set_display_name(request.display_name());
  record.set_creator(std::string(creator));
  record.set_parent(std::string(parent));
  *record.mutable_create_time() = ToProto(now);
  record.set_renewable(!request.has_renewable() || request.renewable());
  if (*period > absl::ZeroDuration()) {
    // Periodic: each renewal grants one period; no maximum lifetime unless a parent's.
    if (*explicit_max > absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "explicit_max_ttl: not allowed for periodic tokens (period > 0), which have no "
          "maximum lifetime");
    }
    absl::Time expire = now + *period;
    if (bound.has_value()) {
      if (*period > parent_rule) {
        return absl::InvalidArgumentError(
            absl::StrCat("period: at most ", absl::FormatDuration(parent_rule),
                         " (the creating token's own period or ttl)"));
      }
      expire = std::min(expire, *bound);
      *record.mutable_max_expire_time() = ToProto(*bound);
    }
    *record.mutable_ttl() = ToProto(*period);
    *record.mutable_period() = ToProto(*period);
    *record.mutable_expire_time() = ToProto(expire);
  } else {
    absl::Duration max_ttl =
        *explicit_max > absl::ZeroDuration() ? *explicit_max : options_.max_ttl;
    if (bound.has_value()) {
      if (*ttl > *bound - now) {
        return absl::InvalidArgumentError(absl::StrCat("ttl: at most ", remaining_text()));
      }
      if (*explicit_max > *bound - now) {
        return absl::InvalidArgumentError(
            absl::StrCat("explicit_max_ttl: at most ", remaining_text()));
      }
      max_ttl = std::min(max_ttl, *bound - now);
    }
    absl::Duration lifetime = *ttl;
    if (lifetime == absl::ZeroDuration()) {
      lifetime = std::min(options_.default_ttl, max_ttl);
    } else if (lifetime > max_ttl) {
      return absl::InvalidArgumentError(
          absl::StrCat("ttl: at most explicit_max_ttl (", absl::FormatDuration(max_ttl), ")"));
    }
    *record.mutable_ttl() = ToProto(lifetime);
    *record.mutable_expire_time() = ToProto(now + lifetime);
    *record.mutable_max_expire_time() = ToProto(now + max_ttl);
  }
  return Mint(std::move(record), /*bootstrap_marker=*/false);
}

absl::StatusOr<TokenStore::Created> TokenStore::CreateRoot(absl::Duration ttl, absl::Time now) {
  if (absl::Status s = CheckRootTtl(ttl, options_.max_ttl); !s.ok()) return s;
  TokenRecord record;
  record.add_policies(kRootPolicy);
  record.set_display_name("root");
  record.set_creator("strongroomd generate-root-token");
  *record.mutable_create_time() = ToProto(now);
  *record.mutable_expire_time() = ToProto(now + ttl);
  *record.mutable_max_expire_time() = ToProto(now + ttl);
  *record.mutable_ttl() = ToProto(ttl);
  record.set_renewable(false);
  return Mint(std::move(record), /*bootstrap_marker=*/false);
}

absl::StatusOr<std::optional<TokenStore::Created>> TokenStore::Bootstrap(absl::Duration ttl,
                                                                         absl::Time now) {
  if (absl::Status s = CheckRootTtl(ttl, options_.max_ttl); !s.ok()) return s;
  absl::StatusOr<std::optional<kms::Entry>> marker = storage_->Get(kBootstrapKey);
  if (!marker.ok()) return marker.status();
  if (marker->has_value()) return std::nullopt;
  TokenRecord record;
  record.add_policies(kRootPolicy);
  record.set_display_name("root (bootstrap)");
  record.set_creator("strongroomd bootstrap");
  *record.mutable_create_time() = ToProto(now);
  *record.mutable_expire_time() = ToProto(now + ttl);
  *record.mutable_max_expire_time() = ToProto(now + ttl);
  *record.mutable_ttl() = ToProto(ttl);
  record.set_renewable(false);
  absl::StatusOr<Created> created = Mint(std::move(record), /*bootstrap_marker=*/true);
  if (absl::IsAborted(created.status())) {
    // Another process bootstrapped between our read and our write.
    marker = storage_->Get(kBootstrapKey);
    if (marker.ok() && marker->has_value()) return std::nullopt;
  }
  if (!created.ok()) return created.status();
  return std::optional<Created>(*std::move(created));
}

absl::StatusOr<std::optional<TokenStore::Loaded>> TokenStore::Load(absl::string_view accessor,
                                                                   bool verify) {
  absl::StatusOr<std::optional<kms::Entry>> entry = storage_->Get(RecordKey(accessor));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::nullopt;
  Loaded loaded{TokenRecord(), (*entry)->revision};
  if (!ParseRecord(**entry, accessor, &loaded.record)) return CorruptRecord(accessor);
  if (verify) {
    absl::StatusOr<std::string> mac = RecordMac(loaded.record);
    if (!mac.ok()) return mac.status();
    if (!SameBytes(*mac, loaded.record.record_mac())) return CorruptRecord(accessor);
  }
  return std::optional<Loaded>(std::move(loaded));
}

void TokenStore::DeleteExpired(absl::string_view accessor, const TokenRecord& record,
                               int64_t revision) {
  CacheErase(accessor);
  kms::WriteBatch batch;
  batch.Delete(RecordKey(accessor), revision);
  if (!record.parent().empty()) batch.Delete(ChildKey(record.parent(), accessor));
  // A failure (a concurrent change, storage down) leaves the record to a later call.
  storage_->Commit(batch).IgnoreError();
}

absl::StatusOr<v1::TokenInfo> TokenStore::Authenticate(absl::string_view token, absl::Time now) {
  absl::string_view accessor;
  if (!ParseToken(token, &accessor)) return InvalidToken();
  // kms::crypto::Digest, not SHA256(): that fetches the algorithm under a lock per call.
  Digest digest;
  if (absl::Status s =
          kms::crypto::Digest(kms::crypto::HashAlgorithm::kSha256, token, absl::MakeSpan(digest));
      !s.ok()) {
    return s;
  }

  uint64_t epoch = 0;
  std::shared_ptr<const TokenRecord> cached;
  bool verified_before = false;  // this very token was verified (the entry may be stale)
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    epoch = epoch_;
    auto it = cache_.find(accessor);
    if (it != cache_.end()) {
      // The accessor names one token: another secret is wrong, no need to ask the HSM.
      if (CRYPTO_memcmp(it->second.token_digest.data(), digest.data(), digest.size()) != 0) {
        return InvalidToken();
      }
      verified_before = true;
      if (now - it->second.verified < options_.cache_revalidate_after &&
          (watcher_ == nullptr || watcher_->fresh())) {
        cached = it->second.record;
      }
    }
  }
  if (cached != nullptr) {
    if (now < ExpireTime(*cached)) return InfoOf(*cached);
    // Expired as cached: drop it and decide from storage (it may have been renewed).
    CacheErase(accessor);
    absl::ReaderMutexLock lock(&cache_mu_);
    epoch = epoch_;
  }

  absl::StatusOr<std::optional<Loaded>> loaded = Load(accessor, /*verify=*/false);
  if (!loaded.ok()) {
    // A record that does not even parse cannot authenticate anything.
    return absl::IsDataLoss(loaded.status()) ? InvalidToken() : loaded.status();
  }
  if (!loaded->has_value()) return InvalidToken();  // never issued, revoked or expired
  Loaded& found = **loaded;
  // A token not verified before: its HMAC in the HSM is paid from the refusal budget.
  const bool metered = !verified_before && budget_ != nullptr;
  RefusalBudget::Ticket ticket;
  if (metered) {
    absl::StatusOr<RefusalBudget::Ticket> admitted = budget_->Admit(accessor, now);
    if (!admitted.ok()) return admitted.status();
    ticket = *admitted;
  }
  absl::StatusOr<std::string> hash = TokenHash(token);
  if (!hash.ok()) return hash.status();
  const bool genuine = SameBytes(*hash, found.record.token_hash());
  if (metered) budget_->Settle(accessor, now, ticket, genuine);
  if (!genuine) return InvalidToken();
  // The token is genuine from here on: details of the record may be told to its holder.
  absl::StatusOr<std::string> mac = RecordMac(found.record);
  if (!mac.ok()) return mac.status();
  if (!SameBytes(*mac, found.record.record_mac())) return CorruptRecord(accessor);
  if (now >= ExpireTime(found.record)) {
    DeleteExpired(accessor, found.record, found.revision);
    return ExpiredToken();
  }
  v1::TokenInfo info = InfoOf(found.record);
  CacheInsert(accessor, digest, std::move(found.record), epoch, now);
  return info;
}

absl::StatusOr<v1::TokenInfo> TokenStore::Renew(absl::string_view accessor,
                                                absl::Duration increment, absl::Time now) {
  if (absl::Status s = CheckAccessor(accessor); !s.ok()) return s;
  if (increment < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("increment: must not be negative");
  }
  for (int attempt = 0; attempt < kMutateAttempts; ++attempt) {
    absl::StatusOr<std::optional<Loaded>> loaded = Load(accessor, /*verify=*/true);
    if (!loaded.ok()) return loaded.status();
    if (!loaded->has_value()) return NoSuchToken(accessor);
    TokenRecord& record = (*loaded)->record;
    if (now >= ExpireTime(record)) {
      DeleteExpired(accessor, (*loaded)->record, (*loaded)->revision);
      return NoSuchToken(accessor);
    }
    if (!record.renewable()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "token ", accessor,
          " is not renewable (root tokens and those created with renewable=false are not); "
          "create a new one"));
    }
    // The token's own rule: its period, or its ttl; an increment never exceeds it.
    const absl::Duration rule = FromProto(record.period()) > absl::ZeroDuration()
                                    ? FromProto(record.period())
                                    : FromProto(record.ttl());
    absl::Time expire =
        now + (increment == absl::ZeroDuration() ? rule : std::min(increment, rule));
    if (record.has_max_expire_time()) {
      expire = std::min(expire, FromProto(record.max_expire_time()));
    }
    *record.mutable_expire_time() = ToProto(expire);
    absl::Status s = Rewrite(accessor, (*loaded)->revision, &record);
    if (absl::IsAborted(s)) {  // renewed or revoked meanwhile: read again
      kms::CasBackOff(attempt);
      continue;
    }
    if (!s.ok()) return s;
    return InfoOf(record);
  }
  return absl::AbortedError(
      absl::StrCat("token ", accessor, ": too many concurrent updates; try again"));
}

absl::StatusOr<v1::TokenInfo> TokenStore::Lookup(absl::string_view accessor, absl::Time now) {
  if (absl::Status s = CheckAccessor(accessor); !s.ok()) return s;
  absl::StatusOr<std::optional<Loaded>> loaded = Load(accessor, /*verify=*/true);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value()) return NoSuchToken(accessor);
  if (now >= ExpireTime((*loaded)->record)) {
    DeleteExpired(accessor, (*loaded)->record, (*loaded)->revision);
    return NoSuchToken(accessor);
  }
  return InfoOf((*loaded)->record);
}

absl::Status TokenStore::Revoke(absl::string_view accessor) {
  std::vector<std::string> pending;
  if (absl::Status s = RevokeOne(accessor, &pending); !s.ok()) return s;
  // Depth first over the descendants; one that expired or went meanwhile is skipped.
  while (!pending.empty()) {
    const std::string child = std::move(pending.back());
    pending.pop_back();
    absl::Status s = RevokeOne(child, &pending);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return absl::OkStatus();
}

absl::Status TokenStore::RevokeOrphan(absl::string_view accessor) {
  std::vector<std::string> orphaned;
  if (absl::Status s = RevokeOne(accessor, &orphaned); !s.ok()) return s;
  for (const std::string& child : orphaned) {
    if (absl::Status s = ForgetParent(child, accessor); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status TokenStore::ForgetParent(absl::string_view accessor, absl::string_view parent) {
  for (int attempt = 0; attempt < kMutateAttempts; ++attempt) {
    absl::StatusOr<std::optional<Loaded>> loaded = Load(accessor, /*verify=*/true);
    if (!loaded.ok()) return loaded.status();
    // Gone meanwhile, or already rewritten.
    if (!loaded->has_value() || (*loaded)->record.parent() != parent) return absl::OkStatus();
    (*loaded)->record.clear_parent();
    absl::Status s = Rewrite(accessor, (*loaded)->revision, &(*loaded)->record);
    if (absl::IsAborted(s)) {  // renewed or revoked meanwhile: read again
      kms::CasBackOff(attempt);
      continue;
    }
    return s;
  }
  return absl::AbortedError(
      absl::StrCat("token ", accessor, ": too many concurrent updates; try again"));
}

absl::Status TokenStore::Rewrite(absl::string_view accessor, int64_t revision,
                                 TokenRecord* record) {
  record->set_generation(record->generation() + 1);  // so that caches take the new record
  absl::StatusOr<std::string> mac = RecordMac(*record);
  if (!mac.ok()) return mac.status();
  record->set_record_mac(*std::move(mac));
  absl::Status s = storage_->Commit(
      kms::WriteBatch().Put(RecordKey(accessor), record->SerializeAsString(), revision));
  if (s.ok()) CacheUpdate(accessor, *record);
  return s;
}

absl::Status TokenStore::RevokeOne(absl::string_view accessor, std::vector<std::string>* children) {
  if (absl::Status s = CheckAccessor(accessor); !s.ok()) return s;
  for (int attempt = 0; attempt < kMutateAttempts; ++attempt) {
    absl::StatusOr<std::optional<kms::Entry>> entry = storage_->Get(RecordKey(accessor));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) {
      CacheErase(accessor);
      return NoSuchToken(accessor);
    }
    TokenRecord record;
    if (!ParseRecord(**entry, accessor, &record)) return CorruptRecord(accessor);
    absl::StatusOr<std::vector<kms::Entry>> listed =
        storage_->List(ChildrenPrefix(accessor), "", 0);
    if (!listed.ok()) return listed.status();
    kms::WriteBatch batch;
    batch.Delete(RecordKey(accessor), (*entry)->revision);
    if (!record.parent().empty()) batch.Delete(ChildKey(record.parent(), accessor));
    for (const kms::Entry& child : *listed) batch.Delete(child.key);
    absl::Status s = storage_->Commit(batch);
    if (absl::IsAborted(s)) {  // renewed meanwhile: read again
      kms::CasBackOff(attempt);
      continue;
    }
    if (!s.ok()) return s;
    CacheErase(accessor);
    const size_t prefix = ChildrenPrefix(accessor).size();
    for (const kms::Entry& child : *listed) children->push_back(child.key.substr(prefix));
    return absl::OkStatus();
  }
  return absl::AbortedError(
      absl::StrCat("token ", accessor, ": too many concurrent updates; try again"));
}

absl::StatusOr<std::vector<v1::TokenInfo>> TokenStore::List(absl::Time now) {
  absl::StatusOr<std::vector<kms::Entry>> entries = storage_->List(kRecordPrefix, "", 0);
  if (!entries.ok()) return entries.status();
  std::vector<v1::TokenInfo> out;
  for (const kms::Entry& entry : *entries) {
    absl::string_view accessor = absl::string_view(entry.key).substr(strlen(kRecordPrefix));
    TokenRecord record;
    if (!ParseRecord(entry, accessor, &record)) return CorruptRecord(accessor);
    if (now >= ExpireTime(record)) {
      DeleteExpired(accessor, record, entry.revision);
      continue;
    }
    out.push_back(InfoOf(record));
  }
  return out;
}

// ---- Cache ----

void TokenStore::CacheInsert(absl::string_view accessor, const Digest& digest, TokenRecord record,
                             uint64_t epoch_before, absl::Time now) {
  absl::MutexLock lock(&cache_mu_);
  // A renewal or revocation since the record was read: it may be stale, do not keep it.
  if (epoch_ != epoch_before) return;
  // Verdicts past their revalidation time serve nothing until verified again, nor do expired
  // tokens: sweep them once per revalidation period, and whenever the cache is full (if that
  // is not enough, start over). Each entry is scanned O(1) times per period: amortised O(1).
  const bool full = cache_.size() >= options_.max_cached_tokens && !cache_.contains(accessor);
  if (full || now >= next_sweep_) {
    const absl::Time stale_before = now - options_.cache_revalidate_after;
    absl::erase_if(cache_, [now, stale_before](const auto& entry) {
      return entry.second.verified <= stale_before || now >= ExpireTime(*entry.second.record);
    });
    if (cache_.size() >= options_.max_cached_tokens) cache_.clear();
    next_sweep_ = now + options_.cache_revalidate_after;
  }
  cache_[accessor] =
      CacheEntry{digest, std::make_shared<const TokenRecord>(std::move(record)), now};
}

void TokenStore::CacheUpdate(absl::string_view accessor, const TokenRecord& record) {
  absl::MutexLock lock(&cache_mu_);
  ++epoch_;
  auto it = cache_.find(accessor);
  // Commits can finish out of order; keep the newest generation.
  if (it != cache_.end() && it->second.record->generation() < record.generation()) {
    it->second.record = std::make_shared<const TokenRecord>(record);
  }
}

void TokenStore::WatchChanges(kms::ChangeWatcher* watcher) {
  watcher_ = watcher;
  watcher->Subscribe(
      kRecordPrefix,
      [this](const kms::Change& change) {
        CacheErase(absl::string_view(change.key).substr(strlen(kRecordPrefix)));
      },
      [this] {
        absl::MutexLock lock(&cache_mu_);
        ++epoch_;
        cache_.clear();
        return absl::OkStatus();
      });
}

void TokenStore::CacheErase(absl::string_view accessor) {
  absl::MutexLock lock(&cache_mu_);
  ++epoch_;
  cache_.erase(accessor);
}

TokenStore::CacheSizes TokenStore::cache_sizes() const {
  absl::MutexLock lock(&cache_mu_);
  return {cache_.size(), budget_ == nullptr ? 0 : budget_->suspects()};
}

}  // namespace strongroom::server::access
