#include "kms/barrier.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/ck_rv.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/records.pb.h"
#include "kms/sqlite_storage.h"

namespace strongroom::kms {
namespace {

using hsm::SecretData;
using hsm::testing::SoftHsmToken;
using ::testing::HasSubstr;
using ::testing::Not;

class BarrierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A fresh token and database per test: KEK numbering starts from scratch.
    static int tokens = 0;
    auto token = SoftHsmToken::Create(absl::StrCat("barrier-", ++tokens));
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = *std::move(token);
    auto hsm = hsm::Hsm::Open(token_.Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = *std::move(hsm);
    auto storage = SqliteStorage::Open(token_.dir + "/strongroom.db");
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<Barrier>(hsm_.get(), storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
  }

  // Wraps and commits `material` for `id`.
  void Store(const KeyMaterialId& id, const std::string& material) {
    WriteBatch batch;
    ASSERT_TRUE(barrier_->Wrap(id, SecretData::Copy(material), &batch).ok());
    ASSERT_TRUE(storage_->Commit(batch).ok());
  }
  // A barrier with an empty cache over the same HSM and storage.
  std::unique_ptr<Barrier> Fresh() {
    auto b = std::make_unique<Barrier>(hsm_.get(), storage_.get());
    EXPECT_TRUE(b->Unseal().ok());
    return b;
  }
  std::string Raw(const std::string& key) { return (*storage_->Get(key))->value; }
  void Overwrite(const std::string& key, const std::string& value) {
    WriteBatch batch;
    batch.Put(key, value);
    ASSERT_TRUE(storage_->Commit(batch).ok());
  }

  SoftHsmToken token_;
  std::unique_ptr<hsm::Hsm> hsm_;
  std::unique_ptr<SqliteStorage> storage_;
  std::unique_ptr<Barrier> barrier_;
};

TEST_F(BarrierTest, FirstUnsealCreatesANonExtractableKek) {
  EXPECT_FALSE(barrier_->state().sealed);
  EXPECT_EQ(barrier_->state().kek_version, 1u);
  std::string view = token_.DescribeObjects("strongroom-kek-1");
  EXPECT_THAT(view, HasSubstr("Secret Key Object; AES length 32"));
  EXPECT_THAT(view, HasSubstr("sensitive"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
}

TEST_F(BarrierTest, WrapsAndUnwrapsAndNeverStoresPlaintext) {
  const std::string material = "0123456789abcdef0123456789abcdef";
  Store({"payments", 1, "aes256-gcm"}, material);
  std::string raw = Raw(Barrier::RecordKey("payments", 1));
  EXPECT_EQ(raw.find(material), std::string::npos);
  auto got = Fresh()->Unwrap({"payments", 1, "aes256-gcm"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->RevealSecretAsString(), material);
  // Cached: the same object comes back.
  auto again = barrier_->Unwrap({"payments", 1, "aes256-gcm"});
  auto first = barrier_->Unwrap({"payments", 1, "aes256-gcm"});
  EXPECT_EQ(again->get(), first->get());
  EXPECT_EQ(barrier_->Unwrap({"payments", 2, "aes256-gcm"}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BarrierTest, SwappedRecordsDoNotUnwrap) {
  Store({"alpha", 1, "aes256-gcm"}, std::string(32, 'A'));
  Store({"beta", 1, "aes256-gcm"}, std::string(32, 'B'));
  Store({"alpha", 2, "aes256-gcm"}, std::string(32, 'C'));
  std::string a1 = Raw(Barrier::RecordKey("alpha", 1));
  std::string b1 = Raw(Barrier::RecordKey("beta", 1));
  std::string a2 = Raw(Barrier::RecordKey("alpha", 2));
  // Swap between keys, and between versions of one key.
  Overwrite(Barrier::RecordKey("alpha", 1), b1);
  Overwrite(Barrier::RecordKey("beta", 1), a1);
  Overwrite(Barrier::RecordKey("alpha", 2), a1);
  auto fresh = Fresh();
  for (const KeyMaterialId& id :
       {KeyMaterialId{"alpha", 1, "aes256-gcm"}, KeyMaterialId{"beta", 1, "aes256-gcm"},
        KeyMaterialId{"alpha", 2, "aes256-gcm"}}) {
    auto got = fresh->Unwrap(id);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << id.name << id.version;
    EXPECT_THAT(got.status().message(), HasSubstr("altered or moved"));
  }
  // Asking for another type than the record was wrapped as fails too.
  Overwrite(Barrier::RecordKey("alpha", 2), a2);
  EXPECT_EQ(fresh->Unwrap({"alpha", 2, "hmac"}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(fresh->Unwrap({"alpha", 2, "aes256-gcm"}).ok());
}

TEST_F(BarrierTest, FlippedBitsDoNotUnwrap) {
  Store({"gamma", 1, "aes256-gcm"}, std::string(32, 'G'));
  std::string good = Raw(Barrier::RecordKey("gamma", 1));
  WrappedKeyRecord record;
  ASSERT_TRUE(record.ParseFromString(good));
  for (size_t i = 0; i < record.ciphertext().size(); ++i) {
    WrappedKeyRecord bad = record;
    (*bad.mutable_ciphertext())[i] ^= 0x01;
    Overwrite(Barrier::RecordKey("gamma", 1), bad.SerializeAsString());
    EXPECT_EQ(Fresh()->Unwrap({"gamma", 1, "aes256-gcm"}).status().code(),
              absl::StatusCode::kDataLoss)
        << "byte " << i;
  }
}

// A failing HSM is not a tampered record: CKR_GENERAL_ERROR (which SoftHSM also answers
// for a bad tag) and CKR_FUNCTION_FAILED from a device that fails are UNAVAILABLE, and a
// fault that clears by itself costs nothing.
TEST_F(BarrierTest, HsmFaultsWhileUnwrappingAreUnavailableNotDataLoss) {
  Store({"eta", 1, "aes256-gcm"}, std::string(32, 'E'));
  for (CK_RV rv : {CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED, CKR_DEVICE_ERROR}) {
    hsm_->faults().Fail("C_Decrypt", rv);
    auto got = Fresh()->Unwrap({"eta", 1, "aes256-gcm"});
    hsm_->faults().Clear();
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable)
        << hsm::CkRvName(rv) << ": " << got.status();
    EXPECT_THAT(got.status().message(), Not(HasSubstr("altered")));
    EXPECT_THAT(got.status().message(), HasSubstr(hsm::CkRvName(rv)));

    hsm_->faults().Fail("C_Decrypt", rv, 1);  // a passing fault
    auto retried = Fresh()->Unwrap({"eta", 1, "aes256-gcm"});
    hsm_->faults().Clear();
    ASSERT_TRUE(retried.ok()) << hsm::CkRvName(rv) << ": " << retried.status();
    EXPECT_EQ((*retried)->RevealSecretAsString(), std::string(32, 'E'));
  }
}

TEST_F(BarrierTest, SealDropsKeysUntilUnsealed) {
  Store({"delta", 1, "aes256-gcm"}, std::string(32, 'D'));
  auto held = barrier_->Unwrap({"delta", 1, "aes256-gcm"});
  ASSERT_TRUE(held.ok());
  barrier_->Seal("sealed by operator");
  EXPECT_TRUE(barrier_->state().sealed);
  EXPECT_EQ(barrier_->state().sealed_reason, "sealed by operator");
  auto got = barrier_->Unwrap({"delta", 1, "aes256-gcm"});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  WriteBatch batch;
  EXPECT_EQ(barrier_->Wrap({"delta", 2, "aes256-gcm"}, SecretData(32), &batch).code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(barrier_->Unseal().ok());
  got = barrier_->Unwrap({"delta", 1, "aes256-gcm"});
  ASSERT_TRUE(got.ok());
  EXPECT_NE(got->get(), held->get());  // Unwrapped anew, not served from a stale cache.
}

TEST_F(BarrierTest, KekRotationRewrapsEveryRecord) {
  for (uint32_t v = 1; v <= 3; ++v) Store({"epsilon", v, "aes256-gcm"}, std::string(32, 'a' + v));
  auto rotated = barrier_->RotateKek();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(*rotated, 2u);
  EXPECT_EQ(barrier_->state().kek_version, 2u);
  for (uint32_t v = 1; v <= 3; ++v) {
    WrappedKeyRecord record;
    ASSERT_TRUE(record.ParseFromString(Raw(Barrier::RecordKey("epsilon", v))));
    EXPECT_EQ(record.kek_version(), 2u);
    auto got = Fresh()->Unwrap({"epsilon", v, "aes256-gcm"});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)->RevealSecretAsString(), std::string(32, 'a' + v));
  }
  EXPECT_EQ(Fresh()->state().kek_version, 2u);
  EXPECT_THAT(token_.DescribeObjects("strongroom-kek-2"), HasSubstr("never extractable"));
}

TEST_F(BarrierTest, RotationInterruptedBeforeCommitLosesNothing) {
  Store({"zeta", 1, "aes256-gcm"}, std::string(32, 'Z'));
  // The HSM fails partway: nothing is committed, the old KEK still serves.
  hsm_->faults().Fail("C_Encrypt", CKR_FUNCTION_FAILED, 1);
  EXPECT_FALSE(barrier_->RotateKek().ok());
  EXPECT_EQ(Fresh()->state().kek_version, 1u);
  EXPECT_TRUE(Fresh()->Unwrap({"zeta", 1, "aes256-gcm"}).ok());
  // The KEK created by the failed attempt is reused by the next one.
  auto rotated = barrier_->RotateKek();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(*rotated, 2u);
  EXPECT_TRUE(Fresh()->Unwrap({"zeta", 1, "aes256-gcm"}).ok());
}

TEST_F(BarrierTest, StorageFromAnotherTokenIsRefused) {
  KekState state;
  state.set_current_version(7);
  Overwrite("sys/kek", state.SerializeAsString());
  auto other = std::make_unique<Barrier>(hsm_.get(), storage_.get());
  absl::Status s = other->Unseal();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("strongroom-kek-7"));
  EXPECT_TRUE(other->state().sealed);
}

TEST_F(BarrierTest, BadIdentitiesAreRejected) {
  WriteBatch batch;
  EXPECT_EQ(barrier_->Wrap({"a/b", 1, "aes256-gcm"}, SecretData(32), &batch).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(barrier_->Wrap({"a", 0, "aes256-gcm"}, SecretData(32), &batch).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(batch.empty());
}

}  // namespace
}  // namespace strongroom::kms
