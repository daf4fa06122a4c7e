#include "tools/cli/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "hsm/openssl_ptr.h"
#include "hsm/secret_data.h"
#include "server/state_dir.h"

namespace strongroom::cli {
namespace {

constexpr size_t kMaxPemFileBytes = 1 << 20;

// Where each file option comes from, for error messages.
constexpr char kCaSource[] = "--ca-file or STRONGROOM_CACERT";
constexpr char kCertSource[] = "--cert or STRONGROOM_CLIENT_CERT";
constexpr char kKeySource[] = "--key or STRONGROOM_CLIENT_KEY";
constexpr char kTokenFileSource[] = "--token-file or STRONGROOM_TOKEN_FILE";
constexpr char kTokenVariable[] = "STRONGROOM_TOKEN";
constexpr size_t kMaxTokenBytes = 4096;

using hsm::BioPtr;
using hsm::EvpPkeyPtr;
using hsm::X509Ptr;

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Reads a whole (small) file into `out`. Errors: "<what> <path>: <reason> (set <source>)".
absl::Status ReadSmallFile(const std::string& path, absl::string_view what,
                           absl::string_view source, std::string* out) {
  auto fail = [&](absl::string_view reason) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, ": ", reason, " (set ", source, ")"));
  };
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return err == ENOENT ? fail("no such file") : fail(absl::AsciiStrToLower(strerror(err)));
  }
  out->clear();
  // Sized up front, so that appending never moves (and leaves behind) a key's bytes.
  struct stat info;
  if (fstat(fd, &info) == 0 && info.st_size > 0 &&
      static_cast<uint64_t>(info.st_size) <= kMaxPemFileBytes) {
    out->reserve(static_cast<size_t>(info.st_size));
  }
  char buf[16384];
  absl::Status status = absl::OkStatus();
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = fail(absl::AsciiStrToLower(strerror(errno)));
      break;
    }
    if (n == 0) break;
    if (out->size() + n > kMaxPemFileBytes) {
      status = fail("larger than 1 MiB, not a PEM file");
      break;
    }
    out->append(buf, n);
  }
  close(fd);
  OPENSSL_cleanse(buf, sizeof(buf));
  if (!status.ok()) hsm::CleanseString(out);
  return status;
}

BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// Never prompts for a passphrase: encrypted keys fail to load instead.
int NoPassphrase(char*, int, int, void*) { return -1; }

// Counts the PEM certificates in `pem`; leaves OpenSSL's error queue empty.
int CountCertificates(const std::string& pem) {
  int count = 0;
  BioPtr bio = MemBio(pem);
  while (bio != nullptr) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) break;
    ++count;
  }
  ERR_clear_error();
  return count;
}

// Checks that cert_pem holds a certificate and key_pem the matching unencrypted key.
absl::Status CheckClientIdentity(const ClientOptions& options, const std::string& cert_pem,
                                 const std::string& key_pem) {
  BioPtr cert_bio = MemBio(cert_pem);
  X509Ptr cert(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr)
                        : nullptr);
  BioPtr key_bio = MemBio(key_pem);
  EvpPkeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr)
                         : nullptr);
  bool match = cert != nullptr && key != nullptr && X509_check_private_key(cert.get(), key.get());
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("client certificate ", options.cert_file,
                                                      ": no PEM certificate in it (set ",
                                                      kCertSource, ")"));
  }
  if (key == nullptr) {
    absl::string_view reason = absl::StrContains(key_pem, "ENCRYPTED")
                                   ? "the key is encrypted; give an unencrypted PEM key"
                                   : "no PEM private key in it";
    return absl::FailedPreconditionError(
        absl::StrCat("client key ", options.key_file, ": ", reason, " (set ", kKeySource, ")"));
  }
  if (!match) {
    return absl::FailedPreconditionError(absl::StrCat("client certificate ", options.cert_file,
                                                      " does not match key ", options.key_file));
  }
  return absl::OkStatus();
}

// The host part of a gRPC target: "h:p", "[v6]:p", "dns:///h:p", "ipv4:h:p", "ipv6:[v6]:p".
std::string TargetHost(absl::string_view target) {
  if (absl::ConsumePrefix(&target, "dns://")) {
    // dns://[authority]/host:port
    size_t slash = target.find('/');
    target.remove_prefix(slash == absl::string_view::npos ? 0 : slash + 1);
  } else {
    for (absl::string_view scheme : {"dns:", "ipv4:", "ipv6:"}) {
      if (absl::ConsumePrefix(&target, scheme)) break;
    }
  }
  if (absl::ConsumePrefix(&target, "[")) {
    return std::string(target.substr(0, target.find(']')));
  }
  size_t colon = target.find(':');
  if (colon != absl::string_view::npos && target.find(':', colon + 1) == absl::string_view::npos) {
    return std::string(target.substr(0, colon));  // host:port
  }
  return std::string(target);  // no port, or a bare IPv6 address
}

// Sends "authorization: Bearer <token>" with every call. Holds the token for the life of
// the channel and wipes it afterwards.
class BearerTokenPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit BearerTokenPlugin(absl::string_view token) : header_(kBearer.size() + token.size()) {
    absl::Span<uint8_t> header = header_.MutableSecret();
    std::memcpy(header.data(), kBearer.data(), kBearer.size());
    std::memcpy(header.data() + kBearer.size(), token.data(), token.size());
  }
  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "strongroom-bearer-token"; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    metadata->emplace("authorization", std::string(header_.RevealSecretAsString()));
    return grpc::Status::OK;
  }
  grpc::string DebugString() override { return "strongroom bearer token (not shown)"; }

 private:
  static constexpr absl::string_view kBearer = "Bearer ";
  hsm::SecretData header_;
};

// The token to send, from options.token_file or STRONGROOM_TOKEN; empty if neither is set.
absl::Status ReadToken(const ClientOptions& options, std::string* token) {
  std::string source;
  if (!options.token_file.empty()) {
    if (absl::Status s =
            ReadSmallFile(options.token_file, "token file", kTokenFileSource, token);
        !s.ok()) {
      return s;
    }
    source = absl::StrCat("token file ", options.token_file, " (set ", kTokenFileSource, ")");
  } else {
    const char* value = std::getenv(kTokenVariable);
    if (value == nullptr || *value == '\0') return absl::OkStatus();
    token->assign(value);
    source = kTokenVariable;
  }
  // One line: a trailing newline (and surrounding blanks) is allowed, nothing else.
  absl::string_view trimmed = absl::StripAsciiWhitespace(*token);
  auto fail = [&](absl::string_view reason) {
    hsm::CleanseString(token);
    return absl::FailedPreconditionError(absl::StrCat(source, ": ", reason));
  };
  if (trimmed.empty()) return fail("empty; want a strongroomd token");
  if (trimmed.size() > kMaxTokenBytes) return fail("longer than 4 KiB; not a strongroomd token");
  for (char c : trimmed) {
    if (c < 0x21 || c > 0x7e) {
      return fail("holds characters a token cannot have (want one line of printable ASCII)");
    }
  }
  std::string exact(trimmed);
  token->swap(exact);
  hsm::CleanseString(&exact);
  return absl::OkStatus();
}

bool IsLoopbackName(absl::string_view host) {
  return host == "127.0.0.1" || host == "::1" || absl::EqualsIgnoreCase(host, "localhost");
}

// gRPC messages may span lines; the CLI prints one.
std::string OneLine(absl::string_view text) {
  std::string line(absl::StripAsciiWhitespace(text));
  for (char& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return line;
}

// The OpenSSL reason at the end of a handshake error, e.g. "wrong version number" from
// "...SSL_ERROR_SSL: error:0A00010B:SSL routines::wrong version number".
std::string SslReason(absl::string_view message) {
  size_t pos = message.rfind("::");
  if (pos == absl::string_view::npos) return "";
  absl::string_view reason = message.substr(pos + 2);
  reason = reason.substr(0, reason.find_first_of(".\n"));
  return std::string(absl::StripAsciiWhitespace(reason));
}

// The detail of a failure to set up the connection, e.g. "Failed to connect to remote host:
// Connection refused" out of gRPC's "failed to connect to all addresses; last error:
// UNKNOWN: ipv4:127.0.0.1:7400: Failed to connect to remote host: Connection refused".
// nullopt for any other message, such as an UNAVAILABLE sent by strongroomd itself.
std::optional<std::string> TransportError(absl::string_view message) {
  const std::string lower = absl::AsciiStrToLower(message);
  if (absl::StartsWith(lower, "dns resolution failed")) return std::string(message);
  if (!absl::StartsWith(lower, "failed to connect to all addresses")) return std::nullopt;
  size_t last = lower.find("last error: ");
  if (last == std::string::npos) return std::string(message);
  absl::string_view detail = message.substr(last + strlen("last error: "));
  // A status code name, then the subchannel address.
  size_t colon = detail.find(": ");
  if (colon != absl::string_view::npos &&
      detail.substr(0, colon).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
          absl::string_view::npos) {
    detail.remove_prefix(colon + 2);
  }
  for (absl::string_view scheme : {"ipv4:", "ipv6:", "unix:", "unix-abstract:"}) {
    if (absl::StartsWith(detail, scheme)) {
      colon = detail.find(": ");
      if (colon != absl::string_view::npos) detail.remove_prefix(colon + 2);
      break;
    }
  }
  return std::string(absl::StripSuffix(detail, "."));
}

std::string ExplainTransportError(absl::string_view detail, const ClientOptions& options) {
  const std::string lower = absl::AsciiStrToLower(detail);
  const std::string& addr = options.addr;
  if (absl::StrContains(lower, "certificate verify failed")) {
    return absl::StrCat("TLS handshake with ", addr, " failed: its certificate is not trusted by ",
                        options.ca_file, " (set ", kCaSource, ")");
  }
  if (absl::StrContains(lower, "is not in peer certificate")) {
    // "Peer name <name> is not in peer certificate"
    absl::string_view name = detail;
    if (absl::ConsumePrefix(&name, "Peer name ")) name = name.substr(0, name.find(' '));
    return absl::StrCat("TLS handshake with ", addr, " failed: its certificate is not issued for ",
                        name, " (set --addr to a name it carries)");
  }
  if (absl::StrContains(lower, "missing selected alpn")) {
    return absl::StrCat("TLS handshake with ", addr,
                        " failed: it does not speak gRPC over HTTP/2 (is it strongroomd?)");
  }
  if (absl::StrContains(lower, "handshake failed")) {
    std::string reason = SslReason(detail);
    if (reason == "wrong version number" || reason == "packet length too long") {
      return absl::StrCat("TLS handshake with ", addr,
                          " failed: it does not answer in TLS (is it strongroomd?)");
    }
    return absl::StrCat("TLS handshake with ", addr, " failed", reason.empty() ? "" : ": ", reason);
  }
  if (absl::StrContains(lower, "connection refused")) {
    return absl::StrCat("cannot reach strongroomd at ", addr,
                        ": connection refused (is it running? set --addr or STRONGROOM_ADDR)");
  }
  if (absl::StrContains(lower, "socket closed")) {
    // With TLS 1.3 a server that rejects the client certificate just closes the socket.
    return absl::StrCat(
        "strongroomd at ", addr, " closed the connection during the TLS handshake",
        options.cert_file.empty()
            ? absl::StrCat(" (does it require a client certificate? set ", kCertSource, " and ",
                           kKeySource, ")")
            : absl::StrCat(" (does it trust the client certificate ", options.cert_file, "?)"));
  }
  if (absl::StartsWith(lower, "dns resolution failed")) {
    return absl::StrCat("cannot reach strongroomd at ", addr, ": cannot resolve ", TargetHost(addr),
                        " (set --addr or STRONGROOM_ADDR)");
  }
  return absl::StrCat("cannot reach strongroomd at ", addr, ": ", detail,
                      " (set --addr or STRONGROOM_ADDR)");
}

}  // namespace

void ApplyEnvironmentDefaults(ClientOptions* options) {
  auto fill = [](std::string* field, const char* variable) {
    if (field->empty()) *field = Getenv(variable);
  };
  fill(&options->addr, "STRONGROOM_ADDR");
  fill(&options->ca_file, "STRONGROOM_CACERT");
  fill(&options->cert_file, "STRONGROOM_CLIENT_CERT");
  fill(&options->key_file, "STRONGROOM_CLIENT_KEY");
  const char* token = std::getenv(kTokenVariable);  // not copied: it is a credential
  if (token == nullptr || *token == '\0') fill(&options->token_file, "STRONGROOM_TOKEN_FILE");
  if (options->addr.empty()) options->addr = kDefaultAddr;
  if (options->ca_file.empty()) {
    std::string state_dir = server::DefaultStateDir();
    if (!state_dir.empty()) options->ca_file = absl::StrCat(state_dir, "/tls/server.crt");
  }
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const ClientOptions& options) {
  if (options.addr.empty()) {
    return absl::InvalidArgumentError("no server address: set --addr or STRONGROOM_ADDR");
  }
  if (options.ca_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no CA file (HOME is not set either): set ", kCaSource));
  }
  grpc::SslCredentialsOptions ssl;
  if (absl::Status s = ReadSmallFile(options.ca_file, "CA file", kCaSource, &ssl.pem_root_certs);
      !s.ok()) {
    return s;
  }
  if (CountCertificates(ssl.pem_root_certs) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CA file ", options.ca_file, ": no PEM certificate in it (set ", kCaSource, ")"));
  }

  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        options.cert_file.empty()
            ? absl::StrCat("client key given without a certificate: set ", kCertSource)
            : absl::StrCat("client certificate given without a key: set ", kKeySource));
  }
  std::string key_pem;
  absl::Cleanup cleanse_key = [&key_pem] { hsm::CleanseString(&key_pem); };
  if (!options.cert_file.empty()) {
    if (absl::Status s = ReadSmallFile(options.cert_file, "client certificate", kCertSource,
                                       &ssl.pem_cert_chain);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadSmallFile(options.key_file, "client key", kKeySource, &key_pem);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckClientIdentity(options, ssl.pem_cert_chain, key_pem); !s.ok()) {
      return s;
    }
    ssl.pem_private_key = key_pem;
  }

  std::string token;
  absl::Cleanup cleanse_token = [&token] { hsm::CleanseString(&token); };
  if (absl::Status s = ReadToken(options, &token); !s.ok()) return s;

  grpc::ChannelArguments args;
  // Replies carry base64 ciphertext of inputs up to the CLI's 4 MiB input limit; accept
  // what the server may send by default (sized from grpc.max_message_bytes, 16 MiB: about
  // 26 MiB, see config.proto).
  args.SetMaxReceiveMessageSize(32 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  if (IsLoopbackName(TargetHost(options.addr))) {
    args.SetSslTargetNameOverride("localhost");  // GRPC_SSL_TARGET_NAME_OVERRIDE_ARG
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  hsm::CleanseString(&ssl.pem_private_key);
  if (credentials == nullptr) {
    return absl::InternalError("cannot create TLS credentials");
  }
  if (!token.empty()) {
    credentials = grpc::CompositeChannelCredentials(
        credentials,
        grpc::MetadataCredentialsFromPlugin(std::make_unique<BearerTokenPlugin>(token)));
    if (credentials == nullptr) {
      return absl::InternalError("cannot create token call credentials");
    }
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.addr, credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot use server address ", options.addr,
                                                   " (set --addr or STRONGROOM_ADDR)"));
  }
  return channel;
}

absl::Status Explain(const grpc::Status& status, const ClientOptions& options) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  const std::string message = OneLine(status.error_message());
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::Status(code,
                        absl::StrCat("strongroomd at ", options.addr, " did not answer within ",
                                     absl::FormatDuration(options.timeout)));
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    if (std::optional<std::string> detail = TransportError(message); detail.has_value()) {
      return absl::Status(code, ExplainTransportError(*detail, options));
    }
  }
  std::string name = absl::StatusCodeToString(code);
  if (name.empty()) name = absl::StrCat("code ", static_cast<int>(code));
  return absl::Status(code, message.empty() ? name : absl::StrCat(name, ": ", message));
}

absl::Status CallUnary(const ClientOptions& options,
                       const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  return Explain(rpc(&context), options);
}

std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&out, key, std::string(width - key.size() + 2, ' '));
    for (unsigned char c : value) {
      if (c < 0x20 || c == 0x7f) {
        absl::StrAppendFormat(&out, "\\x%02x", c);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('\n');
  }
  return out;
}

absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.add_whitespace = true;
  json_options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, json_options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print the reply as JSON: ", std::string(status.message())));
  }
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

}  // namespace strongroom::cli
