// Fuzzes the HTTP listener with raw request bytes: cpp-httplib's request parser (request
// line, headers, query, chunked and sized bodies, keep-alive; Debian's library, so its own
// code runs uninstrumented) and Strongroom's side of it, the handler HttpServer installs
// (internal::InstallRouter) and HttpRouter's dispatch to the Vault API routes over the real
// transit engine. As on a connection, the input may hold several requests.
#include <httplib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "server/http/server.h"
#include "server/testing/fuzz_transit.h"

namespace strongroom::server {
namespace {

// A connection whose client sends the fuzz input and then closes; replies are dropped.
class InputStream : public httplib::Stream {
 public:
  InputStream(const uint8_t* data, size_t size) : data_(data), left_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, left_);
    std::memcpy(ptr, data_, n);
    data_ += n;
    left_ -= n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char*, size_t size) override { return static_cast<ssize_t>(size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40112;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8200;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  size_t left() const { return left_; }

 private:
  const uint8_t* data_;
  size_t left_;
};

// Serves one connection's requests the way SSLServer does once TLS is set up.
class ConnectionServer : public httplib::Server {
 public:
  void Serve(InputStream& stream) {
    // cpp-httplib's default keep-alive bound (CPPHTTPLIB_KEEPALIVE_MAX_COUNT).
    for (int count = 5; count > 0 && stream.left() > 0; --count) {
      bool closed = false;
      if (!process_request(stream, /*close_connection=*/count == 1, closed, nullptr) || closed) {
        break;
      }
    }
  }
};

ConnectionServer& Server() {
  static ConnectionServer* const server = [] {
    auto* s = new ConnectionServer;
    internal::InstallRouter(&testing::FuzzVaultRouter(), s);
    return s;
  }();
  return *server;
}

}  // namespace
}  // namespace strongroom::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  strongroom::server::InputStream stream(data, size);
  strongroom::server::Server().Serve(stream);
  return 0;
}
