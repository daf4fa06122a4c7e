// Test-only helpers for the CLI's tests: self-signed TLS identities made in the test, files
// under TEST_TMPDIR, and an in-process gRPC server that serves one service over TLS on
// 127.0.0.1 (what strongroomd looks like to the CLI).
//
// Failures to make a certificate are reported as gtest failures (ADD_FAILURE/EXPECT), so
// these helpers are for use inside tests only.
#pragma once

#include <memory>
#include <string>

#include "grpcpp/impl/service_type.h"
#include "grpcpp/server.h"

namespace strongroom::cli::testing {

// A certificate and its unencrypted private key, both PEM.
struct Identity {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed P-256 certificate for common name `cn` with the given subjectAltName
// (OpenSSL config syntax, e.g. "DNS:localhost,IP:127.0.0.1"), valid for an hour, usable
// for both server and client authentication; like the one strongroomd writes on first start.
Identity SelfSigned(const std::string& cn, const std::string& san);

// SelfSigned for "localhost", 127.0.0.1 and ::1.
Identity LocalhostIdentity();

// Writes `contents` (bytes, unchanged) to $TEST_TMPDIR/<name> (or /tmp/<name>), replacing
// any file there, and returns its path.
std::string WriteTestFile(const std::string& name, const std::string& contents);

// Serves `service` over TLS as `identity` on 127.0.0.1 at a port the system picks. With
// `client_ca`, clients must present a certificate it signed. `max_receive_bytes` > 0 raises
// (or lowers) gRPC's 4 MiB limit on a request. `service` must outlive the server; the
// destructor shuts the server down, cancelling calls in flight.
class TlsTestServer {
 public:
  TlsTestServer(const Identity& identity, grpc::Service* service, const std::string& client_ca = "",
                int max_receive_bytes = 0);
  ~TlsTestServer();
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  // False if the server could not start.
  bool ok() const { return server_ != nullptr && port_ > 0; }
  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string addr() const;

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace strongroom::cli::testing
