#include "tools/cli/system_commands.h"

#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "strongroom/v1/system.grpc.pb.h"
#include "strongroom/v1/system.pb.h"

namespace strongroom::cli {
namespace {

using SystemCall =
    std::function<grpc::Status(v1::System::Stub&, grpc::ClientContext*, v1::Status*)>;

std::string OrDash(const std::string& value) { return value.empty() ? "-" : value; }
std::string Bool(bool value) { return value ? "true" : "false"; }

std::vector<std::pair<std::string, std::string>> StatusFields(const v1::Status& status) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("Sealed", Bool(status.sealed()));
  if (status.sealed()) fields.emplace_back("Sealed reason", OrDash(status.sealed_reason()));
  fields.emplace_back("Version", OrDash(status.version()));
  fields.emplace_back("KEK version", absl::StrCat(status.kek_version()));
  const v1::HsmInfo& hsm = status.hsm();
  fields.emplace_back("HSM module", OrDash(hsm.module()));
  fields.emplace_back("HSM token", OrDash(hsm.token_label()));
  fields.emplace_back("HSM manufacturer", OrDash(hsm.manufacturer()));
  fields.emplace_back("HSM model", OrDash(hsm.model()));
  fields.emplace_back("HSM serial", OrDash(hsm.serial_number()));
  fields.emplace_back("HSM available", Bool(hsm.available()));
  const v1::StorageInfo& storage = status.storage();
  fields.emplace_back("Storage", storage.backend().empty()
                                     ? "-"
                                     : absl::StrCat(storage.backend(), " ", storage.location(),
                                                    " (schema ", storage.schema_version(), ")"));
  if (!storage.server().empty()) fields.emplace_back("Storage server", storage.server());
  const v1::ClusterInfo& cluster = status.cluster();
  if (!cluster.node_id().empty()) {
    fields.emplace_back("Node", cluster.node_id());
    fields.emplace_back("Background lease",
                        cluster.lease_holder()
                            ? absl::StrCat("held (epoch ", cluster.lease_epoch(), ")")
                            : absl::StrCat("held by ", OrDash(cluster.lease_holder_id())));
    std::vector<std::string> live;
    for (const v1::ClusterNode& node : cluster.live_nodes()) live.push_back(node.node_id());
    fields.emplace_back("Live nodes", live.empty() ? "-" : absl::StrJoin(live, ", "));
    fields.emplace_back("Cache age", absl::StrCat(cluster.cache_age_ms(), " ms"));
    if (!cluster.error().empty()) fields.emplace_back("Cluster error", cluster.error());
  }
  std::string started = "-";
  if (status.has_start_time()) {
    absl::Time t = absl::FromUnixSeconds(status.start_time().seconds());
    started = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
  }
  fields.emplace_back("Started", started);
  return fields;
}

absl::Status Print(const v1::Status& status, bool json) {
  std::string text;
  if (json) {
    absl::StatusOr<std::string> formatted = FormatJson(status);
    if (!formatted.ok()) return formatted.status();
    text = *std::move(formatted);
  } else {
    text = FormatFields(StatusFields(status));
  }
  std::cout << text << std::flush;
  if (!std::cout) return absl::UnavailableError("cannot write to standard output");
  return absl::OkStatus();
}

absl::Status Run(const GlobalOptions& options, const SystemCall& call) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options.client);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<v1::System::Stub> stub = v1::System::NewStub(*channel);
  v1::Status reply;
  absl::Status status = CallUnary(
      options.client, [&](grpc::ClientContext* context) { return call(*stub, context, &reply); });
  if (!status.ok()) return status;
  return Print(reply, options.json);
}

void Add(CLI::App& app, const std::string& name, const std::string& description,
         const GlobalOptions& options, SystemCall call) {
  app.add_subcommand(name, description)->callback([&options, call = std::move(call)] {
    absl::Status status = Run(options, call);
    if (!status.ok()) throw CLI::RuntimeError(std::string(status.message()), 1);
  });
}

}  // namespace

void AddSystemCommands(CLI::App& app, const GlobalOptions& options) {
  Add(app, "status", "Show seal state, HSM token, storage and KEK version", options,
      [](v1::System::Stub& stub, grpc::ClientContext* context, v1::Status* reply) {
        return stub.GetStatus(context, v1::GetStatusRequest(), reply);
      });
  Add(app, "seal", "Drop every cached key and log out of the HSM (idempotent)", options,
      [](v1::System::Stub& stub, grpc::ClientContext* context, v1::Status* reply) {
        return stub.Seal(context, v1::SealRequest(), reply);
      });
  Add(app, "unseal", "Log in to the HSM and load the KEK (idempotent)", options,
      [](v1::System::Stub& stub, grpc::ClientContext* context, v1::Status* reply) {
        return stub.Unseal(context, v1::UnsealRequest(), reply);
      });
  Add(app, "rotate-root-key", "Create a new KEK in the HSM and re-wrap every stored key", options,
      [](v1::System::Stub& stub, grpc::ClientContext* context, v1::Status* reply) {
        return stub.RotateRootKey(context, v1::RotateRootKeyRequest(), reply);
      });
}

}  // namespace strongroom::cli
