// HttpWire: a raw HTTP/1.1 client connection for tests and the benchmark, over TLS
// (OpenSSL, certificate not verified: tests use throwaway certificates) or plain TCP to
// 127.0.0.1. It sends exactly the bytes it is given and reads responses as the server
// framed them, so tests can send what no well-behaved client library would: pipelined
// requests, malformed framing, trickled bytes. Not thread-safe.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace strongroom::testing {

struct WireResponse {
  int status = 0;
  std::string head;  // status line and headers, lower-cased names as sent
  std::string body;
  bool close = false;  // "Connection: close"
  std::string Header(absl::string_view name) const;  // case-insensitive; "" if absent
};

class HttpWire {
 public:
  static absl::StatusOr<std::unique_ptr<HttpWire>> Connect(int port, bool tls,
                                                           absl::Duration timeout = absl::Seconds(10));
  ~HttpWire();
  HttpWire(const HttpWire&) = delete;
  HttpWire& operator=(const HttpWire&) = delete;

  absl::Status Send(absl::string_view bytes);
  // Reads one response (Content-Length framed; the server never sends others).
  // DEADLINE_EXCEEDED after `timeout`, UNAVAILABLE if the server closed first.
  absl::StatusOr<WireResponse> Read(absl::Duration timeout = absl::Seconds(10));
  // Whether the server closes the connection (EOF, reset or TLS close) within `timeout`,
  // discarding whatever it sends first.
  bool ClosedWithin(absl::Duration timeout);

 private:
  HttpWire(int fd, SSL_CTX* ctx, SSL* ssl) : fd_(fd), ctx_(ctx), ssl_(ssl) {}
  // Reads more bytes into buffer_; false on EOF/error/timeout (sets *timed_out).
  bool Fill(absl::Time deadline, bool* timed_out);

  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  std::string buffer_;
};

// "POST /path HTTP/1.1" with Host, Content-Length and `extra` header lines ("Name: v\r\n").
std::string HttpRequestBytes(absl::string_view method, absl::string_view path,
                             absl::string_view body = "", absl::string_view extra = "");

}  // namespace strongroom::testing
