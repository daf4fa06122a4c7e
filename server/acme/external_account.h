// ExternalAccounts: external account binding (RFC 8555 section 7.3.4) keys, which let an
// operator decide who may create ACME accounts on a directory.
//
// Create() makes a key for a role: a random kid and a 256-bit HMAC key. The HMAC key is
// wrapped by the barrier (kms/barrier.h, under the material name "@acme-eab:<kid>", which no
// transit key can have) and committed with its EabRecord (acme_store.h); the caller shows it
// once and it is never readable again. Verify() checks a newAccount's
// "externalAccountBinding": a flattened JWS with alg HS256, the kid of an unexpired, unused
// key made for this directory's role, "url" equal to the newAccount URL, no nonce, the
// account's own public key as payload, and an HMAC-SHA256 that matches in constant time.
// Binding() gives what AcmeStore::CreateAccount needs to make the key single use: its record
// updated by compare-and-set in the account's commit, and its wrapped HMAC key deleted there.
//
// Problems: malformed for a binding that does not parse, unauthorized for everything that
// parses but does not verify (one indistinct message for a wrong kid, role, expiry, used key
// or MAC; the payload key mismatch has its own). Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "hsm/secret_data.h"
#include "kms/barrier.h"
#include "server/acme/acme_store.h"
#include "server/acme/problem.h"
#include "server/jose/jose.h"

namespace strongroom::server::acme {

// A binding JWS taken apart, its MAC not yet checked.
struct EabBinding {
  std::string kid;
  std::string url;
  std::string payload;        // decoded: the account's JWK as JSON
  std::string signing_input;  // ASCII(protected "." payload) as sent
  std::string mac;            // decoded signature
};

// The structural checks of an "externalAccountBinding" value (bounded: its parts together
// within jose::kMaxJoseInput). malformed naming the problem otherwise.
absl::StatusOr<EabBinding> ParseEabBinding(const google::protobuf::Value& binding);

class ExternalAccounts {
 public:
  // `store` and `barrier` are not owned and outlive this. Keys expire `lifetime` after
  // they are made.
  ExternalAccounts(AcmeStore* store, kms::Barrier* barrier, absl::Duration lifetime);

  struct NewKey {
    EabRecord record;
    hsm::SecretData hmac_key;  // for the one reply that shows it
  };
  // A new key for `role` (which the caller has checked exists). UNAVAILABLE while sealed.
  absl::StatusOr<NewKey> Create(absl::string_view role, absl::Time now);

  // The EAB key `binding` (the newAccount payload's "externalAccountBinding") names, if it
  // verifies for an account with `account_key` created at `url` on `role`'s directory.
  std::optional<Problem> Verify(const google::protobuf::Value& binding, absl::string_view url,
                                const jose::PublicJwk& account_key, absl::string_view role,
                                absl::Time now, Stored<EabRecord>* out);

  // The deletion of `kid`'s wrapped HMAC key, for the account's commit.
  kms::WriteBatch Consume(absl::string_view kid);

 private:
  static kms::KeyMaterialId MaterialId(absl::string_view kid);

  AcmeStore* const store_;
  kms::Barrier* const barrier_;
  const absl::Duration lifetime_;
};

}  // namespace strongroom::server::acme
