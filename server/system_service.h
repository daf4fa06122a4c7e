// SystemService: strongroom.v1.System — status, seal, unseal and KEK rotation.
//
// Reads seal state from the Barrier, token details from the Hsm, and this node's place
// among the nodes sharing the storage from the ClusterNode and ChangeWatcher; Seal/Unseal/
// RotateRootKey act on the Barrier. Every gRPC call passes the access gate; the same
// seal and unseal serve Vault's sys routes (vault::SysBackend) behind the HTTP gate. The
// objects passed in must outlive the service.
// Thread-safe.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "kms/barrier.h"
#include "kms/change_watcher.h"
#include "kms/storage.h"
#include "server/cluster_node.h"
#include "server/access/grpc_gate.h"
#include "server/http/vault/sys.h"
#include "strongroom/v1/system.grpc.pb.h"

namespace strongroom::server {

inline constexpr char kVersion[] = "0.1.0";

class SystemService final : public v1::System::CallbackService, public vault::SysBackend {
 public:
  // `cluster` and `watcher` may be null (no cluster section in the status).
  SystemService(hsm::Hsm* hsm, kms::Storage* storage, kms::Barrier* barrier,
                const ClusterNode* cluster, const kms::ChangeWatcher* watcher,
                access::GrpcGate* gate)
      : hsm_(hsm),
        storage_(storage),
        barrier_(barrier),
        cluster_(cluster),
        watcher_(watcher),
        gate_(gate),
        start_time_(absl::Now()) {}

  // The current status (also used by the health monitor and tests).
  v1::Status CurrentStatus() const override;
  v1::Status SealState() const override;
  // Seal / Unseal for an admitted caller `by` (logged by identity); the status after.
  absl::StatusOr<v1::Status> SealBy(const access::Principal& by) override;
  absl::StatusOr<v1::Status> UnsealBy(const access::Principal& by) override;

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext*, const v1::GetStatusRequest*,
                                      v1::Status* reply) override;
  grpc::ServerUnaryReactor* Seal(grpc::CallbackServerContext*, const v1::SealRequest*,
                                 v1::Status* reply) override;
  grpc::ServerUnaryReactor* Unseal(grpc::CallbackServerContext*, const v1::UnsealRequest*,
                                   v1::Status* reply) override;
  grpc::ServerUnaryReactor* RotateRootKey(grpc::CallbackServerContext*,
                                          const v1::RotateRootKeyRequest*,
                                          v1::Status* reply) override;

 private:
  hsm::Hsm* const hsm_;
  kms::Storage* const storage_;
  kms::Barrier* const barrier_;
  const ClusterNode* const cluster_;
  const kms::ChangeWatcher* const watcher_;
  access::GrpcGate* const gate_;
  const absl::Time start_time_;
};

}  // namespace strongroom::server
