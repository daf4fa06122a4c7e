// Config: strongroomd's effective configuration — the YAML file (if any) over the
// embedded defaults, with every relative path resolved against state_dir.
//
// LoadConfig("") gives the embedded defaults: SoftHSM2 module, token "strongroom", PIN in
// <state_dir>/hsm.pin, SQLite in <state_dir>/strongroom.db, gRPC on 127.0.0.1:7400 with a
// self-signed certificate under <state_dir>/tls. Errors are INVALID_ARGUMENT with one line
// naming the file, the line and the key (`strongroom.yaml:4: grpc.address: ...`), or
// NOT_FOUND/PERMISSION_DENIED naming the file that cannot be read.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "server/state_dir.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server {

absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path);

}  // namespace strongroom::server
