// AcmeServer: the ACME service as configured (pki.acme in the server config): the store,
// the challenge validator and its queue, the EAB keys and the service over one pki::Ca,
// Storage and Barrier. strongroomd serves Routes() on its HTTPS listener through the access
// gate: without credentials, except those marked authenticated (new-eab).
#pragma once

#include <memory>
#include <vector>

#include "kms/barrier.h"
#include "kms/storage.h"
#include "pki/ca.h"
#include "server/acme/acme_service.h"
#include "server/acme/acme_store.h"
#include "server/acme/challenge_validator.h"
#include "server/acme/external_account.h"
#include "server/acme/validation_queue.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::acme {

class AcmeServer {
 public:
  // `pki` has its defaults applied (server/config.h). `ca`, `storage` and `barrier`
  // outlive this.
  AcmeServer(const v1::PkiConfig& pki, pki::Ca* ca, kms::Storage* storage,
             kms::Barrier* barrier);

  std::vector<AcmeRoute> Routes() { return service_.Routes(); }
  // For metrics (strongroom_bounded_entries{structure="acme_validation_queue"}).
  const ValidationQueue& validations() const { return validations_; }
  // For metrics: "acme_write_queue" and "acme_rate_buckets".
  size_t queued_writes() const { return store_.queued_writes(); }
  size_t rate_buckets() const { return service_.rate_buckets(); }

 private:
  AcmeStore store_;
  ChallengeValidator validator_;
  ValidationQueue validations_;
  ExternalAccounts external_accounts_;
  AcmeService service_;
};

}  // namespace strongroom::server::acme
