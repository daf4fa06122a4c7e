#include "tests/testing/http_wire.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace strongroom::testing {

std::string WireResponse::Header(absl::string_view name) const {
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(line.substr(0, colon), name)) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

absl::StatusOr<std::unique_ptr<HttpWire>> HttpWire::Connect(int port, bool tls,
                                                            absl::Duration timeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError("connect");
  }
  if (!tls) return std::unique_ptr<HttpWire>(new HttpWire(fd, nullptr, nullptr));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  timeval tv{static_cast<time_t>(absl::ToInt64Seconds(timeout)), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::unique_ptr<HttpWire> wire(new HttpWire(fd, ctx, ssl));
  if (SSL_connect(ssl) != 1) return absl::UnavailableError("TLS handshake failed");
  return wire;
}

HttpWire::~HttpWire() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  close(fd_);
}

absl::Status HttpWire::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    int n = ssl_ != nullptr ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                            : static_cast<int>(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL));
    if (n <= 0) return absl::UnavailableError("write failed");
    bytes.remove_prefix(n);
  }
  return absl::OkStatus();
}

bool HttpWire::Fill(absl::Time deadline, bool* timed_out) {
  *timed_out = false;
  char chunk[16384];
  while (true) {
    if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        *timed_out = true;
        return false;
      }
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (r == 0) continue;
      if (r < 0) return false;
    }
    int n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof(chunk))
                            : static_cast<int>(recv(fd_, chunk, sizeof(chunk), 0));
    if (n > 0) {
      buffer_.append(chunk, n);
      return true;
    }
    if (ssl_ != nullptr && n < 0) {
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ) continue;
    }
    return false;
  }
}

absl::StatusOr<WireResponse> HttpWire::Read(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  while (true) {
    size_t end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      WireResponse response;
      response.head = buffer_.substr(0, end);
      std::vector<absl::string_view> words = absl::StrSplit(response.head, ' ');
      if (words.size() < 2 || !absl::SimpleAtoi(words[1], &response.status)) {
        return absl::DataLossError("bad status line");
      }
      if (response.status == 100) {  // interim: skip it
        buffer_.erase(0, end + 4);
        continue;
      }
      size_t length = 0;
      if (!absl::SimpleAtoi(response.Header("content-length"), &length)) length = 0;
      while (buffer_.size() < end + 4 + length) {
        if (!Fill(deadline, &timed_out)) {
          return timed_out ? absl::DeadlineExceededError("response body")
                           : absl::UnavailableError("closed in the body");
        }
      }
      response.body = buffer_.substr(end + 4, length);
      response.close = absl::EqualsIgnoreCase(response.Header("connection"), "close");
      buffer_.erase(0, end + 4 + length);
      return response;
    }
    if (!Fill(deadline, &timed_out)) {
      return timed_out ? absl::DeadlineExceededError("response head")
                       : absl::UnavailableError("closed");
    }
  }
}

bool HttpWire::ClosedWithin(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  while (Fill(deadline, &timed_out)) buffer_.clear();
  return !timed_out;
}

std::string HttpRequestBytes(absl::string_view method, absl::string_view path,
                             absl::string_view body, absl::string_view extra) {
  return absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ",
                      body.size(), "\r\n", extra, "\r\n", body);
}

}  // namespace strongroom::testing
