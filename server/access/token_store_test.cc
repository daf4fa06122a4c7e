#include "server/access/token_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/pkcs11_module.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/sqlite_storage.h"
#include "server/access/records.pb.h"
#include "server/access/token_bucket.h"

namespace strongroom::server::access {
namespace {

using hsm::testing::SoftHsmToken;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1900000000);

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}
absl::Duration DurationOf(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}
void Set(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
}

v1::CreateTokenRequest Request(std::vector<std::string> policies) {
  v1::CreateTokenRequest request;
  for (const std::string& p : policies) request.add_policies(p);
  return request;
}

std::string Text(const hsm::SecretData& token) { return std::string(token.RevealSecretAsString()); }

class TokenStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One SoftHSM token for the whole binary.
    auto token = SoftHsmToken::Create("token-store-test");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
  }
  void SetUp() override {
    auto hsm = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = *std::move(hsm);
    static int databases = 0;
    auto storage =
        kms::SqliteStorage::Open(absl::StrCat(token_->dir, "/tokens-", ++databases, ".db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    store_ = NewStore();
    ASSERT_NE(store_, nullptr);
  }
  // A store with an empty cache over the same HSM and storage.
  std::unique_ptr<TokenStore> NewStore(TokenStoreOptions options = {}) {
    auto store = TokenStore::Open(storage_.get(), hsm_.get(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  TokenStore::Created MustCreate(const v1::CreateTokenRequest& request, absl::Time now = kNow) {
    auto created = store_->Create(request, "spiffe://example.org/admin", now);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *std::move(created) : TokenStore::Created{};
  }
  std::string RawRecord(const std::string& accessor) {
    auto entry = storage_->Get(absl::StrCat("auth/tokens/", accessor));
    EXPECT_TRUE(entry.ok() && entry->has_value());
    return entry.ok() && entry->has_value() ? (*entry)->value : "";
  }

  static SoftHsmToken* token_;
  std::unique_ptr<hsm::Hsm> hsm_;
  std::unique_ptr<kms::SqliteStorage> storage_;
  std::unique_ptr<TokenStore> store_;
};
SoftHsmToken* TokenStoreTest::token_ = nullptr;

// Counts PKCS#11 calls.
class CountingObserver final : public hsm::CallObserver {
 public:
  void OnCall(const char*, CK_RV, absl::Duration) override { calls.fetch_add(1); }
  std::atomic<int> calls{0};
};

// Storage that counts the calls it forwards.
class CountingStorage final : public kms::Storage {
 public:
  explicit CountingStorage(kms::Storage* inner) : inner_(inner) {}
  absl::StatusOr<std::optional<kms::Entry>> Get(absl::string_view key) override {
    calls.fetch_add(1);
    return inner_->Get(key);
  }
  absl::StatusOr<std::vector<kms::Entry>> List(absl::string_view prefix,
                                               absl::string_view start_after,
                                               size_t limit) override {
    calls.fetch_add(1);
    return inner_->List(prefix, start_after, limit);
  }
  absl::Status Commit(const kms::WriteBatch& batch) override {
    calls.fetch_add(1);
    return inner_->Commit(batch);
  }
  std::string Backend() const override { return inner_->Backend(); }
  std::string Location() const override { return inner_->Location(); }
  uint32_t SchemaVersion() const override { return inner_->SchemaVersion(); }
  std::atomic<int> calls{0};

 private:
  kms::Storage* inner_;
};

void ExpectInvalid(const absl::StatusOr<v1::TokenInfo>& result, const std::string& message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  EXPECT_EQ(result.status().message(), message);
}

TEST_F(TokenStoreTest, CreateThenAuthenticate) {
  v1::CreateTokenRequest request = Request({"deploy", "read-only", "deploy"});
  request.set_display_name("ci runner");
  TokenStore::Created created = MustCreate(request);
  const std::string token = Text(created.token);
  EXPECT_THAT(token, MatchesRegex("srt\\.[0-9a-f]{32}\\.[A-Za-z0-9_-]{43}"));
  const v1::TokenInfo& info = created.info;
  EXPECT_EQ(token.substr(4, 32), info.accessor());
  EXPECT_THAT(info.policies(), ElementsAre("deploy", "read-only"));
  EXPECT_EQ(info.display_name(), "ci runner");
  EXPECT_EQ(info.creator(), "spiffe://example.org/admin");
  EXPECT_TRUE(info.renewable());
  EXPECT_EQ(TimeOf(info.create_time()), kNow);
  EXPECT_EQ(TimeOf(info.expire_time()), kNow + absl::Hours(1));  // default ttl
  EXPECT_EQ(TimeOf(info.max_expire_time()), kNow + absl::Hours(768));
  EXPECT_EQ(DurationOf(info.ttl()), absl::Hours(1));
  EXPECT_EQ(DurationOf(info.period()), absl::ZeroDuration());

  auto authenticated = store_->Authenticate(token, kNow + absl::Minutes(59));
  ASSERT_TRUE(authenticated.ok()) << authenticated.status();
  EXPECT_EQ(authenticated->SerializeAsString(), info.SerializeAsString());
  // Again, from the cache.
  authenticated = store_->Authenticate(token, kNow + absl::Minutes(59));
  ASSERT_TRUE(authenticated.ok()) << authenticated.status();
  EXPECT_EQ(authenticated->accessor(), info.accessor());

  auto looked_up = store_->Lookup(info.accessor(), kNow);
  ASSERT_TRUE(looked_up.ok()) << looked_up.status();
  EXPECT_EQ(looked_up->SerializeAsString(), info.SerializeAsString());
}

TEST_F(TokenStoreTest, VerifiedTokensAreCheckedWithoutHsmOrStorage) {
  CountingStorage storage(storage_.get());
  auto store = TokenStore::Open(&storage, hsm_.get(), {});
  ASSERT_TRUE(store.ok());
  auto created = (*store)->Create(Request({"p"}), "cn:admin", kNow);
  ASSERT_TRUE(created.ok());
  const std::string token = Text(created->token);
  const std::string other = Text(MustCreate(Request({"p"})).token);
  const std::string wrong = token.substr(0, 37) + other.substr(37);
  ASSERT_TRUE((*store)->Authenticate(token, kNow).ok());  // verifies and caches

  CountingObserver observer;
  hsm_->SetCallObserver(&observer);
  storage.calls = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE((*store)->Authenticate(token, kNow + absl::Milliseconds(40 * i)).ok());
    ExpectInvalid((*store)->Authenticate(wrong, kNow), "invalid token");
  }
  EXPECT_EQ(observer.calls.load(), 0);
  EXPECT_EQ(storage.calls.load(), 0);
  hsm_->SetCallObserver(nullptr);
  // Expiry is still decided per call.
  ExpectInvalid((*store)->Authenticate(token, kNow + absl::Hours(1)), "token expired");
}

TEST_F(TokenStoreTest, RevocationByAnotherStoreIsSeenOnRevalidation) {
  auto mine = NewStore({});
  auto theirs = NewStore({});
  auto created = mine->Create(Request({"p"}), "cn:admin", kNow);
  ASSERT_TRUE(created.ok());
  const std::string token = Text(created->token);
  ASSERT_TRUE(mine->Authenticate(token, kNow).ok());
  ASSERT_TRUE(theirs->Revoke(created->info.accessor()).ok());
  EXPECT_TRUE(mine->Authenticate(token, kNow + absl::Seconds(1)).ok());  // still cached
  ExpectInvalid(mine->Authenticate(token, kNow + absl::Seconds(6)), "invalid token");
}

TEST_F(TokenStoreTest, CacheIsBounded) {
  TokenStoreOptions options;
  options.max_cached_tokens = 2;
  auto store = NewStore(options);
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) tokens.push_back(Text(MustCreate(Request({"p"})).token));
  for (int round = 0; round < 2; ++round) {
    for (const std::string& token : tokens) EXPECT_TRUE(store->Authenticate(token, kNow).ok());
  }
}

// The cache holds the recent working set: verdicts past their revalidation time are swept
// as new ones come in, so tokens checked once long ago do not stay until the bound.
TEST_F(TokenStoreTest, StaleVerdictsLeaveTheCache) {
  constexpr int kOld = 200;
  constexpr int kRecent = 5;
  std::vector<std::string> tokens;
  for (int i = 0; i < kOld + kRecent; ++i) tokens.push_back(Text(MustCreate(Request({"p"})).token));
  auto store = NewStore({});  // revalidation after 5 s
  for (int i = 0; i < kOld; ++i) ASSERT_TRUE(store->Authenticate(tokens[i], kNow).ok());
  EXPECT_EQ(store->cache_sizes().tokens, static_cast<size_t>(kOld));
  // Past the revalidation time of the old verdicts, a few other tokens are checked.
  const absl::Time later = kNow + absl::Seconds(6);
  for (int i = kOld; i < kOld + kRecent; ++i) {
    ASSERT_TRUE(store->Authenticate(tokens[i], later).ok());
  }
  EXPECT_EQ(store->cache_sizes().tokens, static_cast<size_t>(kRecent));
  // An old token is verified again (from storage) and cached anew.
  ASSERT_TRUE(store->Authenticate(tokens[0], later).ok());
  EXPECT_EQ(store->cache_sizes().tokens, static_cast<size_t>(kRecent + 1));
  // Twice the revalidation time later, one check leaves only its own verdict.
  ASSERT_TRUE(store->Authenticate(tokens[kOld], later + absl::Seconds(10)).ok());
  EXPECT_EQ(store->cache_sizes().tokens, 1u);
}

TEST_F(TokenStoreTest, TokensAreDistinct) {
  std::string a = Text(MustCreate(Request({"p"})).token);
  std::string b = Text(MustCreate(Request({"p"})).token);
  EXPECT_NE(a.substr(4, 32), b.substr(4, 32));
  EXPECT_NE(a.substr(37), b.substr(37));
}

TEST_F(TokenStoreTest, WrongSecretWithRightAccessorIsRefused) {
  const std::string token = Text(MustCreate(Request({"p"})).token);
  const std::string other = Text(MustCreate(Request({"p"})).token);
  // Right accessor, the other token's (well-formed) secret; and one character changed.
  std::string swapped = token.substr(0, 37) + other.substr(37);
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  for (const std::string& wrong : {swapped, flipped}) {
    // Cold (nothing cached) ...
    auto result = NewStore()->Authenticate(wrong, kNow);
    ExpectInvalid(result, "invalid token");
    // ... and with the genuine token cached.
    ASSERT_TRUE(store_->Authenticate(token, kNow).ok());
    result = store_->Authenticate(wrong, kNow);
    ExpectInvalid(result, "invalid token");
    EXPECT_THAT(result.status().message(), Not(HasSubstr(token.substr(37))));
  }
  EXPECT_TRUE(store_->Authenticate(token, kNow).ok());
}

// Counts HMACs and signatures the HSM starts (C_SignInit).
class SignCounter final : public hsm::CallObserver {
 public:
  void OnCall(const char* function, CK_RV, absl::Duration) override {
    if (absl::string_view(function) == "C_SignInit") calls.fetch_add(1);
  }
  std::atomic<int> calls{0};
};

// A store whose HSM checks of tokens not yet known to be genuine are paid from a refusal
// budget of `per_second` (that many at once).
TokenStoreOptions Metered(double per_second) {
  TokenStoreOptions options;
  options.refused_token_hmacs_per_second = per_second;
  return options;
}

// A caller who knows an accessor: after its first wrong secret, each attempt with that
// accessor costs HSM work only as the refusal budget allows; other tokens are unaffected.
TEST_F(TokenStoreTest, RefusedAttemptsWithAKnownAccessorAreMetered) {
  TokenStore::Created attacked = MustCreate(Request({"p"}));
  const std::string token = Text(attacked.token);
  const std::string bystander = Text(MustCreate(Request({"p"})).token);
  auto store = NewStore(Metered(2));  // nothing cached
  SignCounter hsm_work;
  hsm_->SetCallObserver(&hsm_work);
  for (int i = 0; i < 100; ++i) {
    std::string wrong = token.substr(0, 37) + absl::StrCat(i, std::string(43, 'A')).substr(0, 43);
    auto result = store->Authenticate(wrong, kNow + absl::Milliseconds(i));
    EXPECT_THAT(result.status().code(), ::testing::AnyOf(absl::StatusCode::kUnauthenticated,
                                                         absl::StatusCode::kUnavailable));
  }
  // The first check and the rest of the refusal budget's burst of 2, nothing more.
  EXPECT_LE(hsm_work.calls.load(), 3);
  EXPECT_GE(hsm_work.calls.load(), 1);
  // Another accessor is verified as before, with the refusal budget empty.
  EXPECT_TRUE(store->Authenticate(bystander, kNow).ok());
  // The attacked accessor's genuine token waits for the budget, then is verified and cached,
  // after which wrong secrets cost nothing at all.
  EXPECT_EQ(store->Authenticate(token, kNow + absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(store->Authenticate(token, kNow + absl::Seconds(2)).ok());
  hsm_work.calls = 0;
  for (int i = 0; i < 10; ++i) {
    std::string wrong = token.substr(0, 37) + absl::StrCat(i, std::string(43, 'B')).substr(0, 43);
    ExpectInvalid(store->Authenticate(wrong, kNow + absl::Seconds(2)), "invalid token");
  }
  EXPECT_EQ(hsm_work.calls.load(), 0);
  hsm_->SetCallObserver(nullptr);
  EXPECT_EQ(store->cache_sizes().suspects, 0u);
}

// A caller who knows many accessors (they appear in audit lines): the first wrong secret for
// each is paid from the first-check budget, so wrong secrets for M accessors cost at most
// the two budgets' bursts and rates in HSM work, not M HMACs. A genuine token verified
// before needs no HSM; a genuine first check gives its share back.
TEST_F(TokenStoreTest, FirstChecksOfKnownAccessorsAreMetered) {
  constexpr int kAccessors = 20;
  std::vector<std::string> tokens;
  for (int i = 0; i < kAccessors; ++i) tokens.push_back(Text(MustCreate(Request({"p"})).token));
  const std::string cached = Text(MustCreate(Request({"p"})).token);
  const std::string fresh = Text(MustCreate(Request({"p"})).token);
  auto store = NewStore(Metered(2));  // nothing cached
  // A genuine first check costs an HMAC but leaves the first-check budget as it was.
  ASSERT_TRUE(store->Authenticate(cached, kNow).ok());
  SignCounter hsm_work;
  hsm_->SetCallObserver(&hsm_work);
  const absl::Duration t = absl::Milliseconds(1500);
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kAccessors; ++i) {
      const std::string& token = tokens[i];
      std::string wrong =
          token.substr(0, 37) + absl::StrCat(round, "x", std::string(43, 'A')).substr(0, 43);
      absl::Time at = kNow + t * (round * kAccessors + i) / (kRounds * kAccessors);
      auto result = store->Authenticate(wrong, at);
      EXPECT_THAT(result.status().code(), ::testing::AnyOf(absl::StatusCode::kUnauthenticated,
                                                           absl::StatusCode::kUnavailable));
    }
  }
  // Each budget: its burst (2) and its rate (2/s) over t, nothing per accessor.
  EXPECT_LE(hsm_work.calls.load(), 2 * (2 + static_cast<int>(2 * absl::ToDoubleSeconds(t))));
  EXPECT_GE(hsm_work.calls.load(), 2);
  // Both budgets are empty now: a token verified before needs no HSM and still passes...
  hsm_work.calls = 0;
  EXPECT_TRUE(store->Authenticate(cached, kNow + t).ok());
  EXPECT_EQ(hsm_work.calls.load(), 0);
  hsm_->SetCallObserver(nullptr);
  // ...while, once wrong secrets for accessors not tried before have drained the first-check
  // budget, a genuine one not checked yet is refused as retryable, without HSM work, then
  // verified once the budget refills; its share comes back, so the next first check passes.
  for (int i = 0; i < 3; ++i) {
    const std::string token = Text(MustCreate(Request({"p"})).token);
    store->Authenticate(token.substr(0, 37) + std::string(43, 'D'), kNow + t).IgnoreError();
  }
  EXPECT_EQ(store->Authenticate(fresh, kNow + t).status().code(), absl::StatusCode::kUnavailable);
  const absl::Time later = kNow + t + absl::Seconds(1);
  ASSERT_TRUE(store->Authenticate(fresh, later).ok());
  const std::string another = Text(MustCreate(Request({"p"})).token);
  EXPECT_TRUE(store->Authenticate(another, later).ok());
}

TEST_F(TokenStoreTest, GarbageTokensAreRefused) {
  const std::string token = Text(MustCreate(Request({"p"})).token);
  std::vector<std::string> garbage = {
      "",
      "srt.",
      "srt..",
      "Bearer " + token,
      token + "A",
      token.substr(0, token.size() - 1),
      " " + token.substr(1),
      "SRT" + token.substr(3),
      token.substr(0, 4) + "0123456789ABCDEF0123456789abcdef" + token.substr(36),  // upper hex
      token.substr(0, 36) + ":" + token.substr(37),
      token.substr(0, 37) + std::string(42, 'A') + "=",
      token.substr(0, 37) + std::string(42, 'A') + std::string(1, '\0'),
      "srt." + std::string(32, '0') + "." + std::string(43, 'A'),  // well formed, unknown
      std::string(80, '\xff'),
      std::string(1 << 20, 'x'),
  };
  for (const std::string& g : garbage) {
    SCOPED_TRACE(g.substr(0, 100));
    ExpectInvalid(store_->Authenticate(g, kNow), "invalid token");
  }
}

TEST_F(TokenStoreTest, ExpiredTokensAreRefused) {
  v1::CreateTokenRequest request = Request({"p"});
  Set(absl::Minutes(10), request.mutable_ttl());
  const std::string cold = Text(MustCreate(request).token);
  TokenStore::Created cached = MustCreate(request);
  ASSERT_TRUE(store_->Authenticate(Text(cached.token), kNow).ok());

  EXPECT_TRUE(store_->Authenticate(cold, kNow + absl::Minutes(10) - absl::Nanoseconds(1)).ok());
  // Expiry is checked on the cached record too; the holder of a genuine token is told why.
  ExpectInvalid(store_->Authenticate(Text(cached.token), kNow + absl::Minutes(10)),
                "token expired");
  ExpectInvalid(NewStore()->Authenticate(cold, kNow + absl::Hours(5)), "token expired");
  // Expired records are deleted: afterwards the token is simply unknown.
  ExpectInvalid(store_->Authenticate(cold, kNow + absl::Hours(5)), "invalid token");
  EXPECT_EQ(store_->Lookup(cached.info.accessor(), kNow + absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(storage_->Get(absl::StrCat("auth/tokens/", cached.info.accessor()))->has_value());
}

TEST_F(TokenStoreTest, RevokedTokensAreRefusedAlsoFromTheCache) {
  TokenStore::Created created = MustCreate(Request({"p"}));
  const std::string token = Text(created.token);
  ASSERT_TRUE(store_->Authenticate(token, kNow).ok());  // now cached
  ASSERT_TRUE(store_->Revoke(created.info.accessor()).ok());
  ExpectInvalid(store_->Authenticate(token, kNow), "invalid token");
  ExpectInvalid(NewStore()->Authenticate(token, kNow), "invalid token");
  EXPECT_EQ(store_->Revoke(created.info.accessor()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Lookup(created.info.accessor(), kNow).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Revoke("not-an-accessor").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenStoreTest, RevokeCascadesToDescendantsAndRevokeOrphanDoesNot) {
  auto create = [&](absl::string_view parent) {
    auto created = store_->Create(Request({"p"}), "token:x", kNow, parent);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? std::move(*created) : TokenStore::Created();
  };
  TokenStore::Created parent = MustCreate(Request({"p"}));
  TokenStore::Created child = create(parent.info.accessor());
  TokenStore::Created grandchild = create(child.info.accessor());
  TokenStore::Created sibling = create(parent.info.accessor());
  TokenStore::Created unrelated = MustCreate(Request({"p"}));
  for (const auto* t : {&parent, &child, &grandchild, &sibling}) {
    ASSERT_TRUE(store_->Authenticate(Text(t->token), kNow).ok());  // cached
  }
  ASSERT_TRUE(store_->Revoke(parent.info.accessor()).ok());
  for (const auto* t : {&parent, &child, &grandchild, &sibling}) {
    ExpectInvalid(store_->Authenticate(Text(t->token), kNow), "invalid token");
  }
  EXPECT_TRUE(store_->Authenticate(Text(unrelated.token), kNow).ok());
  // No entry naming a revoked token is left behind.
  EXPECT_TRUE(storage_->List("auth/children/", "", 0)->empty());

  TokenStore::Created parent2 = MustCreate(Request({"p"}));
  TokenStore::Created child2 = create(parent2.info.accessor());
  TokenStore::Created grandchild2 = create(child2.info.accessor());
  ASSERT_TRUE(store_->RevokeOrphan(parent2.info.accessor()).ok());
  ExpectInvalid(store_->Authenticate(Text(parent2.token), kNow), "invalid token");
  EXPECT_TRUE(store_->Authenticate(Text(child2.token), kNow).ok());
  EXPECT_TRUE(store_->Authenticate(Text(grandchild2.token), kNow).ok());
  EXPECT_EQ(store_->RevokeOrphan(parent2.info.accessor()).code(), absl::StatusCode::kNotFound);
  // The orphan still heads its own line.
  ASSERT_TRUE(store_->Revoke(child2.info.accessor()).ok());
  ExpectInvalid(store_->Authenticate(Text(grandchild2.token), kNow), "invalid token");
}

// TokenInfo.orphan says whether the token has a parent: set for tokens created without one,
// clear for children, and set for children whose parent went with RevokeOrphan, in every
// reader (Create, Lookup, Authenticate from storage and from the cache, Renew, List).
TEST_F(TokenStoreTest, OrphanIsStoredAndRevokeOrphanClearsTheChildrensParent) {
  auto kind = [](const absl::StatusOr<v1::TokenInfo>& info) -> std::string {
    if (!info.ok()) return info.status().ToString();
    return info->orphan() ? "orphan" : "child";
  };
  auto root = store_->CreateRoot(absl::Hours(1), kNow);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(root->info.orphan());
  const std::string creator = absl::StrCat("token:", root->info.accessor());
  v1::CreateTokenRequest r = Request({"p"});
  r.set_renewable(true);
  auto orphan = store_->Create(r, creator, kNow);  // a root token's orphan
  auto child = store_->Create(r, creator, kNow, root->info.accessor());
  ASSERT_TRUE(orphan.ok() && child.ok());
  auto grandchild = store_->Create(r, creator, kNow, child->info.accessor());
  ASSERT_TRUE(grandchild.ok()) << grandchild.status();
  EXPECT_TRUE(orphan->info.orphan());
  EXPECT_FALSE(child->info.orphan());
  EXPECT_EQ(kind(store_->Lookup(orphan->info.accessor(), kNow)), "orphan");
  EXPECT_EQ(kind(store_->Lookup(child->info.accessor(), kNow)), "child");
  ASSERT_EQ(kind(store_->Authenticate(Text(child->token), kNow)), "child");  // now cached

  ASSERT_TRUE(store_->RevokeOrphan(root->info.accessor()).ok());
  EXPECT_EQ(kind(store_->Lookup(child->info.accessor(), kNow)), "orphan");
  EXPECT_EQ(kind(store_->Authenticate(Text(child->token), kNow)), "orphan");
  EXPECT_EQ(kind(store_->Renew(child->info.accessor(), absl::ZeroDuration(), kNow)), "orphan");
  EXPECT_EQ(kind(store_->Lookup(grandchild->info.accessor(), kNow)), "child");
  absl::StatusOr<std::vector<v1::TokenInfo>> listed = store_->List(kNow);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 3u);
  for (const v1::TokenInfo& info : *listed) {
    EXPECT_EQ(info.orphan(), info.accessor() != grandchild->info.accessor()) << info.accessor();
  }
  // The rewritten record still verifies, and the orphan still heads its own line.
  ASSERT_TRUE(store_->Revoke(child->info.accessor()).ok());
  ExpectInvalid(store_->Authenticate(Text(grandchild->token), kNow), "invalid token");
  EXPECT_TRUE(storage_->List("auth/children/", "", 0)->empty());
}

// A root token's children are its children as in Vault (revoked with it), but bounded by
// max_ttl only, not by the root token's short lifetime.
TEST_F(TokenStoreTest, ARootTokensChildrenAreRevokedWithItButNotBoundByItsLifetime) {
  auto root = store_->CreateRoot(absl::Hours(1), kNow);
  ASSERT_TRUE(root.ok()) << root.status();
  v1::CreateTokenRequest r = Request({"p"});
  r.mutable_ttl()->set_seconds(24 * 3600);
  const std::string creator = absl::StrCat("token:", root->info.accessor());
  auto child = store_->Create(r, creator, kNow, root->info.accessor());
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(TimeOf(child->info.expire_time()), kNow + absl::Hours(24));
  v1::CreateTokenRequest periodic = Request({"p"});
  periodic.mutable_period()->set_seconds(24 * 3600);
  auto periodic_child = store_->Create(periodic, creator, kNow, root->info.accessor());
  ASSERT_TRUE(periodic_child.ok()) << periodic_child.status();
  EXPECT_FALSE(periodic_child->info.has_max_expire_time());
  auto orphan = store_->Create(r, creator, kNow);
  ASSERT_TRUE(orphan.ok()) << orphan.status();

  ASSERT_TRUE(store_->Revoke(root->info.accessor()).ok());
  ExpectInvalid(store_->Authenticate(Text(child->token), kNow), "invalid token");
  ExpectInvalid(store_->Authenticate(Text(periodic_child->token), kNow), "invalid token");
  EXPECT_TRUE(store_->Authenticate(Text(orphan->token), kNow).ok());
}

TEST_F(TokenStoreTest, AnExpiredChildLeavesNoEntryUnderItsParent) {
  TokenStore::Created parent = MustCreate(Request({"p"}));
  v1::CreateTokenRequest r = Request({"p"});
  r.mutable_ttl()->set_seconds(60);
  auto child = store_->Create(r, "token:x", kNow, parent.info.accessor());
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(storage_->List("auth/children/", "", 0)->size(), 1u);
  ExpectInvalid(store_->Authenticate(Text(child->token), kNow + absl::Minutes(2)), "token expired");
  EXPECT_TRUE(storage_->List("auth/children/", "", 0)->empty());
}

TEST_F(TokenStoreTest, RenewPeriodicToken) {
  v1::CreateTokenRequest request = Request({"vault-seal"});
  Set(absl::Hours(24), request.mutable_period());
  Set(absl::Hours(2), request.mutable_ttl());  // ignored for periodic tokens
  TokenStore::Created created = MustCreate(request);
  const std::string& accessor = created.info.accessor();
  EXPECT_EQ(TimeOf(created.info.expire_time()), kNow + absl::Hours(24));
  EXPECT_FALSE(created.info.has_max_expire_time());
  EXPECT_EQ(DurationOf(created.info.period()), absl::Hours(24));
  ASSERT_TRUE(store_->Authenticate(Text(created.token), kNow).ok());  // cached

  absl::Time t = kNow + absl::Hours(20);
  auto renewed = store_->Renew(accessor, absl::ZeroDuration(), t);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(TimeOf(renewed->expire_time()), t + absl::Hours(24));
  renewed = store_->Renew(accessor, absl::Hours(100), t);  // capped at the period
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), t + absl::Hours(24));
  // No maximum lifetime: renew far beyond 768h.
  for (int day = 1; day <= 40; ++day) {
    t = kNow + absl::Hours(20 * day);
    ASSERT_TRUE(store_->Renew(accessor, absl::ZeroDuration(), t).ok()) << day;
  }
  // The cached entry follows renewals.
  EXPECT_TRUE(store_->Authenticate(Text(created.token), t + absl::Hours(23)).ok());
  renewed = store_->Renew(accessor, absl::Hours(1), t);  // shorter than the period
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), t + absl::Hours(1));
  ExpectInvalid(store_->Authenticate(Text(created.token), t + absl::Hours(2)), "token expired");
}

TEST_F(TokenStoreTest, RenewIsCappedByExplicitMaxTtl) {
  v1::CreateTokenRequest request = Request({"p"});
  Set(absl::Hours(1), request.mutable_ttl());
  Set(absl::Hours(3), request.mutable_explicit_max_ttl());
  TokenStore::Created created = MustCreate(request);
  const std::string& accessor = created.info.accessor();
  EXPECT_EQ(TimeOf(created.info.max_expire_time()), kNow + absl::Hours(3));

  auto renewed = store_->Renew(accessor, absl::ZeroDuration(), kNow + absl::Minutes(30));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(TimeOf(renewed->expire_time()), kNow + absl::Minutes(90));  // + ttl
  renewed = store_->Renew(accessor, absl::Minutes(20), kNow + absl::Hours(1));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), kNow + absl::Minutes(80));
  renewed = store_->Renew(accessor, absl::Hours(2), kNow + absl::Minutes(70));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), kNow + absl::Minutes(130));  // at most + ttl
  renewed = store_->Renew(accessor, absl::Hours(2), kNow + absl::Minutes(125));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), kNow + absl::Hours(3));  // capped
  EXPECT_TRUE(store_->Authenticate(Text(created.token), kNow + absl::Minutes(179)).ok());
  ExpectInvalid(store_->Authenticate(Text(created.token), kNow + absl::Hours(3)), "token expired");
  EXPECT_EQ(store_->Renew(accessor, absl::ZeroDuration(), kNow + absl::Hours(4)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Renew(accessor, -absl::Seconds(1), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenStoreTest, RenewNeverExtendsByMoreThanTheTokensOwnRule) {
  v1::CreateTokenRequest request = Request({"p"});
  Set(absl::Hours(2), request.mutable_ttl());  // and the default maximum, 768h
  const std::string accessor = MustCreate(request).info.accessor();
  for (absl::Duration increment : {absl::Hours(3), absl::Hours(768), absl::Hours(100000)}) {
    auto renewed = store_->Renew(accessor, increment, kNow + absl::Hours(1));
    ASSERT_TRUE(renewed.ok()) << renewed.status();
    EXPECT_EQ(TimeOf(renewed->expire_time()), kNow + absl::Hours(3));
  }
  auto renewed = store_->Renew(accessor, absl::Minutes(30), kNow + absl::Hours(1));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), kNow + absl::Minutes(90));
}

TEST_F(TokenStoreTest, ChildrenNeverOutliveTheirParent) {
  v1::CreateTokenRequest request = Request({"p"});
  Set(absl::Hours(2), request.mutable_ttl());
  const std::string parent = MustCreate(request).info.accessor();
  const absl::Time now = kNow + absl::Hours(1);  // the parent has 1h left
  const absl::Time bound = kNow + absl::Hours(2);
  auto child = [&](absl::Duration ttl, absl::Duration period, absl::Duration max) {
    v1::CreateTokenRequest r = Request({"p"});
    Set(ttl, r.mutable_ttl());
    Set(period, r.mutable_period());
    Set(max, r.mutable_explicit_max_ttl());
    return store_->Create(r, "token:parent", now, parent);
  };
  const absl::Duration zero = absl::ZeroDuration();
  // Beyond the parent's expiry: refused, naming the field and the limit.
  auto refused = child(absl::Hours(2), zero, zero);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("ttl: at most 1h"));
  refused = child(absl::Minutes(10), zero, absl::Hours(5));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("explicit_max_ttl: at most 1h"));
  // Within it, and the defaults (ttl 1h, maximum 768h) cut to it.
  for (absl::Duration ttl : {absl::Minutes(10), absl::Hours(1), zero}) {
    auto created = child(ttl, zero, zero);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_LE(TimeOf(created->info.expire_time()), bound);
    EXPECT_EQ(TimeOf(created->info.max_expire_time()), bound);
    for (absl::Time t = TimeOf(created->info.expire_time()); t < bound;) {
      auto renewed = store_->Renew(created->info.accessor(), zero, t - absl::Seconds(1));
      ASSERT_TRUE(renewed.ok()) << renewed.status();
      EXPECT_LE(TimeOf(renewed->expire_time()), bound);
      if (TimeOf(renewed->expire_time()) == t) break;  // renewed up to the bound
      t = TimeOf(renewed->expire_time());
    }
  }
  // Periodic children: period at most the parent's ttl, expiry bounded by the parent's.
  refused = child(zero, absl::Hours(3), zero);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("period: at most 2h"));
  auto periodic = child(zero, absl::Hours(2), zero);
  ASSERT_TRUE(periodic.ok()) << periodic.status();
  EXPECT_EQ(TimeOf(periodic->info.expire_time()), bound);
  EXPECT_EQ(TimeOf(periodic->info.max_expire_time()), bound);
  auto renewed = store_->Renew(periodic->info.accessor(), zero, bound - absl::Minutes(1));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(TimeOf(renewed->expire_time()), bound);
  ExpectInvalid(store_->Authenticate(Text(periodic->token), bound), "token expired");

  // A periodic parent: children's periods at most its period, their maximum its expiry.
  v1::CreateTokenRequest periodic_request = Request({"p"});
  Set(absl::Hours(24), periodic_request.mutable_period());
  const std::string periodic_parent = MustCreate(periodic_request).info.accessor();
  v1::CreateTokenRequest r = Request({"p"});
  Set(absl::Hours(25), r.mutable_period());
  EXPECT_EQ(store_->Create(r, "token:parent", kNow, periodic_parent).status().code(),
            absl::StatusCode::kInvalidArgument);
  Set(absl::Hours(24), r.mutable_period());
  auto created = store_->Create(r, "token:parent", kNow + absl::Hours(20), periodic_parent);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(TimeOf(created->info.max_expire_time()), kNow + absl::Hours(24));

  // A parent that is gone creates nothing.
  ASSERT_TRUE(store_->Revoke(parent).ok());
  EXPECT_EQ(child(absl::Minutes(1), zero, zero).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(TokenStoreTest, RootTokensAreNotRenewable) {
  auto root = store_->CreateRoot(absl::Hours(1), kNow);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(root->info.policies(), ElementsAre("root"));
  EXPECT_FALSE(root->info.renewable());
  auto renewed = store_->Renew(root->info.accessor(), absl::ZeroDuration(), kNow);
  EXPECT_EQ(renewed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(renewed.status().message(), HasSubstr("not renewable"));
  auto authenticated = store_->Authenticate(Text(root->token), kNow);
  ASSERT_TRUE(authenticated.ok());
  EXPECT_THAT(authenticated->policies(), ElementsAre("root"));
  EXPECT_EQ(store_->CreateRoot(absl::Hours(769), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateRoot(absl::ZeroDuration(), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenStoreTest, TokensCreatedNotRenewableAreNot) {
  v1::CreateTokenRequest request = Request({"p"});
  request.set_renewable(false);
  TokenStore::Created created = MustCreate(request);
  EXPECT_FALSE(created.info.renewable());
  auto renewed = store_->Renew(created.info.accessor(), absl::ZeroDuration(), kNow);
  EXPECT_EQ(renewed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(renewed.status().message(), HasSubstr("renewable=false"));
  // The flag is covered by the record's MAC like every field: the token still authenticates.
  ASSERT_TRUE(NewStore()->Authenticate(Text(created.token), kNow).ok());
  request.set_renewable(true);
  EXPECT_TRUE(MustCreate(request).info.renewable());
}

TEST_F(TokenStoreTest, AccessorOfReadsTheTokensFormOnly) {
  TokenStore::Created created = MustCreate(Request({"p"}));
  EXPECT_EQ(TokenStore::AccessorOf(Text(created.token)), created.info.accessor());
  std::string forged = Text(created.token);
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(TokenStore::AccessorOf(forged), created.info.accessor()) << "a name, not a proof";
  for (const char* bad : {"", "srt.", "hvs.CAESIabc", "srt.0123.abc"}) {
    EXPECT_EQ(TokenStore::AccessorOf(bad), std::nullopt) << bad;
  }
  std::string upper = Text(created.token);
  upper[4] = 'A';
  EXPECT_EQ(TokenStore::AccessorOf(upper), std::nullopt);
}

TEST_F(TokenStoreTest, ReopenedStoreAuthenticatesExistingTokens) {
  TokenStore::Created created = MustCreate(Request({"p"}));
  store_.reset();
  auto storage = kms::SqliteStorage::Open(storage_->Location());
  ASSERT_TRUE(storage.ok());
  auto store = TokenStore::Open(storage->get(), hsm_.get(), {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto authenticated = (*store)->Authenticate(Text(created.token), kNow);
  ASSERT_TRUE(authenticated.ok()) << authenticated.status();
  EXPECT_EQ(authenticated->accessor(), created.info.accessor());
}

TEST_F(TokenStoreTest, BootstrapHappensOnce) {
  auto first = store_->Bootstrap(absl::Hours(2), kNow);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  const TokenStore::Created& root = **first;
  EXPECT_THAT(root.info.policies(), ElementsAre("root"));
  EXPECT_FALSE(root.info.renewable());
  EXPECT_EQ(TimeOf(root.info.expire_time()), kNow + absl::Hours(2));
  ASSERT_TRUE(store_->Authenticate(Text(root.token), kNow).ok());

  auto second = store_->Bootstrap(absl::Hours(2), kNow);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
  ASSERT_TRUE(store_->Revoke(root.info.accessor()).ok());
  second = NewStore()->Bootstrap(absl::Hours(2), kNow);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
  // Recovery still works.
  auto recovered = store_->CreateRoot(absl::Hours(1), kNow);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_TRUE(store_->Authenticate(Text(recovered->token), kNow).ok());
}

TEST_F(TokenStoreTest, BootstrapFromManyThreadsYieldsOneToken) {
  std::atomic<int> tokens{0}, failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = TokenStore::Open(storage_.get(), hsm_.get(), {});
      auto result = store.ok() ? (*store)->Bootstrap(absl::Hours(1), kNow)
                               : absl::StatusOr<std::optional<TokenStore::Created>>(store.status());
      if (!result.ok()) {
        failures.fetch_add(1);
      } else if (result->has_value()) {
        tokens.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(tokens.load(), 1);
  EXPECT_EQ(store_->List(kNow)->size(), 1u);
}

TEST_F(TokenStoreTest, StoredRecordHoldsNeitherTokenNorSecret) {
  TokenStore::Created created = MustCreate(Request({"p"}));
  const std::string token = Text(created.token);
  const std::string raw = RawRecord(created.info.accessor());
  EXPECT_THAT(raw, Not(HasSubstr(token)));
  EXPECT_THAT(raw, Not(HasSubstr(token.substr(37))));      // the secret
  EXPECT_THAT(raw, Not(HasSubstr(token.substr(37, 16))));  // nor a piece of it
  EXPECT_THAT(raw, HasSubstr(created.info.accessor()));    // the accessor is no secret
  TokenRecord record;
  ASSERT_TRUE(record.ParseFromString(raw));
  EXPECT_EQ(record.token_hash().size(), 32u);
  EXPECT_EQ(record.record_mac().size(), 32u);
}

TEST_F(TokenStoreTest, HmacKeyIsSensitiveAndNeverExtractable) {
  TokenStoreOptions options;
  options.hmac_key_label = "token-hmac-outside-view";
  ASSERT_NE(NewStore(options), nullptr);
  ASSERT_NE(NewStore(options), nullptr);  // opens the existing key
  std::string view = token_->DescribeObjects(options.hmac_key_label);
  EXPECT_THAT(view, HasSubstr("Secret Key Object; Generic secret length 64"));
  EXPECT_THAT(view, HasSubstr("sensitive"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
  EXPECT_THAT(view, Not(HasSubstr("wrap")));
}

TEST_F(TokenStoreTest, AlteredRecordIsDetected) {
  TokenStore::Created created = MustCreate(Request({"p"}));
  const std::string key = absl::StrCat("auth/tokens/", created.info.accessor());
  TokenRecord record;
  ASSERT_TRUE(record.ParseFromString(RawRecord(created.info.accessor())));
  record.add_policies("root");
  ASSERT_TRUE(storage_->Commit(kms::WriteBatch().Put(key, record.SerializeAsString())).ok());
  auto result = NewStore()->Authenticate(Text(created.token), kNow);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr(created.info.accessor()));
  EXPECT_EQ(store_->Lookup(created.info.accessor(), kNow).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Renew(created.info.accessor(), absl::ZeroDuration(), kNow).status().code(),
            absl::StatusCode::kDataLoss);
  // Extending the expiry is an alteration too.
  record.clear_policies();
  record.add_policies("p");
  record.mutable_expire_time()->set_seconds(record.expire_time().seconds() + 86400);
  ASSERT_TRUE(storage_->Commit(kms::WriteBatch().Put(key, record.SerializeAsString())).ok());
  EXPECT_EQ(NewStore()->Authenticate(Text(created.token), kNow + absl::Hours(2)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(TokenStoreTest, CreateValidatesRequest) {
  struct Case {
    std::string name;
    v1::CreateTokenRequest request;
    std::string message;  // a substring
  };
  std::vector<Case> cases;
  cases.push_back({"no policies", Request({}), "policies: at least one"});
  cases.push_back({"root", Request({"p", "root"}), "'root' is granted only"});
  cases.push_back({"bad name", Request({"a b"}), "policies: only letters"});
  cases.push_back({"empty name", Request({""}), "policies: each name"});
  cases.push_back({"long name", Request({std::string(129, 'a')}), "policies: each name"});
  {
    v1::CreateTokenRequest r = Request({"p"});
    Set(absl::Hours(769), r.mutable_ttl());
    cases.push_back({"ttl", r, "ttl: at most 768h"});
  }
  {
    v1::CreateTokenRequest r = Request({"p"});
    Set(absl::Hours(769), r.mutable_period());
    cases.push_back({"period", r, "period: at most 768h"});
  }
  {
    v1::CreateTokenRequest r = Request({"p"});
    Set(absl::Hours(769), r.mutable_explicit_max_ttl());
    cases.push_back({"explicit_max_ttl", r, "explicit_max_ttl: at most 768h"});
  }
  {
    v1::CreateTokenRequest r = Request({"p"});
    r.mutable_ttl()->set_seconds(-5);
    cases.push_back({"negative ttl", r, "ttl: must not be negative"});
  }
  {
    v1::CreateTokenRequest r = Request({"p"});
    Set(absl::Hours(2), r.mutable_ttl());
    Set(absl::Hours(1), r.mutable_explicit_max_ttl());
    cases.push_back({"ttl above explicit max", r, "ttl: at most explicit_max_ttl (1h)"});
  }
  {
    v1::CreateTokenRequest r = Request({"p"});
    Set(absl::Hours(1), r.mutable_period());
    Set(absl::Hours(1), r.mutable_explicit_max_ttl());
    cases.push_back({"period with explicit max", r, "explicit_max_ttl: not allowed"});
  }
  {
    v1::CreateTokenRequest r = Request({"p"});
    r.set_display_name("evil\nname");
    cases.push_back({"display name", r, "display_name: control characters"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto created = store_->Create(c.request, "cn:admin", kNow);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(created.status().message(), HasSubstr(c.message));
  }
  EXPECT_EQ(store_->Create(Request({"p"}), "", kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->List(kNow)->empty());
  // Defaults come from the options.
  TokenStoreOptions options;
  options.default_ttl = absl::Minutes(5);
  options.max_ttl = absl::Hours(2);
  auto store = NewStore(options);
  auto created = store->Create(Request({"p"}), "cn:admin", kNow);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(TimeOf(created->info.expire_time()), kNow + absl::Minutes(5));
  EXPECT_EQ(TimeOf(created->info.max_expire_time()), kNow + absl::Hours(2));
  options.default_ttl = absl::Hours(3);
  EXPECT_EQ(TokenStore::Open(storage_.get(), hsm_.get(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenStoreTest, ListShowsLiveTokensAndDropsExpiredOnes) {
  v1::CreateTokenRequest short_lived = Request({"p"});
  Set(absl::Minutes(1), short_lived.mutable_ttl());
  TokenStore::Created a = MustCreate(Request({"a"}));
  TokenStore::Created b = MustCreate(short_lived);
  auto listed = store_->List(kNow);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
  listed = store_->List(kNow + absl::Minutes(2));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].accessor(), a.info.accessor());
  EXPECT_FALSE(storage_->Get(absl::StrCat("auth/tokens/", b.info.accessor()))->has_value());
}

TEST_F(TokenStoreTest, ConcurrentRenewalsAreAllKept) {
  TokenStore::Created created = MustCreate(Request({"p"}));
  const std::string accessor = created.info.accessor();
  std::atomic<int> renewed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < 10; ++j) {
        auto result =
            store_->Renew(accessor, absl::ZeroDuration(), kNow + absl::Seconds(i * 100 + j));
        (result.ok() ? renewed : failed).fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(renewed.load(), 40);
  TokenRecord record;
  ASSERT_TRUE(record.ParseFromString(RawRecord(accessor)));
  EXPECT_EQ(record.generation(), 41u);  // no renewal was lost
}

TEST_F(TokenStoreTest, ConcurrentRenewRevokeAndAuthenticate) {
  for (int round = 0; round < 3; ++round) {
    TokenStore::Created created = MustCreate(Request({"p"}));
    const std::string accessor = created.info.accessor();
    const std::string token = Text(created.token);
    ASSERT_TRUE(store_->Authenticate(token, kNow).ok());
    std::atomic<bool> revoked{false};
    std::atomic<int> unexpected{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&] {
        for (int j = 0; j < 10; ++j) {
          auto result = store_->Renew(accessor, absl::ZeroDuration(), kNow);
          if (!result.ok() && !absl::IsNotFound(result.status())) unexpected.fetch_add(1);
        }
      });
    }
    threads.emplace_back([&] {
      for (int j = 0; j < 30; ++j) {
        bool was_revoked = revoked.load();
        auto result = NewStore()->Authenticate(token, kNow);  // slow path
        auto cached = store_->Authenticate(token, kNow);      // the shared cache
        if (was_revoked && (result.ok() || cached.ok())) unexpected.fetch_add(1);
      }
    });
    threads.emplace_back([&] {
      std::this_thread::yield();
      if (!store_->Revoke(accessor).ok()) unexpected.fetch_add(1);
      revoked.store(true);
    });
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(unexpected.load(), 0);
    ExpectInvalid(store_->Authenticate(token, kNow), "invalid token");
    EXPECT_FALSE(storage_->Get(absl::StrCat("auth/tokens/", accessor))->has_value());
  }
}

}  // namespace
}  // namespace strongroom::server::access
