// SysApi: Vault's sys routes, as far as they map onto Strongroom.
//
//   GET      /v1/sys/health             200 unsealed, 503 sealed; Vault's *code query
//                                       parameters override those (sealedcode, activecode;
//                                       the standby/replication ones never apply), each a
//                                       final status 200-599 other than 204/304, else 400
//   GET      /v1/sys/seal-status        Vault's seal-status shape; type "pkcs11" (the HSM
//                                       unseals), no key shares (t = n = 0)
//   POST|PUT /v1/sys/seal               System.Seal; 204
//   POST|PUT /v1/sys/unseal             System.Unseal; the seal status. Strongroom has no
//                                       Shamir key shares, so a body with "key" is a 400
//                                       saying so ("reset" is accepted: there is nothing
//                                       to reset)
//   GET      /v1/sys/mounts             the transit and pki engines, read-only
//   POST|PUT|DELETE /v1/sys/mounts/{path...}, POST|PUT /v1/sys/remount
//                                       400: the mounts are fixed
//
// Authorization is the access gate's (server/access/routes.cc). Health and seal-status never
// block (SysBackend::SealState). Thread-safe.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "server/access/principal.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"
#include "strongroom/v1/system.pb.h"

namespace strongroom::server::vault {

// The system operations the routes need (the server's SystemService).
class SysBackend {
 public:
  virtual ~SysBackend() = default;
  virtual v1::Status CurrentStatus() const = 0;
  // The part of CurrentStatus that health and seal-status answer with (sealed, version,
  // storage backend), read from memory only: it never waits on the HSM or storage, since
  // those routes run on the HTTP server's I/O thread (access::Route never_blocks).
  virtual v1::Status SealState() const = 0;
  // System.Seal / System.Unseal on behalf of `by`; the status after.
  virtual absl::StatusOr<v1::Status> SealBy(const access::Principal& by) = 0;
  virtual absl::StatusOr<v1::Status> UnsealBy(const access::Principal& by) = 0;
};

class SysApi {
 public:
  // `system` is not owned and must outlive the routes.
  explicit SysApi(SysBackend* system) : system_(system) {}

  std::vector<VaultRoute> Routes() const;

  HttpResponse Health(const HttpRequest& request) const;
  HttpResponse SealStatus(const HttpRequest& request) const;
  HttpResponse Seal(const HttpRequest& request) const;
  HttpResponse Unseal(const HttpRequest& request) const;
  HttpResponse Mounts(const HttpRequest& request) const;
  HttpResponse MountWrite(const HttpRequest& request) const;

 private:
  SysBackend* const system_;
};

}  // namespace strongroom::server::vault
