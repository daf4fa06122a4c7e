#include "server/testing/fuzz_transit.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "server/http/vault/vault_api.h"

namespace strongroom::server::testing {
namespace {

void Check(const absl::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "FuzzTransit: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

// The engine and what it stands on; never destroyed (reachable until exit).
struct Engine {
  std::unique_ptr<hsm::Hsm> hsm;
  std::unique_ptr<kms::SqliteStorage> storage;
  std::unique_ptr<kms::Barrier> barrier;
  std::unique_ptr<kms::Keyring> keyring;
  std::unique_ptr<kms::Transit> transit;
};

Engine* Build() {
  auto token = hsm::testing::SoftHsmToken::Create("fuzz");
  Check(token.status(), "SoftHSM token");
  auto* engine = new Engine;
  auto hsm = hsm::Hsm::Open(token->Options());
  Check(hsm.status(), "HSM");
  engine->hsm = *std::move(hsm);
  auto storage = kms::SqliteStorage::Open(absl::StrCat(token->dir, "/fuzz.db"));
  Check(storage.status(), "storage");
  engine->storage = *std::move(storage);
  engine->barrier = std::make_unique<kms::Barrier>(engine->hsm.get(), engine->storage.get());
  Check(engine->barrier->Unseal(), "unseal");
  engine->keyring = std::make_unique<kms::Keyring>(engine->hsm.get(), engine->storage.get(),
                                                   engine->barrier.get(), kms::KeyringOptions{});
  engine->transit = std::make_unique<kms::Transit>(engine->keyring.get(), engine->hsm.get());

  v1::CreateKeyRequest aes;
  aes.set_name("aes");
  aes.set_type(v1::AES256_GCM);
  Check(engine->transit->CreateKey(aes).status(), "key aes");
  v1::CreateKeyRequest derived = aes;
  derived.set_name("derived");
  derived.set_derived(true);
  derived.set_convergent(true);
  Check(engine->transit->CreateKey(derived).status(), "key derived");
  v1::CreateKeyRequest resident = aes;
  resident.set_name("hsm");
  resident.set_residency(v1::HSM);
  Check(engine->transit->CreateKey(resident).status(), "key hsm");
  v1::CreateKeyRequest signer;
  signer.set_name("ec");
  signer.set_type(v1::ECDSA_P256);
  Check(engine->transit->CreateKey(signer).status(), "key ec");
  return engine;
}

Engine& FuzzEngine() {
  static Engine* const engine = Build();
  return *engine;
}

}  // namespace

kms::Transit& FuzzTransit() { return *FuzzEngine().transit; }

const HttpRouter& FuzzVaultRouter() {
  static const HttpRouter* const router = [] {
    static vault::VaultApi api(&FuzzTransit(), FuzzEngine().hsm.get(),
                               FuzzEngine().keyring.get(), nullptr, nullptr, nullptr);
    auto* r = new HttpRouter;
    for (vault::VaultRoute& route : api.Routes()) {
      // The token, sys and PKI engines have no store, system or CA behind them here.
      if (route.pattern.rfind("/v1/auth/", 0) == 0 || route.pattern.rfind("/v1/sys/", 0) == 0 ||
          route.pattern.rfind("/v1/pki/", 0) == 0) {
        continue;
      }
      r->Handle(route.method, route.pattern, route.handler);
    }
    return r;
  }();
  return *router;
}

}  // namespace strongroom::server::testing
