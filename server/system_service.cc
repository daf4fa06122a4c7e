#include "server/system_service.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "server/access/grpc_gate.h"
#include "server/log.h"

namespace strongroom::server {

v1::Status SystemService::CurrentStatus() const {
  v1::Status status;
  kms::Barrier::State state = barrier_->state();
  status.set_sealed(state.sealed);
  status.set_sealed_reason(state.sealed_reason);
  status.set_kek_version(state.kek_version);
  status.set_version(kVersion);
  v1::HsmInfo* info = status.mutable_hsm();
  const hsm::TokenInfo& token = hsm_->token_info();
  info->set_module(hsm_->module_path());
  info->set_token_label(token.label);
  info->set_manufacturer(token.manufacturer);
  info->set_model(token.model);
  info->set_serial_number(token.serial_number);
  info->set_library_description(token.library_description);
  absl::Status health = hsm_->health();
  info->set_available(!absl::IsUnavailable(health) && !absl::IsPermissionDenied(health));
  if (!state.sealed && !info->available()) {
    status.set_sealed_reason(absl::StrCat("HSM unavailable: ", health.message()));
  }
  v1::StorageInfo* storage = status.mutable_storage();
  storage->set_backend(storage_->Backend());
  storage->set_location(storage_->Location());
  storage->set_schema_version(storage_->SchemaVersion());
  storage->set_server(storage_->Server());
  if (cluster_ != nullptr && watcher_ != nullptr) {  // null in tests of the HTTP routes
    v1::ClusterInfo* cluster = status.mutable_cluster();
    const ClusterNode::View view = cluster_->view();
    cluster->set_node_id(view.node_id);
    cluster->set_lease_holder(view.lease.held);
    cluster->set_lease_holder_id(view.lease.holder);
    cluster->set_lease_epoch(static_cast<uint64_t>(view.lease.epoch));
    for (const kms::NodeSeen& seen : view.live) {
      v1::ClusterNode* node = cluster->add_live_nodes();
      node->set_node_id(seen.node_id);
      node->set_address(seen.detail);
      node->set_seen_ms_ago(static_cast<uint64_t>(absl::ToInt64Milliseconds(seen.since_seen)));
    }
    const absl::Duration age = watcher_->Age();
    cluster->set_cache_age_ms(age == absl::InfiniteDuration()
                                  ? std::numeric_limits<uint64_t>::max()
                                  : static_cast<uint64_t>(absl::ToInt64Milliseconds(age)));
    std::string error = view.error;
    if (error.empty()) error = watcher_->last_error();
    cluster->set_error(error);
  }
  status.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start_time_));
  return status;
}

v1::Status SystemService::SealState() const {
  v1::Status status;
  status.set_sealed(barrier_->sealed());
  status.set_version(kVersion);
  status.mutable_storage()->set_backend(storage_->Backend());
  return status;
}

absl::StatusOr<v1::Status> SystemService::SealBy(const access::Principal& by) {
  barrier_->Seal("sealed by operator");
  LogInfo(absl::StrCat("sealed by ", by.identity, ": cached keys dropped, logged out of the HSM"));
  return CurrentStatus();
}

absl::StatusOr<v1::Status> SystemService::UnsealBy(const access::Principal& by) {
  if (absl::Status s = barrier_->Unseal(); !s.ok()) {
    LogWarning(absl::StrCat("unseal failed: ", s.message()));
    return s;
  }
  LogInfo(absl::StrCat("unsealed by ", by.identity));
  return CurrentStatus();
}

grpc::ServerUnaryReactor* SystemService::GetStatus(grpc::CallbackServerContext* context,
                                                   const v1::GetStatusRequest* request,
                                                   v1::Status* reply) {
  static const access::Route& route = access::RouteOrDie("/strongroom.v1.System/GetStatus");
  return gate_->Serve(
      context, route, *request, reply,
      [this](const access::Gate::Call&) -> absl::StatusOr<v1::Status> { return CurrentStatus(); });
}

grpc::ServerUnaryReactor* SystemService::Seal(grpc::CallbackServerContext* context,
                                              const v1::SealRequest* request, v1::Status* reply) {
  static const access::Route& route = access::RouteOrDie("/strongroom.v1.System/Seal");
  return gate_->Serve(context, route, *request, reply,
                      [this](const access::Gate::Call& call) { return SealBy(call.principal()); });
}

grpc::ServerUnaryReactor* SystemService::Unseal(grpc::CallbackServerContext* context,
                                                const v1::UnsealRequest* request,
                                                v1::Status* reply) {
  static const access::Route& route = access::RouteOrDie("/strongroom.v1.System/Unseal");
  return gate_->Serve(
      context, route, *request, reply,
      [this](const access::Gate::Call& call) { return UnsealBy(call.principal()); });
}

grpc::ServerUnaryReactor* SystemService::RotateRootKey(grpc::CallbackServerContext* context,
                                                       const v1::RotateRootKeyRequest* request,
                                                       v1::Status* reply) {
  static const access::Route& route = access::RouteOrDie("/strongroom.v1.System/RotateRootKey");
  return gate_->Serve(
      context, route, *request, reply,
      [this](const access::Gate::Call& call) -> absl::StatusOr<v1::Status> {
        absl::StatusOr<uint32_t> version = barrier_->RotateKek();
        if (!version.ok()) {
          LogWarning(absl::StrCat("KEK rotation failed: ", version.status().message()));
          return version.status();
        }
        LogInfo(absl::StrCat("KEK rotated to ", kms::Barrier::KekLabel(*version), " by ",
                             call.principal().identity));
        return CurrentStatus();
      });
}

}  // namespace strongroom::server
