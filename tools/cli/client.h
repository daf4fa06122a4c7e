// The strongroom CLI's connection to strongroomd: options, a TLS channel, and one-line
// explanations of failed calls. Shared by every subcommand group (see system_commands.h).
//
// Options come from flags, then the environment, then defaults (ApplyEnvironmentDefaults).
// Connect() checks the CA file and the optional client certificate before dialling, so a
// misconfiguration is reported with the file and the flag/variable to fix; Explain() turns
// gRPC failures (server down, untrusted certificate, timeout) into a line a person can act
// on. Nothing here prints or returns private key bytes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace strongroom::cli {

inline constexpr char kDefaultAddr[] = "127.0.0.1:7400";

struct ClientOptions {
  std::string addr;       // host:port, [v6]:port or a gRPC target such as dns:///host:port
  std::string ca_file;    // PEM bundle that must vouch for the server's certificate
  std::string cert_file;  // optional PEM client certificate; requires key_file
  std::string key_file;   // optional unencrypted PEM private key; requires cert_file
  // Optional file holding a strongroomd token (one line). When it is empty, the token
  // comes from STRONGROOM_TOKEN, if set. Never the token itself: tokens stay off argv.
  std::string token_file;
  absl::Duration timeout = absl::Seconds(10);  // deadline of each call
};

// The flags every subcommand sees. main() fills it while parsing; subcommand callbacks run
// afterwards, when ApplyEnvironmentDefaults() has completed `client`.
struct GlobalOptions {
  ClientOptions client;
  bool json = false;  // print replies as protobuf JSON instead of aligned fields
};

// Fills each empty field of `options` from STRONGROOM_ADDR, STRONGROOM_CACERT,
// STRONGROOM_CLIENT_CERT and STRONGROOM_CLIENT_KEY, then addr and ca_file from the
// defaults (127.0.0.1:7400 and <server::DefaultStateDir()>/tls/server.crt). Fields already set
// (flags) are kept; empty variables count as unset. token_file comes from
// STRONGROOM_TOKEN_FILE only when STRONGROOM_TOKEN is unset (so the order is --token-file,
// STRONGROOM_TOKEN, STRONGROOM_TOKEN_FILE).
void ApplyEnvironmentDefaults(ClientOptions* options);

// Reads and checks the CA file and, if given, the client certificate and key (both or
// neither; they must match), and returns a TLS channel to options.addr. Does not dial: an
// unreachable server shows up on the first call. When the host of addr is 127.0.0.1, ::1
// or localhost, the server's certificate is checked against the name "localhost" (what
// strongroomd's self-signed certificate carries). Errors name the file and the flag and
// environment variable that set it.
//
// With a token (options.token_file, else STRONGROOM_TOKEN) every call on the channel
// carries the metadata "authorization: Bearer <token>" (gRPC call credentials, sent only
// over the TLS channel). The token must be one line of printable ASCII; errors name its
// source, never its bytes.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ClientOptions& options);

// One line for a failed call (OK stays OK; the absl code mirrors the gRPC code):
//   cannot reach strongroomd at <addr>: connection refused (is it running? ...)
//   TLS handshake with <addr> failed: its certificate is not trusted by <ca_file> (...)
//   strongroomd at <addr> did not answer within <timeout>
//   <CODE_NAME>: <server message>   (anything strongroomd itself returned)
// Other connection failures (name mismatch, not TLS, client certificate refused, DNS)
// get a "TLS handshake with <addr> failed: ..." or "cannot reach ..." line of their own.
absl::Status Explain(const grpc::Status& status, const ClientOptions& options);

// Runs one unary call, `rpc(context)`, under a deadline of options.timeout and returns
// Explain() of its outcome. Example:
//   CallUnary(options, [&](grpc::ClientContext* c) { return stub.GetStatus(c, req, &reply); });
absl::Status CallUnary(const ClientOptions& options,
                       const std::function<grpc::Status(grpc::ClientContext*)>& rpc);

// Human output: one "Key  Value" line per field, values aligned two spaces after the
// longest key, each line ending in '\n'. Control characters in values are escaped, so a
// server cannot drive the terminal.
std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields);

// Machine output: the proto3 JSON mapping of `message` (lowerCamelCase names, fields with
// default values included), indented, ending in '\n'.
absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& message);

}  // namespace strongroom::cli
