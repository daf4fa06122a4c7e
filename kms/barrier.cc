#include "kms/barrier.h"

#include <algorithm>

#include <google/protobuf/util/time_util.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kms/records.pb.h"

namespace strongroom::kms {
namespace {

constexpr char kKekStateKey[] = "sys/kek";
constexpr char kRecordPrefix[] = "barrier/keys/";
constexpr size_t kIvBytes = 12;
constexpr size_t kRotateAttempts = 3;

void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// AAD binding a wrapped record to its identity and KEK: length-prefixed fields, so no
// two distinct identities share an encoding.
std::string BindingAad(const KeyMaterialId& id, uint32_t kek_version) {
  std::string aad = "strongroom/barrier/v1";
  AppendU32(&aad, id.name.size());
  aad += id.name;
  AppendU32(&aad, id.version);
  AppendU32(&aad, id.type.size());
  aad += id.type;
  AppendU32(&aad, kek_version);
  return aad;
}

absl::Status ValidateId(const KeyMaterialId& id) {
  if (id.name.empty() || id.name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("key name must be non-empty and contain no '/': '", id.name, "'"));
  }
  if (id.version == 0) return absl::InvalidArgumentError("key version must be >= 1");
  if (id.type.empty()) return absl::InvalidArgumentError("key type must be set");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::pair<KekState, int64_t>>> ReadKekState(Storage* storage) {
  absl::StatusOr<std::optional<Entry>> entry = storage->Get(kKekStateKey);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::nullopt;
  KekState state;
  if (!state.ParseFromString((*entry)->value) || state.current_version() == 0) {
    return absl::DataLossError(absl::StrCat("storage record ", kKekStateKey, " is corrupt"));
  }
  return std::make_pair(state, (*entry)->revision);
}

std::string KekStateValue(uint32_t version) {
  KekState state;
  state.set_current_version(version);
  *state.mutable_rotate_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return state.SerializeAsString();
}

}  // namespace

Barrier::Barrier(hsm::Hsm* hsm, Storage* storage) : hsm_(hsm), storage_(storage) {}

std::string Barrier::RecordKey(absl::string_view name, uint32_t version) {
  return absl::StrFormat("%s%s/%010u", kRecordPrefix, name, version);
}

std::string Barrier::KekLabel(uint32_t kek_version) {
  return absl::StrCat("strongroom-kek-", kek_version);
}

absl::Status Barrier::Unseal() {
  {
    absl::MutexLock lock(&mu_);
    if (!sealed_) return absl::OkStatus();
  }
  if (absl::Status s = hsm_->Login(); !s.ok()) return s;
  auto state = ReadKekState(storage_);
  if (!state.ok()) return state.status();
  uint32_t version;
  if (state->has_value()) {
    version = (*state)->first.current_version();
    absl::StatusOr<bool> present = hsm_->SecretKeyExists(KekLabel(version));
    if (!present.ok()) return present.status();
    if (!*present) {
      return absl::FailedPreconditionError(absl::StrCat(
          "storage records KEK '", KekLabel(version), "' but token '", hsm_->token_info().label,
          "' has no such key: is this the right HSM token for this database?"));
    }
  } else {
    // First start on an empty storage: KEK 1. A KEK left by an interrupted first start is
    // reused (it never wrapped anything that was committed).
    version = 1;
    absl::StatusOr<bool> present = hsm_->SecretKeyExists(KekLabel(version));
    if (!present.ok()) return present.status();
    if (!*present) {
      if (absl::Status s = hsm_->GenerateAesKey(KekLabel(version)); !s.ok()) return s;
    }
    WriteBatch batch;
    batch.Put(kKekStateKey, KekStateValue(version), WriteBatch::kMustNotExist);
    absl::Status s = storage_->Commit(batch);
    if (absl::IsAborted(s)) return Unseal();  // Another node initialised it first.
    if (!s.ok()) return s;
  }
  absl::MutexLock lock(&mu_);
  sealed_ = false;
  sealed_flag_.store(false, std::memory_order_release);
  sealed_reason_.clear();
  kek_version_ = version;
  return absl::OkStatus();
}

void Barrier::Seal(absl::string_view reason) {
  {
    absl::MutexLock lock(&mu_);
    sealed_ = true;
    sealed_flag_.store(true, std::memory_order_release);
    sealed_reason_ = std::string(reason);
    kek_version_ = 0;
    cache_.clear();  // Each SecretData is cleansed when its last in-flight user drops it.
  }
  {
    absl::MutexLock lock(&listeners_mu_);
    for (const auto& listener : seal_listeners_) listener();
  }
  hsm_->Logout();
}

void Barrier::OnSeal(std::function<void()> listener) {
  absl::MutexLock lock(&listeners_mu_);
  seal_listeners_.push_back(std::move(listener));
}

Barrier::State Barrier::state() const {
  absl::MutexLock lock(&mu_);
  return {sealed_, sealed_reason_, kek_version_};
}

absl::Status Barrier::RequireUnsealed() const {
  absl::ReaderMutexLock lock(&mu_);
  if (sealed_) return absl::UnavailableError(absl::StrCat("sealed: ", sealed_reason_));
  return absl::OkStatus();
}

absl::Status Barrier::SealedError() const {
  absl::ReaderMutexLock lock(&mu_);
  return absl::UnavailableError(
      absl::StrCat("sealed: ", sealed_ ? sealed_reason_ : "unsealed meanwhile; retry"));
}

absl::StatusOr<std::string> Barrier::WrapRecord(const KeyMaterialId& id,
                                                const hsm::SecretData& material,
                                                uint32_t kek_version) {
  std::vector<uint8_t> iv(kIvBytes);
  if (absl::Status s = hsm_->GenerateRandom(absl::MakeSpan(iv)); !s.ok()) return s;
  absl::StatusOr<std::string> ct = hsm_->AesGcmEncrypt(
      KekLabel(kek_version), iv, BindingAad(id, kek_version), material.RevealSecret());
  if (!ct.ok()) return ct.status();
  WrappedKeyRecord record;
  record.set_name(id.name);
  record.set_version(id.version);
  record.set_type(id.type);
  record.set_kek_version(kek_version);
  record.set_iv(iv.data(), iv.size());
  record.set_ciphertext(*std::move(ct));
  *record.mutable_create_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return record.SerializeAsString();
}

absl::StatusOr<hsm::SecretData> Barrier::UnwrapRecord(const KeyMaterialId& id,
                                                      absl::string_view value) {
  auto corrupt = [&id] {
    return absl::DataLossError(absl::StrCat("stored key material of '", id.name, "' version ",
                                            id.version,
                                            " does not unwrap: the record was altered or moved"));
  };
  WrappedKeyRecord record;
  if (!record.ParseFromArray(value.data(), value.size()) || record.kek_version() == 0 ||
      record.iv().size() != kIvBytes) {
    return corrupt();
  }
  // The AAD is built from the identity asked for, not from the record's own fields.
  absl::StatusOr<hsm::SecretData> material = hsm_->AesGcmDecrypt(
      KekLabel(record.kek_version()),
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(record.iv().data()), kIvBytes),
      BindingAad(id, record.kek_version()), record.ciphertext());
  if (absl::IsInvalidArgument(material.status()) || absl::IsNotFound(material.status())) {
    return corrupt();
  }
  return material;
}

absl::Status Barrier::ReloadKek() {
  auto state = ReadKekState(storage_);
  if (!state.ok()) return state.status();
  if (!state->has_value()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (!sealed_) kek_version_ = std::max(kek_version_, (*state)->first.current_version());
  return absl::OkStatus();
}

void Barrier::WatchChanges(ChangeWatcher* watcher) {
  watcher_ = watcher;
  watcher->Subscribe(
      kKekStateKey, [this](const Change&) { ReloadKek().IgnoreError(); },
      [this] { return ReloadKek(); });
  // A record rewritten (a KEK rotation) holds the same material; only deletions matter.
  // Material cached here lives as long as the process, so a resync drops it all.
  watcher->Subscribe(
      kRecordPrefix,
      [this](const Change& change) {
        if (change.revision != 0) return;
        absl::MutexLock lock(&mu_);
        cache_.erase(change.key);
      },
      [this] {
        absl::MutexLock lock(&mu_);
        cache_.clear();
        return absl::OkStatus();
      });
}

absl::Status Barrier::Wrap(const KeyMaterialId& id, const hsm::SecretData& material,
                           WriteBatch* batch) {
  if (absl::Status s = ValidateId(id); !s.ok()) return s;
  if (watcher_ != nullptr && !watcher_->fresh()) {
    if (absl::Status s = ReloadKek(); !s.ok()) return s;
  }
  uint32_t kek_version;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (sealed_) return absl::UnavailableError(absl::StrCat("sealed: ", sealed_reason_));
    kek_version = kek_version_;
  }
  absl::StatusOr<std::string> record = WrapRecord(id, material, kek_version);
  if (!record.ok()) return record.status();
  batch->Put(RecordKey(id.name, id.version), *record, WriteBatch::kMustNotExist);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const hsm::SecretData>> Barrier::Unwrap(const KeyMaterialId& id) {
  if (absl::Status s = ValidateId(id); !s.ok()) return s;
  std::string key = RecordKey(id.name, id.version);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (sealed_) return absl::UnavailableError(absl::StrCat("sealed: ", sealed_reason_));
    auto it = cache_.find(key);
    if (it != cache_.end() && (watcher_ == nullptr || watcher_->fresh())) return it->second;
  }
  absl::StatusOr<std::optional<Entry>> entry = storage_->Get(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no key material for '", id.name, "' version ", id.version));
  }
  absl::StatusOr<hsm::SecretData> material = UnwrapRecord(id, (*entry)->value);
  if (!material.ok()) return material.status();
  auto shared = std::make_shared<const hsm::SecretData>(*std::move(material));
  absl::MutexLock lock(&mu_);
  if (sealed_) return absl::UnavailableError(absl::StrCat("sealed: ", sealed_reason_));
  cache_[key] = shared;
  return shared;
}

void Barrier::Forget(const KeyMaterialId& id, WriteBatch* batch) {
  std::string key = RecordKey(id.name, id.version);
  batch->Delete(key);
  absl::MutexLock lock(&mu_);
  cache_.erase(key);
}

absl::StatusOr<uint32_t> Barrier::RotateKek() {
  absl::MutexLock rotate_lock(&rotate_mu_);
  for (size_t attempt = 0;; ++attempt) {
    if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
    auto state = ReadKekState(storage_);
    if (!state.ok()) return state.status();
    if (!state->has_value()) return absl::FailedPreconditionError("no KEK state in storage");
    uint32_t old_version = (*state)->first.current_version();
    uint32_t new_version = old_version + 1;
    // A KEK left by an interrupted rotation wrapped nothing that was committed: reuse it.
    absl::StatusOr<bool> present = hsm_->SecretKeyExists(KekLabel(new_version));
    if (!present.ok()) return present.status();
    if (!*present) {
      if (absl::Status s = hsm_->GenerateAesKey(KekLabel(new_version)); !s.ok()) return s;
    }

    WriteBatch batch;
    std::string after;
    while (true) {
      absl::StatusOr<std::vector<Entry>> page = storage_->List(kRecordPrefix, after, 1000);
      if (!page.ok()) return page.status();
      for (const Entry& entry : *page) {
        // barrier/keys/<name>/<version>
        std::vector<std::string> parts =
            absl::StrSplit(absl::string_view(entry.key).substr(strlen(kRecordPrefix)), '/');
        WrappedKeyRecord record;
        uint32_t version = 0;
        if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &version) ||
            !record.ParseFromString(entry.value)) {
          return absl::DataLossError(absl::StrCat("storage record ", entry.key, " is corrupt"));
        }
        KeyMaterialId id{parts[0], version, record.type()};
        absl::StatusOr<hsm::SecretData> material = UnwrapRecord(id, entry.value);
        if (!material.ok()) return material.status();
        absl::StatusOr<std::string> rewrapped = WrapRecord(id, *material, new_version);
        if (!rewrapped.ok()) return rewrapped.status();
        batch.Put(entry.key, *rewrapped, entry.revision);
      }
      if (page->size() < 1000) break;
      after = page->back().key;
    }
    batch.Put(kKekStateKey, KekStateValue(new_version), (*state)->second);
    absl::Status s = storage_->Commit(batch);
    if (absl::IsAborted(s) && attempt + 1 < kRotateAttempts) continue;
    if (!s.ok()) return s;
    absl::MutexLock lock(&mu_);
    if (!sealed_) kek_version_ = new_version;
    return new_version;
  }
}

}  // namespace strongroom::kms
