#include "kms/keyring.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/rand.h>

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace strongroom::kms {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kRecordPrefix[] = "transit/keys/";
constexpr int kMutateAttempts = 16;

std::string RecordKey(absl::string_view name) { return absl::StrCat(kRecordPrefix, name); }

KeyMaterialId MaterialId(const TransitKeyRecord& key, uint32_t version) {
  return {absl::StrCat("transit:", key.name()), version, key.type()};
}

absl::Time CreateTime(const TransitVersionRecord& v) {
  return absl::FromUnixSeconds(v.create_time().seconds()) +
         absl::Nanoseconds(v.create_time().nanos());
}

std::optional<crypto::AsymmetricType> AsymmetricOf(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return crypto::AsymmetricType::kEcdsaP256;
    case KeyType::kEcdsaP384:
      return crypto::AsymmetricType::kEcdsaP384;
    case KeyType::kEd25519:
      return crypto::AsymmetricType::kEd25519;
    case KeyType::kRsa2048:
      return crypto::AsymmetricType::kRsa2048;
    case KeyType::kRsa3072:
      return crypto::AsymmetricType::kRsa3072;
    case KeyType::kRsa4096:
      return crypto::AsymmetricType::kRsa4096;
    default:
      return std::nullopt;
  }
}

hsm::KeyPairType HsmKeyPairOf(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP384:
      return hsm::KeyPairType::kEcP384;
    case KeyType::kRsa2048:
      return hsm::KeyPairType::kRsa2048;
    case KeyType::kRsa3072:
      return hsm::KeyPairType::kRsa3072;
    case KeyType::kRsa4096:
      return hsm::KeyPairType::kRsa4096;
    default:
      return hsm::KeyPairType::kEcP256;
  }
}

absl::Status NotFound(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no transit key named '", name, "'"));
}

}  // namespace

std::vector<std::string> HsmObjectLabels(const std::string& label) {
  return {label, absl::StrCat(label, "-hmac")};
}

absl::Status ValidateKeyName(absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError("name: must be 1 to 128 characters");
  }
  if (name[0] == '.' || name[0] == '-') {
    return absl::InvalidArgumentError("name: must not start with '.' or '-'");
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError("name: only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<VersionSlot> TransitKey::slot(uint32_t version) const {
  uint32_t first = record_.min_available_version();
  if (version < first || version > record_.latest_version()) return nullptr;
  size_t i = version - first;
  return i < slots_.size() ? slots_[i] : nullptr;
}

const TransitVersionRecord* TransitKey::version_record(uint32_t version) const {
  uint32_t first = record_.min_available_version();
  if (version < first || version > record_.latest_version()) return nullptr;
  size_t i = version - first;
  return i < static_cast<size_t>(record_.versions_size()) ? &record_.versions(i) : nullptr;
}

Keyring::Keyring(hsm::Hsm* hsm, Storage* storage, Barrier* barrier, KeyringOptions options)
    : hsm_(hsm), storage_(storage), barrier_(barrier), options_(options) {
  barrier_->OnSeal([this] { Clear(); });
}

Keyring::Shard& Keyring::ShardOf(absl::string_view name) {
  return shards_[absl::Hash<absl::string_view>()(name) % kShards];
}

void Keyring::Clear() {
  for (Shard& shard : shards_) {
    absl::flat_hash_map<std::string, std::shared_ptr<const TransitKey>> dropped;
    {
      absl::MutexLock lock(&shard.mu);
      dropped.swap(shard.keys);
    }
  }  // Material is cleansed as the last holder of each snapshot lets go.
}

std::vector<std::shared_ptr<const TransitKey>> Keyring::Snapshots() const {
  std::vector<std::shared_ptr<const TransitKey>> out;
  for (const Shard& shard : shards_) {
    absl::ReaderMutexLock lock(&shard.mu);
    for (const auto& [name, key] : shard.keys) out.push_back(key);
  }
  return out;
}

std::shared_ptr<const TransitKey> Keyring::Install(TransitKeyRecord record) {
  auto key = std::make_shared<TransitKey>();
  key->type_ = ParseKeyType(record.type()).value_or(KeyType::kAes256Gcm);
  Shard& shard = ShardOf(record.name());
  absl::MutexLock lock(&shard.mu);
  auto it = shard.keys.find(record.name());
  const TransitKey* previous = it == shard.keys.end() ? nullptr : it->second.get();
  // Commits can finish installing out of order; keep whichever snapshot is newest. A
  // record created at another time is another key of the same name (deleted and created
  // again, perhaps by another node): it replaces the snapshot and shares none of its slots.
  if (previous != nullptr &&
      (previous->record_.create_time().seconds() != record.create_time().seconds() ||
       previous->record_.create_time().nanos() != record.create_time().nanos())) {
    previous = nullptr;
  }
  if (previous != nullptr && previous->record_.generation() > record.generation()) {
    return it->second;
  }
  for (const TransitVersionRecord& v : record.versions()) {
    std::shared_ptr<VersionSlot> slot = previous ? previous->slot(v.version()) : nullptr;
    key->slots_.push_back(slot ? slot : std::make_shared<VersionSlot>(v.version()));
  }
  key->record_ = std::move(record);
  std::shared_ptr<const TransitKey> installed = key;
  shard.keys[installed->name()] = installed;
  return installed;
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Load(absl::string_view name) {
  absl::StatusOr<std::optional<Entry>> entry = storage_->Get(RecordKey(name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound(name);
  TransitKeyRecord record;
  if (!record.ParseFromString((*entry)->value) || record.name() != name ||
      !ParseKeyType(record.type()).has_value()) {
    return absl::DataLossError(
        absl::StrCat("stored record of transit key '", name, "' is corrupt"));
  }
  return Install(std::move(record));
}

absl::Status Keyring::Refresh(absl::string_view name) {
  Shard& shard = ShardOf(name);
  {
    absl::ReaderMutexLock lock(&shard.mu);
    if (!shard.keys.contains(name)) return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const TransitKey>> loaded = Load(name);
  if (loaded.ok()) return absl::OkStatus();
  absl::MutexLock lock(&shard.mu);
  shard.keys.erase(name);
  return absl::IsNotFound(loaded.status()) ? absl::OkStatus() : loaded.status();
}

void Keyring::WatchChanges(ChangeWatcher* watcher) {
  watcher_ = watcher;
  watcher->Subscribe(
      kRecordPrefix,
      [this](const Change& change) {
        Refresh(absl::string_view(change.key).substr(strlen(kRecordPrefix))).IgnoreError();
      },
      [this]() -> absl::Status {
        absl::Status first;
        for (const std::shared_ptr<const TransitKey>& key : Snapshots()) {
          first.Update(Refresh(key->name()));
        }
        return first;
      });
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Get(absl::string_view name) {
  if (barrier_->sealed()) return barrier_->SealedError();
  // Unconfirmed freshness: the stored record decides (and a storage failure refuses).
  if (watcher_ != nullptr && !watcher_->fresh()) {
    if (absl::Status s = ValidateKeyName(name); !s.ok()) return NotFound(name);
    return Load(name);
  }
  {
    Shard& shard = ShardOf(name);
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.keys.find(name);
    if (it != shard.keys.end()) return it->second;
  }
  if (absl::Status s = ValidateKeyName(name); !s.ok()) return NotFound(name);
  return Load(name);
}

absl::StatusOr<std::vector<std::string>> Keyring::List(absl::string_view page_token,
                                                       size_t page_size, std::string* next) {
  if (barrier_->sealed()) return barrier_->SealedError();
  next->clear();
  if (!page_token.empty() && !ValidateKeyName(page_token).ok()) {
    return absl::InvalidArgumentError("page_token: not a token from a previous ListKeys");
  }
  std::string after = page_token.empty() ? "" : RecordKey(page_token);
  absl::StatusOr<std::vector<Entry>> entries = storage_->List(kRecordPrefix, after, page_size + 1);
  if (!entries.ok()) return entries.status();
  std::vector<std::string> names;
  for (const Entry& e : *entries) {
    if (names.size() == page_size) {
      *next = names.back();
      break;
    }
    names.push_back(e.key.substr(strlen(kRecordPrefix)));
  }
  return names;
}

WrappedKeyImport::~WrappedKeyImport() { hsm::CleanseString(&ciphertext); }

absl::StatusOr<TransitVersionRecord> Keyring::NewVersion(const TransitKeyRecord& key,
                                                         uint32_t version, WriteBatch* batch,
                                                         std::vector<std::string>* hsm_labels,
                                                         const WrappedKeyImport* imported) {
  KeyType type = *ParseKeyType(key.type());
  TransitVersionRecord v;
  v.set_version(version);
  *v.mutable_create_time() = TimeUtil::GetCurrentTime();

  if (key.hsm_resident()) {
    // The key and the version's HMAC key are both HSM objects; nothing goes to storage.
    uint8_t suffix[4];
    if (absl::Status s = hsm_->GenerateRandom(absl::MakeSpan(suffix)); !s.ok()) return s;
    std::string label = absl::StrCat("strongroom-transit-", key.name(), "-v", version, "-",
                                     absl::BytesToHexString(absl::string_view(
                                         reinterpret_cast<const char*>(suffix), sizeof(suffix))));
    std::vector<std::string> labels = HsmObjectLabels(label);
    absl::Status s = imported != nullptr ? hsm_->UnwrapAesKey(kImportWrappingLabel, imported->hash,
                                                              imported->ciphertext, labels[0])
                     : IsAead(type)      ? hsm_->GenerateAesKey(labels[0])
                                         : hsm_->GenerateKeyPair(labels[0], HsmKeyPairOf(type));
    if (s.ok()) hsm_labels->push_back(labels[0]);
    if (s.ok()) s = hsm_->GenerateHmacKey(labels[1]);
    if (!s.ok()) return s;
    hsm_labels->push_back(labels[1]);
    if (IsAsymmetric(type)) {
      absl::StatusOr<std::string> der = hsm_->PublicKeyDer(label);
      if (!der.ok()) return der.status();
      v.set_public_key_der(*der);
    }
    v.set_hsm_label(label);
    return v;
  }

  if (imported != nullptr) {
    // The HSM unwraps; the key then passes through here once, to be wrapped by the KEK.
    absl::StatusOr<hsm::SecretData> target =
        hsm_->UnwrapSecret(kImportWrappingLabel, imported->hash, imported->ciphertext);
    if (!target.ok()) return target.status();
    if (std::optional<crypto::AsymmetricType> asym = AsymmetricOf(type)) {
      absl::StatusOr<std::unique_ptr<crypto::PrivateKey>> parsed =
          crypto::PrivateKey::Parse(*asym, *target);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ciphertext: the target key is not a PKCS#8 ", KeyTypeName(type), " private key"));
      }
      absl::StatusOr<std::string> der = (*parsed)->PublicKeyDer();
      if (!der.ok()) return der.status();
      v.set_public_key_der(*der);
    } else if (target->size() != SymmetricKeySize(type)) {
      return absl::InvalidArgumentError(absl::StrCat("ciphertext: the target key is ",
                                                     target->size(), " bytes; ", KeyTypeName(type),
                                                     " keys are ", SymmetricKeySize(type)));
    }
    hsm::SecretData raw(kVersionHmacKeySize + target->size());
    absl::Span<uint8_t> out = raw.MutableSecret();
    if (absl::Status s = hsm_->GenerateRandom(out.subspan(0, kVersionHmacKeySize)); !s.ok()) {
      return s;
    }
    std::copy_n(target->RevealSecret().data(), target->size(), out.data() + kVersionHmacKeySize);
    if (absl::Status s = barrier_->Wrap(MaterialId(key, version), raw, batch); !s.ok()) return s;
    return v;
  }

  // hmac key || key, all from the HSM's RNG (asymmetric keys: OpenSSL, reseeded from it).
  size_t key_size = SymmetricKeySize(type);
  hsm::SecretData random(kVersionHmacKeySize + key_size);
  if (absl::Status s = hsm_->GenerateRandom(random.MutableSecret()); !s.ok()) return s;
  hsm::SecretData raw;
  if (std::optional<crypto::AsymmetricType> asym = AsymmetricOf(type)) {
    RAND_add(random.RevealSecret().data(), random.size(), static_cast<double>(random.size()));
    absl::StatusOr<hsm::SecretData> pkcs8 = crypto::GeneratePrivateKey(*asym);
    if (!pkcs8.ok()) return pkcs8.status();
    absl::StatusOr<std::unique_ptr<crypto::PrivateKey>> parsed =
        crypto::PrivateKey::Parse(*asym, *pkcs8);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<std::string> der = (*parsed)->PublicKeyDer();
    if (!der.ok()) return der.status();
    v.set_public_key_der(*der);
    raw = hsm::SecretData(kVersionHmacKeySize + pkcs8->size());
    std::copy_n(random.RevealSecret().data(), kVersionHmacKeySize, raw.MutableSecret().data());
    std::copy_n(pkcs8->RevealSecret().data(), pkcs8->size(),
                raw.MutableSecret().data() + kVersionHmacKeySize);
  } else {
    raw = std::move(random);
  }
  if (absl::Status s = barrier_->Wrap(MaterialId(key, version), raw, batch); !s.ok()) return s;
  return v;
}

absl::Status Keyring::CheckAutoRotatePeriod(absl::Duration period) const {
  if (period < absl::ZeroDuration() ||
      (period > absl::ZeroDuration() && period < options_.min_auto_rotate_period)) {
    return absl::InvalidArgumentError(
        absl::StrCat("auto_rotate_period: must be 0 (never) or at least ",
                     absl::FormatDuration(options_.min_auto_rotate_period)));
  }
  return absl::OkStatus();
}

void Keyring::DestroyHsmObjects(const std::vector<std::string>& labels) {
  for (const std::string& label : labels) (void)hsm_->DestroyObjects(label);
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Create(const CreateKeyOptions& o) {
  return CreateWith(o, nullptr, false);
}

absl::StatusOr<std::string> Keyring::ImportWrappingKeyDer() {
  if (barrier_->sealed()) return barrier_->SealedError();
  absl::MutexLock lock(&wrapping_key_mu_);
  absl::StatusOr<bool> exists = hsm_->PrivateKeyExists(kImportWrappingLabel);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    absl::Status s =
        hsm_->GenerateUnwrappingKeyPair(kImportWrappingLabel, hsm::KeyPairType::kRsa4096);
    // Another node sharing the token may have made it meanwhile: that one is as good.
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  }
  return hsm_->PublicKeyDer(kImportWrappingLabel);
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Import(const ImportKeyOptions& o,
                                                                  const WrappedKeyImport& wrapped) {
  if (o.key.convergent) {
    return absl::InvalidArgumentError(
        "convergent_encryption: import cannot be used on keys with convergent encryption");
  }
  if (o.key.auto_rotate_period > absl::ZeroDuration() && !o.allow_rotation) {
    return absl::InvalidArgumentError(
        "auto_rotate_period: allow_rotation must be true if auto-rotation is enabled");
  }
  if (o.key.residency == Residency::kHsm && o.key.type != KeyType::kAes256Gcm) {
    return absl::InvalidArgumentError(
        absl::StrCat("residency: imported HSM-resident keys can be aes256-gcm only, not ",
                     KeyTypeName(o.key.type), " (import it with residency wrapped)"));
  }
  if (absl::Status s = ValidateKeyName(o.key.name); !s.ok()) return s;
  if (barrier_->sealed()) return barrier_->SealedError();
  // Refuse an existing name before unwrapping anything (the commit checks again).
  absl::StatusOr<std::optional<Entry>> entry = storage_->Get(RecordKey(o.key.name));
  if (!entry.ok()) return entry.status();
  if (entry->has_value()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "transit key '", o.key.name,
        "' already exists: import cannot replace a key; use import_version to add a version "
        "to an imported key"));
  }
  // The wrapping key exists before anyone can have wrapped for it; a missing one means the
  // input cannot be for this server.
  absl::StatusOr<bool> has_wrapping = hsm_->PrivateKeyExists(kImportWrappingLabel);
  if (!has_wrapping.ok()) return has_wrapping.status();
  if (!*has_wrapping) {
    return absl::FailedPreconditionError(
        "no import wrapping key yet: read wrapping_key first and wrap the key for it");
  }
  return CreateWith(o.key, &wrapped, o.allow_rotation);
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::ImportVersion(
    absl::string_view name, const WrappedKeyImport& wrapped) {
  absl::StatusOr<std::shared_ptr<const TransitKey>> key = Get(name);
  if (!key.ok()) return key.status();
  if (!(*key)->record().imported()) {
    return absl::FailedPreconditionError(
        absl::StrCat("transit key '", name,
                     "' was not imported: import_version can only add "
                     "versions to imported keys"));
  }
  return RotateFrom(name, std::nullopt, &wrapped);
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::CreateWith(
    const CreateKeyOptions& o, const WrappedKeyImport* imported, bool allow_rotation) {
  if (absl::Status s = ValidateKeyName(o.name); !s.ok()) return s;
  if (barrier_->sealed()) return barrier_->SealedError();
  if (o.residency == Residency::kHsm && !SupportsHsmResidency(o.type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "residency: HSM-resident keys can be aes256-gcm, ecdsa-p256/p384 or rsa-*, not ",
        KeyTypeName(o.type)));
  }
  if (o.derived && !IsAead(o.type)) {
    return absl::InvalidArgumentError("derived: only encryption keys can be derived");
  }
  if (o.derived && o.residency == Residency::kHsm) {
    return absl::InvalidArgumentError(
        "derived: HSM-resident keys cannot be derived (HKDF needs the key bytes)");
  }
  if (o.convergent && !o.derived) {
    return absl::InvalidArgumentError("convergent: requires derived");
  }
  if (absl::Status s = CheckAutoRotatePeriod(o.auto_rotate_period); !s.ok()) return s;
  TransitKeyRecord record;
  record.set_name(o.name);
  record.set_type(std::string(KeyTypeName(o.type)));
  record.set_hsm_resident(o.residency == Residency::kHsm);
  record.set_derived(o.derived);
  record.set_convergent(o.convergent);
  record.set_auto_rotate_seconds(absl::ToInt64Seconds(o.auto_rotate_period));
  record.set_imported(imported != nullptr);
  record.set_allow_rotation(imported != nullptr && allow_rotation);
  record.set_generation(1);
  record.set_latest_version(1);
  record.set_min_decryption_version(1);
  record.set_min_available_version(1);
  *record.mutable_create_time() = TimeUtil::GetCurrentTime();
  *record.mutable_update_time() = record.create_time();
  WriteBatch batch;
  std::vector<std::string> labels;
  absl::StatusOr<TransitVersionRecord> v1 = NewVersion(record, 1, &batch, &labels, imported);
  if (!v1.ok()) {
    DestroyHsmObjects(labels);
    return v1.status();
  }
  *record.add_versions() = *std::move(v1);
  batch.Put(RecordKey(o.name), record.SerializeAsString(), WriteBatch::kMustNotExist);
  absl::Status s = storage_->Commit(batch);
  if (!s.ok()) {
    DestroyHsmObjects(labels);
    if (absl::IsAborted(s)) {
      return absl::AlreadyExistsError(absl::StrCat("transit key '", o.name, "' already exists"));
    }
    return s;
  }
  return Install(std::move(record));
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Mutate(absl::string_view name,
                                                                  const Mutation& mutate) {
  if (barrier_->sealed()) return barrier_->SealedError();
  if (absl::Status s = ValidateKeyName(name); !s.ok()) return NotFound(name);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::optional<Entry>> entry = storage_->Get(RecordKey(name));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) return NotFound(name);
    TransitKeyRecord record;
    if (!record.ParseFromString((*entry)->value)) {
      return absl::DataLossError(
          absl::StrCat("stored record of transit key '", name, "' is corrupt"));
    }
    WriteBatch batch;
    if (absl::Status s = mutate(&record, &batch); !s.ok()) return s;
    *record.mutable_update_time() = TimeUtil::GetCurrentTime();
    record.set_generation(record.generation() + 1);
    batch.Put(RecordKey(name), record.SerializeAsString(), (*entry)->revision);
    absl::Status s = storage_->Commit(batch);
    if (absl::IsAborted(s) && attempt + 1 < kMutateAttempts) {
      CasBackOff(attempt);
      continue;
    }
    if (!s.ok()) return s;
    return Install(std::move(record));
  }
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Rotate(absl::string_view name) {
  return RotateFrom(name, std::nullopt);
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::RotateFrom(
    absl::string_view name, std::optional<uint32_t> from_latest, const WrappedKeyImport* imported,
    const LeaseFence* lease) {
  std::vector<std::string> labels;   // HSM objects of the current attempt
  std::vector<std::string> orphans;  // HSM objects of attempts that did not commit
  auto key = Mutate(name, [&](TransitKeyRecord* record, WriteBatch* batch) -> absl::Status {
    orphans.insert(orphans.end(), labels.begin(), labels.end());
    labels.clear();
    if (from_latest.has_value() && record->latest_version() != *from_latest) {
      return absl::CancelledError(absl::StrCat("transit key '", name, "' was already rotated"));
    }
    if (imported == nullptr && record->imported() && !record->allow_rotation()) {
      return absl::FailedPreconditionError(
          absl::StrCat("imported key '", name,
                       "' cannot be rotated here (allow_rotation is false): use import_version"));
    }
    uint32_t next = record->latest_version() + 1;
    absl::StatusOr<TransitVersionRecord> v = NewVersion(*record, next, batch, &labels, imported);
    if (!v.ok()) return v.status();
    *record->add_versions() = *std::move(v);
    record->set_latest_version(next);
    if (lease != nullptr) batch->RequireLease(*lease);
    return absl::OkStatus();
  });
  if (!key.ok()) orphans.insert(orphans.end(), labels.begin(), labels.end());
  DestroyHsmObjects(orphans);
  return key;
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::UpdateConfig(absl::string_view name,
                                                                        const KeyConfigUpdate& u) {
  return Mutate(name, [&](TransitKeyRecord* r, WriteBatch*) -> absl::Status {
    uint32_t min_dec = u.min_decryption_version.value_or(r->min_decryption_version());
    uint32_t min_enc = u.min_encryption_version.value_or(r->min_encryption_version());
    if (min_dec < r->min_available_version() || min_dec > r->latest_version()) {
      return absl::InvalidArgumentError(
          absl::StrCat("min_decryption_version: must be between ", r->min_available_version(),
                       " (min_available_version) and ", r->latest_version(), " (latest)"));
    }
    if (min_enc != 0 && (min_enc < min_dec || min_enc > r->latest_version())) {
      return absl::InvalidArgumentError(
          absl::StrCat("min_encryption_version: must be 0 (latest) or between ", min_dec,
                       " (min_decryption_version) and ", r->latest_version(), " (latest)"));
    }
    if (u.auto_rotate_period.has_value()) {
      if (absl::Status s = CheckAutoRotatePeriod(*u.auto_rotate_period); !s.ok()) return s;
      if (*u.auto_rotate_period > absl::ZeroDuration() && r->imported() && !r->allow_rotation()) {
        return absl::InvalidArgumentError(
            "auto_rotate_period: this imported key does not allow rotation");
      }
      r->set_auto_rotate_seconds(absl::ToInt64Seconds(*u.auto_rotate_period));
    }
    r->set_min_decryption_version(min_dec);
    r->set_min_encryption_version(min_enc);
    if (u.deletion_allowed.has_value()) r->set_deletion_allowed(*u.deletion_allowed);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::shared_ptr<const TransitKey>> Keyring::Trim(absl::string_view name,
                                                                uint32_t min_available) {
  std::vector<std::string> trimmed_labels;
  auto key = Mutate(name, [&](TransitKeyRecord* r, WriteBatch* batch) -> absl::Status {
    trimmed_labels.clear();
    uint32_t limit = r->min_decryption_version();
    if (r->min_encryption_version() != 0) limit = std::min(limit, r->min_encryption_version());
    if (min_available < r->min_available_version() || min_available > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("min_available_version: must be between ", r->min_available_version(),
                       " (current; trimmed versions cannot come back) and ", limit,
                       " (min_decryption_version and min_encryption_version)"));
    }
    TransitKeyRecord kept = *r;
    kept.clear_versions();
    for (const TransitVersionRecord& v : r->versions()) {
      if (v.version() >= min_available) {
        *kept.add_versions() = v;
        continue;
      }
      if (v.hsm_label().empty()) {
        barrier_->Forget(MaterialId(*r, v.version()), batch);
      } else {
        for (std::string& l : HsmObjectLabels(v.hsm_label())) trimmed_labels.push_back(l);
      }
    }
    kept.set_min_available_version(min_available);
    *r = std::move(kept);
    return absl::OkStatus();
  });
  if (key.ok()) DestroyHsmObjects(trimmed_labels);
  return key;
}

absl::Status Keyring::Delete(absl::string_view name) {
  if (barrier_->sealed()) return barrier_->SealedError();
  if (absl::Status s = ValidateKeyName(name); !s.ok()) return NotFound(name);
  absl::StatusOr<std::optional<Entry>> entry = storage_->Get(RecordKey(name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return NotFound(name);
  TransitKeyRecord r;
  if (!r.ParseFromString((*entry)->value)) {
    return absl::DataLossError(
        absl::StrCat("stored record of transit key '", name, "' is corrupt"));
  }
  if (!r.deletion_allowed()) {
    return absl::FailedPreconditionError(
        absl::StrCat("transit key '", name, "' cannot be deleted: set deletion_allowed first"));
  }
  WriteBatch batch;
  batch.Delete(RecordKey(name), (*entry)->revision);
  std::vector<std::string> labels;
  for (const TransitVersionRecord& v : r.versions()) {
    if (v.hsm_label().empty()) {
      barrier_->Forget(MaterialId(r, v.version()), &batch);
    } else {
      for (std::string& l : HsmObjectLabels(v.hsm_label())) labels.push_back(l);
    }
  }
  absl::Status s = storage_->Commit(batch);
  if (absl::IsAborted(s)) {
    return absl::AbortedError(absl::StrCat("transit key '", name, "' changed; try again"));
  }
  if (!s.ok()) return s;
  {
    Shard& shard = ShardOf(name);
    absl::MutexLock lock(&shard.mu);
    shard.keys.erase(name);
  }
  DestroyHsmObjects(labels);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<const VersionMaterial>> Keyring::LoadMaterial(const TransitKey& key,
                                                                             uint32_t version) {
  const TransitVersionRecord* v = key.version_record(version);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat("version ", version, " is not available"));
  auto m = std::make_unique<VersionMaterial>();
  if (key.record().hsm_resident()) {
    std::vector<std::string> labels = HsmObjectLabels(v->hsm_label());
    m->hsm_label = labels[0];
    m->hsm_hmac_label = labels[1];
  } else {
    absl::StatusOr<std::shared_ptr<const hsm::SecretData>> raw =
        barrier_->Unwrap(MaterialId(key.record(), version));
    if (!raw.ok()) return raw.status();
    m->raw = *std::move(raw);
    absl::Span<const uint8_t> bytes = m->raw->RevealSecret();
    if (bytes.size() < kVersionHmacKeySize) {
      return absl::DataLossError(
          absl::StrCat("material of '", key.name(), "' v", version, " is short"));
    }
    m->hmac_key = bytes.subspan(0, kVersionHmacKeySize);
    m->key = bytes.subspan(kVersionHmacKeySize);
  }
  if (std::optional<crypto::AsymmetricType> asym = AsymmetricOf(key.type())) {
    absl::StatusOr<std::unique_ptr<crypto::PublicKey>> pub =
        crypto::PublicKey::ParseDer(*asym, v->public_key_der());
    if (!pub.ok()) return pub.status();
    m->public_key = *std::move(pub);
    if (!key.record().hsm_resident()) {
      absl::StatusOr<std::unique_ptr<crypto::PrivateKey>> priv =
          crypto::PrivateKey::Parse(*asym, hsm::SecretData::Copy(m->key));
      if (!priv.ok()) return priv.status();
      m->private_key = *std::move(priv);
    }
  } else if (!key.record().hsm_resident() && m->key.size() != SymmetricKeySize(key.type())) {
    return absl::DataLossError(
        absl::StrCat("material of '", key.name(), "' v", version, " has the wrong size"));
  }
  return m;
}

absl::StatusOr<const VersionMaterial*> Keyring::Material(const TransitKey& key, uint32_t version) {
  std::shared_ptr<VersionSlot> slot = key.slot(version);
  if (slot == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("version ", version, " of '", key.name(), "' is not available"));
  }
  if (const VersionMaterial* m = slot->material_.load(std::memory_order_acquire)) return m;
  absl::MutexLock lock(&slot->load_mu_);
  if (const VersionMaterial* m = slot->material_.load(std::memory_order_acquire)) return m;
  absl::StatusOr<std::unique_ptr<const VersionMaterial>> loaded = LoadMaterial(key, version);
  if (!loaded.ok()) return loaded.status();
  slot->owned_material_ = *std::move(loaded);
  slot->material_.store(slot->owned_material_.get(), std::memory_order_release);
  return slot->owned_material_.get();
}

absl::Status Keyring::CountEncryptions(const TransitKey& key, uint32_t version, uint64_t count) {
  std::shared_ptr<VersionSlot> slot = key.slot(version);
  if (slot == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("version ", version, " of '", key.name(), "' is not available"));
  }
  uint64_t end = slot->used_.fetch_add(count, std::memory_order_relaxed) + count;
  if (end <= slot->reserved_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock lock(&slot->reserve_mu_);
  while (end > slot->reserved_.load(std::memory_order_acquire)) {
    uint64_t needed = end - slot->reserved_.load();
    uint64_t granted = 0;
    auto reserved = Mutate(key.name(), [&](TransitKeyRecord* r, WriteBatch*) -> absl::Status {
      for (TransitVersionRecord& v : *r->mutable_versions()) {
        if (v.version() != version) continue;
        uint64_t stored = v.encryptions_reserved();
        uint64_t left = stored < options_.max_encryptions_per_version
                            ? options_.max_encryptions_per_version - stored
                            : 0;
        granted = std::min(left, std::max(options_.reservation_block, needed));
        if (granted < needed) {
          return absl::ResourceExhaustedError(
              absl::StrCat("version ", version, " of '", key.name(), "' reached its limit of ",
                           options_.max_encryptions_per_version, " encryptions"));
        }
        v.set_encryptions_reserved(stored + granted);
        return absl::OkStatus();
      }
      return absl::NotFoundError(absl::StrCat("version ", version, " was trimmed"));
    });
    if (!reserved.ok()) return reserved.status();
    slot->reserved_.fetch_add(granted, std::memory_order_release);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::shared_ptr<const TransitKey>, uint32_t>> Keyring::EncryptionVersion(
    std::shared_ptr<const TransitKey> key, uint32_t requested, uint64_t count) {
  const TransitKeyRecord& r = key->record();
  if (requested != 0) {
    if (requested > r.latest_version() || requested < r.min_available_version()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key_version: ", requested, " is not an available version of '", key->name(), "'"));
    }
    if (r.min_encryption_version() != 0 && requested < r.min_encryption_version()) {
      return absl::FailedPreconditionError(absl::StrCat("key_version: ", requested,
                                                        " is below min_encryption_version ",
                                                        r.min_encryption_version()));
    }
    absl::Status s = CountEncryptions(*key, requested, count);
    if (absl::IsResourceExhausted(s)) return absl::FailedPreconditionError(s.message());
    if (!s.ok()) return s;
    return std::make_pair(std::move(key), requested);
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    uint32_t latest = key->latest_version();
    absl::Status s = CountEncryptions(*key, latest, count);
    if (s.ok()) return std::make_pair(std::move(key), latest);
    if (!absl::IsResourceExhausted(s)) return s;
    // The latest version is spent: rotate unless another writer (thread or node) already
    // did, decided by compare-and-set on the latest version, and use the new one.
    absl::StatusOr<std::shared_ptr<const TransitKey>> fresh = RotateFrom(key->name(), latest);
    if (absl::IsCancelled(fresh.status())) fresh = Load(key->name());
    if (!fresh.ok()) return fresh.status();
    key = *std::move(fresh);
  }
  return absl::UnavailableError(absl::StrCat("could not rotate spent key '", key->name(), "'"));
}

absl::StatusOr<int> Keyring::RotateDueKeys(absl::Time now, const LeaseFence& lease) {
  if (barrier_->sealed()) return 0;
  int rotated = 0;
  std::string after;
  while (true) {
    absl::StatusOr<std::vector<Entry>> page = storage_->List(kRecordPrefix, after, 500);
    if (!page.ok()) return page.status();
    for (const Entry& e : *page) {
      TransitKeyRecord r;
      if (!r.ParseFromString(e.value) || r.auto_rotate_seconds() <= 0 || r.versions().empty()) {
        continue;
      }
      if (CreateTime(*r.versions().rbegin()) + absl::Seconds(r.auto_rotate_seconds()) > now) {
        continue;
      }
      absl::StatusOr<std::shared_ptr<const TransitKey>> key =
          RotateFrom(r.name(), r.latest_version(), /*imported=*/nullptr, &lease);
      if (key.ok()) {
        ++rotated;
      } else if (!absl::IsCancelled(key.status())) {
        return key.status();
      }
    }
    if (page->size() < 500) break;
    after = page->back().key;
  }
  return rotated;
}

}  // namespace strongroom::kms
