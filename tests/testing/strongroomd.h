// The real strongroomd for end-to-end tests: start it, learn its ports, reach it over gRPC.
//
// StartStrongroomd() runs the runfile server/strongroomd with `--config` in a Process and
// waits for its startup line "listening on 127.0.0.1:<port>" (and, if asked, the line
// "HTTP listening on https://127.0.0.1:<port>"); a port of 0 means it did not come up, and
// the caller asserts with server.output() as the reason. The server writes its bootstrap
// root token to <state_dir>/root-token and its self-signed certificate (for "localhost") to
// <state_dir>/tls/server.crt; RootToken() and ServerChannel() read them. No assertions here:
// every check stays in the test. Test-only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "tests/testing/process.h"

namespace strongroom::testing {

// The whole content of a file, or "" if it cannot be read.
std::string ReadAll(const std::string& path);

// The port that follows `marker` in `text`, or 0.
int PortAfter(const std::string& text, const std::string& marker);

// The startup lines that carry the ports.
inline constexpr char kGrpcListening[] = "listening on 127.0.0.1:";
inline constexpr char kHttpListening[] = "HTTP listening on https://127.0.0.1:";

// Waits (up to 30 s) for `marker` in the output of `server`; the port after it, or 0.
int WaitForPort(Process& server, const std::string& marker);

struct StrongroomdPorts {
  int grpc = 0;
  int http = 0;  // 0 unless asked for
};

// Starts strongroomd with `config` in `server` and waits for its gRPC port and, if `http`,
// its HTTP port.
StrongroomdPorts StartStrongroomd(Process& server, const std::string& config, bool http = false);

// <state_dir>/tls/server.crt: the server's certificate, the CA its clients trust.
std::string ServerCert(const std::string& state_dir);

// The bootstrap root token in <state_dir>/root-token, trailing whitespace stripped.
std::string RootToken(const std::string& state_dir);

// A TLS channel to 127.0.0.1:<port> trusting ServerCert(state_dir) with target name
// "localhost"; with `token` as a bearer token (grpc::AccessTokenCredentials) unless empty,
// and with the client certificate `client_cert_pem`/`client_key_pem` unless empty.
std::shared_ptr<grpc::Channel> ServerChannel(const std::string& state_dir, int port,
                                             const std::string& token = "",
                                             const std::string& client_cert_pem = "",
                                             const std::string& client_key_pem = "");

}  // namespace strongroom::testing
