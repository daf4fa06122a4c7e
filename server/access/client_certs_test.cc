#include "server/access/client_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::server::access {
namespace {

using hsm::EvpPkeyPtr;
using hsm::X509Ptr;

// A certificate and its key, made with OpenSSL directly.
struct TestCert {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::string pem;
};

std::string PemOf(X509* x) {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A CA (self-signed when `ca` is null) or a client leaf with URI SAN `uri` signed by `ca`;
// `key` is reused when given (making many certificates quickly), else a new P-256 key.
TestCert MakeCert(const TestCert* ca, const std::string& cn, long serial,
                  const std::string& uri = "", EVP_PKEY* key = nullptr,
                  bool intermediate = false) {
  TestCert out;
  if (key != nullptr) {
    EVP_PKEY_up_ref(key);
    out.key.reset(key);
  } else {
    out.key.reset(EVP_EC_gen("P-256"));
  }
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_pubkey(x, out.key.get());
  X509* issuer = ca != nullptr ? ca->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(issuer));
  if (ca == nullptr || intermediate) {
    AddExt(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(x, issuer, NID_ext_key_usage, "clientAuth");
    if (!uri.empty()) AddExt(x, issuer, NID_subject_alt_name, ("URI:" + uri).c_str());
  }
  X509_sign(x, ca != nullptr ? ca->key.get() : out.key.get(), EVP_sha256());
  out.pem = PemOf(x);
  return out;
}

// An intermediate CA signed by `ca`.
TestCert MakeIntermediate(const TestCert& ca, const std::string& cn, long serial) {
  return MakeCert(&ca, cn, serial, "", nullptr, /*intermediate=*/true);
}

// p50 and p99 of `samples`, in microseconds.
std::string Percentiles(std::vector<absl::Duration> samples) {
  if (samples.empty()) return "no samples";
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return absl::ToDoubleMicroseconds(samples[static_cast<size_t>(q * (samples.size() - 1))]);
  };
  return absl::StrCat("p50 ", at(0.5), " us, p99 ", at(0.99), " us (", samples.size(), " calls)");
}

// A trust source held in memory that counts what the verifier asks of it.
class FakeSource : public ClientCertVerifier::TrustSource {
 public:
  absl::StatusOr<ClientCertVerifier::Anchors> Read() override {
    reads.fetch_add(1);
    absl::MutexLock lock(&mu);
    return anchors;
  }
  uint64_t Epoch() override { return epoch.load(); }
  absl::StatusOr<bool> Revoked(absl::string_view issuer, absl::string_view serial) override {
    revocation_checks.fetch_add(1);
    absl::MutexLock lock(&mu);
    if (!revocation_error.ok()) return revocation_error;
    return revoked.contains(absl::StrCat(issuer, "/", serial));
  }

  // What a Ca does: commit the change, then move the epoch.
  void AddIssuer(const std::string& name, const TestCert& ca) {
    {
      absl::MutexLock lock(&mu);
      anchors.local_issuers.emplace_back(name, ca.pem);
    }
    epoch.fetch_add(1);
  }
  void Revoke(const std::string& issuer, const std::string& serial) {
    {
      absl::MutexLock lock(&mu);
      revoked.insert(absl::StrCat(issuer, "/", serial));
    }
    epoch.fetch_add(1);
  }

  absl::Mutex mu;
  ClientCertVerifier::Anchors anchors ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<std::string> revoked ABSL_GUARDED_BY(mu);
  absl::Status revocation_error ABSL_GUARDED_BY(mu);
  std::atomic<uint64_t> epoch{0};
  std::atomic<int> reads{0};
  std::atomic<int> revocation_checks{0};
};

// The verifier over `source` (kept by the caller for inspection).
std::unique_ptr<ClientCertVerifier> NewVerifier(FakeSource** source,
                                                ClientCertVerifier::Anchors anchors = {}) {
  auto owned = std::make_unique<FakeSource>();
  {
    absl::MutexLock lock(&owned->mu);
    owned->anchors = std::move(anchors);
  }
  *source = owned.get();
  auto verifier = ClientCertVerifier::Create(std::move(owned));
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return verifier.ok() ? *std::move(verifier) : nullptr;
}

// A flood of untrusted chains from several threads, each one new: a good client keeps
// being served throughout, and the flood neither re-reads the trust source per chain nor
// serialises the good client behind it. Prints the good client's latency with and without
// the flood (a measurement, not asserted: timing is not a test).
TEST(ClientCertVerifierTest, FloodOfUntrustedChainsDoesNotReloadOrStarveGoodClients) {
  const TestCert ca = MakeCert(nullptr, "good CA", 1);
  const TestCert good = MakeCert(&ca, "app", 2, "spiffe://test/app");
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier = NewVerifier(&source, {ca.pem, {}});
  ASSERT_NE(verifier, nullptr);
  const absl::Time now = absl::Now();
  absl::StatusOr<std::string> identity = verifier->Identity(good.pem, now);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(*identity, "spiffe://test/app");
  const int reads_before_flood = source->reads.load();

  // Untrusted chains, each different: a leaf of a rogue CA, half of them with that CA.
  constexpr int kFloodThreads = 4;
  constexpr int kChainsPerThread = 1200;  // 4800 in all: more than kMaxRefused
  std::vector<std::vector<std::string>> bad(kFloodThreads);
  const TestCert rogue_ca = MakeCert(nullptr, "good CA", 1);  // same name, other key
  for (int t = 0; t < kFloodThreads; ++t) {
    for (int i = 0; i < kChainsPerThread; ++i) {
      TestCert leaf = MakeCert(&rogue_ca, "app", 1000 + t * kChainsPerThread + i,
                               "spiffe://test/app", rogue_ca.key.get());
      bad[t].push_back(i % 2 == 0 ? leaf.pem : leaf.pem + rogue_ca.pem);
    }
  }

  // Calls until `done` (at least 20000), yielding between them.
  auto good_calls = [&](const std::atomic<bool>& done) {
    std::vector<absl::Duration> latencies;
    int failures = 0;
    while (latencies.size() < 20000 || !done.load()) {
      if (!latencies.empty()) std::this_thread::yield();
      const absl::Time start = absl::Now();
      absl::StatusOr<std::string> id = verifier->Identity(good.pem, now);
      latencies.push_back(absl::Now() - start);
      if (!id.ok()) ++failures;
    }
    EXPECT_EQ(failures, 0);
    return latencies;
  };
  std::atomic<bool> flood_done{true};
  const std::vector<absl::Duration> quiet = good_calls(flood_done);
  flood_done.store(false);
  const absl::Time flood_start = absl::Now();

  std::atomic<int> refused{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < kFloodThreads; ++t) {
    flood.emplace_back([&, t] {
      for (const std::string& chain : bad[t]) {
        if (!verifier->Identity(chain, now).ok()) refused.fetch_add(1);
      }
    });
  }
  std::vector<absl::Duration> flooded;
  std::thread good_client([&] {
    while (refused.load() < 100) std::this_thread::yield();  // the flood is under way
    flooded = good_calls(flood_done);
  });
  for (std::thread& t : flood) t.join();
  const absl::Duration flood_time = absl::Now() - flood_start;
  flood_done.store(true);
  good_client.join();

  EXPECT_EQ(refused.load(), kFloodThreads * kChainsPerThread);
  // Refusals at one instant: no re-read of the trust source at all (it has not changed).
  EXPECT_EQ(source->reads.load(), reads_before_flood);
  // Each chain verified once; the good verdict was never dropped (never verified again),
  // and the refusals kept within their bound.
  const ClientCertVerifier::Stats stats = verifier->stats();
  EXPECT_EQ(stats.verifications, 1u + kFloodThreads * kChainsPerThread);
  EXPECT_EQ(stats.trusted, 1u);
  EXPECT_LE(stats.refused, ClientCertVerifier::kMaxRefused);
  EXPECT_TRUE(verifier->Identity(good.pem, now).ok());
  EXPECT_EQ(verifier->stats().verifications, stats.verifications);
  std::cout << "good client without flood: " << Percentiles(quiet) << "\n"
            << "good client during flood of " << kFloodThreads * kChainsPerThread
            << " untrusted chains from " << kFloodThreads << " threads: " << Percentiles(flooded)
            << " (the flood took " << flood_time << ")\n";
}

// A certificate a Strongroom issuer signed is looked up in its inventory: trusted until it
// is revoked, refused on the very next call after (the trusted verdict was cached), while
// a certificate of an external CA is never looked up.
TEST(ClientCertVerifierTest, RevocationByALocalIssuerTakesEffectOnTheNextCall) {
  const TestCert local_ca = MakeCert(nullptr, "Strongroom clients", 1);
  const TestCert external_ca = MakeCert(nullptr, "external CA", 1);
  const TestCert revoked = MakeCert(&local_ca, "a", 0x2a, "spiffe://test/a");
  const TestCert kept = MakeCert(&local_ca, "b", 0x2b, "spiffe://test/b");
  const TestCert external = MakeCert(&external_ca, "c", 0x2a, "spiffe://test/c");
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier =
      NewVerifier(&source, {external_ca.pem, {{"clients", local_ca.pem}}});
  ASSERT_NE(verifier, nullptr);
  const absl::Time now = absl::Now();
  for (const TestCert* cert : {&revoked, &kept, &external}) {
    absl::StatusOr<std::string> id = verifier->Identity(cert->pem, now);
    EXPECT_TRUE(id.ok()) << id.status();
  }
  EXPECT_EQ(source->revocation_checks.load(), 2);  // the two local ones
  EXPECT_TRUE(verifier->Identity(revoked.pem, now).ok());
  EXPECT_EQ(source->revocation_checks.load(), 2);  // cached: nothing changed

  source->Revoke("clients", "2a");
  absl::StatusOr<std::string> id = verifier->Identity(revoked.pem, now);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(id.status().message(), "client certificate revoked");
  // Still refused once the refusal has aged out and the chain is verified afresh.
  id = verifier->Identity(revoked.pem, now + absl::Seconds(2));
  EXPECT_EQ(id.status().message(), "client certificate revoked");
  EXPECT_TRUE(verifier->Identity(kept.pem, now).ok());
  EXPECT_TRUE(verifier->Identity(external.pem, now).ok());
}

// When the inventory cannot be read, a local issuer's certificate is refused with the
// source's error, and nothing is cached: it works again once the inventory does.
TEST(ClientCertVerifierTest, RevocationLookupFailureRefusesAndIsNotCached) {
  const TestCert local_ca = MakeCert(nullptr, "Strongroom clients", 1);
  const TestCert leaf = MakeCert(&local_ca, "a", 7, "spiffe://test/a");
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier =
      NewVerifier(&source, {"", {{"clients", local_ca.pem}}});
  ASSERT_NE(verifier, nullptr);
  {
    absl::MutexLock lock(&source->mu);
    source->revocation_error = absl::UnavailableError("sealed");
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<std::string> id = verifier->Identity(leaf.pem, now);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(id.status().message(), "cannot check the client certificate for revocation: sealed");
  {
    absl::MutexLock lock(&source->mu);
    source->revocation_error = absl::OkStatus();
  }
  EXPECT_TRUE(verifier->Identity(leaf.pem, now).ok());
}

// A Strongroom issuer created after start is trusted at once, even for a chain refused a
// moment before: the source's epoch moved, so the refusal is not reused and the anchors
// are read again.
TEST(ClientCertVerifierTest, IssuerCreatedAfterStartIsTrustedAtOnce) {
  const TestCert local_ca = MakeCert(nullptr, "Strongroom clients", 1);
  const TestCert leaf = MakeCert(&local_ca, "a", 7, "spiffe://test/a");
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier = NewVerifier(&source);
  ASSERT_NE(verifier, nullptr);
  const absl::Time now = absl::Now();
  EXPECT_EQ(verifier->Identity(leaf.pem, now).status().code(), absl::StatusCode::kUnauthenticated);
  source->AddIssuer("clients", local_ca);
  absl::StatusOr<std::string> id = verifier->Identity(leaf.pem, now);
  EXPECT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(source->reads.load(), 2);
}

// Without a change announced by the epoch (an external CA file edited), refusals read the
// anchors again at most once per kMinReloadInterval, however many there are; a CA removed
// from the anchors stops vouching for the chains it had verified.
TEST(ClientCertVerifierTest, RefusalsReadTheAnchorsAtMostOncePerInterval) {
  const TestCert old_ca = MakeCert(nullptr, "old CA", 1);
  const TestCert new_ca = MakeCert(nullptr, "new CA", 1);
  const TestCert old_leaf = MakeCert(&old_ca, "a", 7, "spiffe://test/a");
  const TestCert new_leaf = MakeCert(&new_ca, "b", 8, "spiffe://test/b");
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier = NewVerifier(&source, {old_ca.pem, {}});
  ASSERT_NE(verifier, nullptr);
  const absl::Time now = absl::Now();
  EXPECT_TRUE(verifier->Identity(old_leaf.pem, now).ok());
  {
    absl::MutexLock lock(&source->mu);
    source->anchors.external_pem = new_ca.pem;  // the file is replaced
  }
  const absl::Time t1 = now + absl::Seconds(1);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(verifier->Identity(new_leaf.pem, t1).ok());
  EXPECT_EQ(source->reads.load(), 1);
  const absl::Time later = now + ClientCertVerifier::kMinReloadInterval;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> id = verifier->Identity(new_leaf.pem, later);
    EXPECT_TRUE(id.ok()) << id.status();
  }
  EXPECT_EQ(source->reads.load(), 2);
  EXPECT_FALSE(verifier->Identity(old_leaf.pem, later).ok());
}

}  // namespace
}  // namespace strongroom::server::access

namespace strongroom::server::access {
namespace {

// Chains as clients send them (leaf alone, leaf + intermediate, leaf + intermediate + root)
// verify to the configured anchor, whether it is an external CA file or a Strongroom issuer;
// what the client presents besides its leaf is only ever material to build the path.
struct ChainShapes {
  TestCert root = MakeCert(nullptr, "chain root", 1);
  TestCert intermediate = MakeIntermediate(root, "chain intermediate", 0x12);
  TestCert direct = MakeCert(&root, "direct", 3, "spiffe://test/direct");
  TestCert leaf = MakeCert(&intermediate, "leaf", 4, "spiffe://test/leaf");
};

void ExpectAllShapesTrusted(ClientCertVerifier& verifier, const ChainShapes& c) {
  const absl::Time now = absl::Now();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"leaf alone (issued by the root)", c.direct.pem},
      {"leaf + root", c.direct.pem + c.root.pem},
      {"leaf + intermediate", c.leaf.pem + c.intermediate.pem},
      {"leaf + intermediate + root", c.leaf.pem + c.intermediate.pem + c.root.pem},
  };
  for (const auto& [shape, pem] : cases) {
    absl::StatusOr<std::string> id = verifier.Identity(pem, now);
    EXPECT_TRUE(id.ok()) << shape << ": " << id.status();
  }
  // Without its intermediate, the leaf has no path to the anchor.
  EXPECT_FALSE(verifier.Identity(c.leaf.pem, now).ok());
}

TEST(ClientCertVerifierChainTest, ExternalCaAcceptsEveryChainShape) {
  ChainShapes c;
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier = NewVerifier(&source, {c.root.pem, {}});
  ASSERT_NE(verifier, nullptr);
  ExpectAllShapesTrusted(*verifier, c);
}

TEST(ClientCertVerifierChainTest, StrongroomIssuerAcceptsEveryChainShapeAndStillRevokes) {
  ChainShapes c;
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier =
      NewVerifier(&source, {"", {{"root-ca", c.root.pem}}});
  ASSERT_NE(verifier, nullptr);
  ExpectAllShapesTrusted(*verifier, c);
  // The intermediate is the root's certificate: revoking it refuses every chain through it,
  // whether or not the client presented the root.
  source->Revoke("root-ca", "12");
  const absl::Time now = absl::Now();
  EXPECT_EQ(verifier->Identity(c.leaf.pem + c.intermediate.pem, now).status().message(),
            "client certificate revoked");
  EXPECT_EQ(
      verifier->Identity(c.leaf.pem + c.intermediate.pem + c.root.pem, now).status().message(),
      "client certificate revoked");
  EXPECT_TRUE(verifier->Identity(c.direct.pem + c.root.pem, now).ok());
}

// A Strongroom intermediate as the issuer trusted for clients (its root not configured):
// the intermediate is the anchor, whatever the client sends above it.
TEST(ClientCertVerifierChainTest, StrongroomIntermediateIssuerIsTheAnchor) {
  ChainShapes c;
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier =
      NewVerifier(&source, {"", {{"clients", c.intermediate.pem}}});
  ASSERT_NE(verifier, nullptr);
  const absl::Time now = absl::Now();
  for (const std::string& pem : {c.leaf.pem, c.leaf.pem + c.intermediate.pem,
                                 c.leaf.pem + c.intermediate.pem + c.root.pem}) {
    absl::StatusOr<std::string> id = verifier->Identity(pem, now);
    EXPECT_TRUE(id.ok()) << id.status();
  }
  // The root is not trusted: what it signed directly is not a client of this issuer.
  EXPECT_FALSE(verifier->Identity(c.direct.pem + c.root.pem, now).ok());
  source->Revoke("clients", "04");
  EXPECT_EQ(
      verifier->Identity(c.leaf.pem + c.intermediate.pem + c.root.pem, now).status().message(),
      "client certificate revoked");
}

// A client that presents its own self-signed root, not in the trust configuration, gains
// nothing by it: the root is not an anchor, however the chain is arranged.
TEST(ClientCertVerifierChainTest, ForgedRootPresentedByTheClientIsRefused) {
  ChainShapes trusted;
  ChainShapes forged;  // same names, other keys
  FakeSource* source;
  std::unique_ptr<ClientCertVerifier> verifier =
      NewVerifier(&source, {trusted.root.pem, {{"root-ca", trusted.root.pem}}});
  ASSERT_NE(verifier, nullptr);
  const absl::Time now = absl::Now();
  for (const std::string& pem :
       {forged.direct.pem + forged.root.pem,
        forged.leaf.pem + forged.intermediate.pem + forged.root.pem,
        forged.root.pem, forged.root.pem + trusted.root.pem,
        forged.leaf.pem + forged.intermediate.pem + forged.root.pem + trusted.root.pem}) {
    absl::StatusOr<std::string> id = verifier->Identity(pem, now);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated) << id.status();
  }
}

}  // namespace
}  // namespace strongroom::server::access
