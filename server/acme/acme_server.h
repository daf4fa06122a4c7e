// AcmeServer: the ACME service as configured (pki.acme in the server config): the store,
// the challenge validator and the service over one pki::Ca and Storage. strongroomd serves
// Routes() on its HTTPS listener through the access gate without credentials.
#pragma once

#include <memory>
#include <vector>

#include "kms/storage.h"
#include "pki/ca.h"
#include "server/acme/acme_service.h"
#include "server/acme/acme_store.h"
#include "server/acme/challenge_validator.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::acme {

class AcmeServer {
 public:
  // `pki` has its defaults applied (server/config.h). `ca` and `storage` outlive this.
  AcmeServer(const v1::PkiConfig& pki, pki::Ca* ca, kms::Storage* storage);

  std::vector<AcmeRoute> Routes() { return service_.Routes(); }

 private:
  AcmeStore store_;
  ChallengeValidator validator_;
  AcmeService service_;
};

}  // namespace strongroom::server::acme
