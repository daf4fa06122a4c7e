// AcmeClient: strongroom-bench's own RFC 8555 client, one account on one keep-alive HTTPS
// connection to strongroomd (tests/testing/http_wire.h, certificate not verified: the
// bench's server is throwaway). Its account key is a fresh ES256 (P-256) key; requests are
// flattened JWS with the JWK (newAccount) or the account URL as kid, each with the nonce
// of the previous reply (one badNonce is retried with the fresh nonce it carries).
//
// Order() runs one complete order for one DNS name: newOrder, the http-01 challenge
// (answered through an Http01Responder the caller runs where the server's
// validation_overrides point), polling until the order is ready, finalize with a fresh
// P-256 CSR, polling until valid, and the certificate download. It fails with the step and
// the server's problem document; nothing it does is retried beyond the one badNonce.
// Not thread-safe: one client per thread. Benchmark-only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hsm/openssl_ptr.h"
#include "tests/testing/http_wire.h"

namespace strongroom::bench {

// Http01Responder: a plain-HTTP server on 127.0.0.1:`port` answering
// GET /.well-known/acme-challenge/<token> with the key authorization registered for the
// token (404 otherwise), one connection at a time, "Connection: close". Thread-safe.
class Http01Responder {
 public:
  static absl::StatusOr<std::unique_ptr<Http01Responder>> Start(int port);
  ~Http01Responder();  // stops listening and joins its thread

  void Answer(const std::string& token, const std::string& key_authorization);
  void Forget(const std::string& token);

 private:
  explicit Http01Responder(int fd);
  void Serve();
  void Reply(int conn);

  const int fd_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::string> answers_ ABSL_GUARDED_BY(mu_);
};

// A DER PKCS#10 request for `dns_name` (as CN and as the one dNSName SAN) signed by a fresh
// P-256 key, which is discarded: the bench never uses the certificates it obtains.
absl::StatusOr<std::string> NewCsrDer(const std::string& dns_name);

class AcmeClient {
 public:
  // Reads the directory at `directory_path` (e.g. /v1/pki/roles/r/acme/directory) and
  // creates an account with a new key.
  static absl::StatusOr<std::unique_ptr<AcmeClient>> Create(int https_port,
                                                            const std::string& directory_path,
                                                            Http01Responder* responder);

  // One complete order for `dns_name`; the certificate chain (PEM) on success.
  absl::StatusOr<std::string> Order(const std::string& dns_name);

  // HTTP requests sent so far (every POST and GET, retries included).
  uint64_t requests() const { return requests_; }

 private:
  AcmeClient(int port, hsm::EvpPkeyPtr key, Http01Responder* responder);

  // A signed POST to `url` (absolute, as the server gave it) with `payload` (JSON; "" for
  // POST-as-GET); the reply, whatever its status, or UNAVAILABLE if the connection failed.
  absl::StatusOr<testing::WireResponse> Post(const std::string& url, const std::string& payload);
  absl::StatusOr<testing::WireResponse> Send(const std::string& request);
  std::string Jws(const std::string& url, const std::string& payload);
  // POST-as-GET `url` until its "status" is not one of the waiting states; the last body.
  absl::StatusOr<std::string> PollUntilSettled(const std::string& url, const char* what);

  const int port_;
  hsm::EvpPkeyPtr key_;
  Http01Responder* const responder_;
  std::unique_ptr<testing::HttpWire> wire_;
  std::string jwk_;         // the public key as an RFC 7517 JWK, members in RFC 7638 order
  std::string thumbprint_;  // base64url RFC 7638 thumbprint
  std::string kid_;         // the account URL once created
  std::string nonce_;
  std::string new_nonce_url_, new_account_url_, new_order_url_;
  uint64_t requests_ = 0;
};

}  // namespace strongroom::bench
