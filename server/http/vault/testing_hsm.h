// HsmStorageTest: the base fixture of the Vault API unit tests that run over the real HSM
// and storage: one SoftHSM token and its open hsm::Hsm per test binary (SetUpHsm, from
// SetUpTestSuite; later calls are no-ops, and both live until the process ends), and a fresh
// SQLite database per call of NewStorage, in the token's directory. Test-only; failures are
// gtest failures (call both under ASSERT_NO_FATAL_FAILURE).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hsm/hsm.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/sqlite_storage.h"

namespace strongroom::server::vault::testing {

class HsmStorageTest : public ::testing::Test {
 protected:
  static void SetUpHsm(const std::string& token_label) {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = hsm::testing::SoftHsmToken::Create(token_label);
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
    auto hsm = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = hsm->release();
  }

  // Opens <token dir>/<db_prefix><n>.db into storage_, n counting the databases of the binary.
  void NewStorage(const std::string& db_prefix) {
    static int n = 0;
    auto storage = kms::SqliteStorage::Open(absl::StrCat(token_->dir, "/", db_prefix, ++n, ".db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
  }

  static inline hsm::testing::SoftHsmToken* token_ = nullptr;
  static inline hsm::Hsm* hsm_ = nullptr;
  std::unique_ptr<kms::SqliteStorage> storage_;
};

}  // namespace strongroom::server::vault::testing
