#include "server/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/state_dir.h"
#include "server/yaml_proto.h"

namespace strongroom::server {
namespace {

constexpr char kDefaultModule[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kDefaultTokenLabel[] = "strongroom";
constexpr char kDefaultAddress[] = "127.0.0.1:7400";
constexpr uint32_t kDefaultMaxSessions = 16;
constexpr uint32_t kDefaultDrainSeconds = 10;
constexpr uint64_t kDefaultSecureHeap = uint64_t{4} << 20;
constexpr size_t kMaxNodeIdBytes = 128;

std::string Absolute(const std::string& base, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return absl::StrCat(base, "/", path);
}

std::string CurrentDir() {
  char buf[4096];
  return getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string(".");
}

// Builds errors that name the file and line of a key when the file set it.
class Checker {
 public:
  Checker(std::string source, YamlKeyLines lines)
      : source_(std::move(source)), lines_(std::move(lines)) {}

  absl::Status Error(const std::string& key, absl::string_view problem) const {
    auto it = lines_.find(key);
    if (it != lines_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ":", it->second, ": ", key, ": ", problem));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source_.empty() ? "" : absl::StrCat(source_, ": "), key, ": ", problem));
  }

 private:
  std::string source_;
  YamlKeyLines lines_;
};

absl::Status ValidateAddress(const Checker& check, const std::string& key,
                             const std::string& address) {
  size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? "" : address.substr(0, colon);
  uint32_t port = 0;
  if (colon == std::string::npos || host.empty() ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535 ||
      (host.front() == '[') != (host.back() == ']')) {
    return check.Error(key,
                       absl::StrCat("expected host:port (port 0-65535), got \"", address, "\""));
  }
  return absl::OkStatus();
}

// The host of a valid host:port with the next port; port 0 (tests) stays 0.
std::string NextPort(const std::string& address) {
  size_t colon = address.rfind(':');
  uint32_t port = 0;
  (void)absl::SimpleAtoi(address.substr(colon + 1), &port);
  return absl::StrCat(address.substr(0, colon), ":", port == 0 || port == 65535 ? 0 : port + 1);
}

// "<hostname>:<grpc port>", or "<hostname>:<state_dir>" for port 0: stable across restarts.
// Characters a node id may not hold become '_'; a long id keeps its end (where the state
// dirs of nodes on one machine differ).
std::string DefaultNodeId(const std::string& grpc_address, const std::string& state_dir) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  absl::string_view port = absl::string_view(grpc_address).substr(grpc_address.rfind(':') + 1);
  std::string id = absl::StrCat(host, ":", port == "0" ? absl::string_view(state_dir) : port);
  for (char& ch : id) {
    if (ch <= ' ' || ch >= 0x7f) ch = '_';
  }
  return id.size() > kMaxNodeIdBytes ? id.substr(id.size() - kMaxNodeIdBytes) : id;
}

bool IsZero(const google::protobuf::Duration& d) { return d.seconds() == 0 && d.nanos() == 0; }

// pki.acme: defaults and bounds (api/strongroom/v1/config.proto AcmeConfig).
absl::Status ApplyAcmeDefaults(v1::AcmeConfig* acme, const Checker& check) {
  if (!acme->has_enabled()) acme->set_enabled(true);
  if (IsZero(acme->nonce_lifetime())) acme->mutable_nonce_lifetime()->set_seconds(300);
  if (acme->nonce_lifetime().seconds() < 1 || acme->nonce_lifetime().seconds() > 24 * 3600) {
    return check.Error("pki.acme.nonce_lifetime", "must be between 1s and 24h");
  }
  if (acme->max_nonces() == 0) acme->set_max_nonces(10000);
  if (acme->max_nonces() > 10000000) return check.Error("pki.acme.max_nonces", "must be at most 10000000");
  if (IsZero(acme->order_lifetime())) acme->mutable_order_lifetime()->set_seconds(3600);
  if (acme->order_lifetime().seconds() < 60 || acme->order_lifetime().seconds() > 7 * 24 * 3600) {
    return check.Error("pki.acme.order_lifetime", "must be between 1m and 7 days");
  }
  if (acme->max_identifiers() == 0) acme->set_max_identifiers(20);
  if (acme->max_identifiers() > 100) return check.Error("pki.acme.max_identifiers", "must be at most 100");
  if (acme->max_orders_per_account() == 0) acme->set_max_orders_per_account(100);
  if (acme->max_orders_per_account() > 10000) {
    return check.Error("pki.acme.max_orders_per_account", "must be at most 10000");
  }
  if (acme->account_requests_per_second() == 0) acme->set_account_requests_per_second(20);
  if (acme->source_requests_per_second() == 0) acme->set_source_requests_per_second(50);
  if (IsZero(acme->validation_timeout())) acme->mutable_validation_timeout()->set_seconds(10);
  if (acme->validation_timeout().seconds() < 1 || acme->validation_timeout().seconds() > 120) {
    return check.Error("pki.acme.validation_timeout", "must be between 1s and 2m");
  }
  if (acme->http01_port() == 0) acme->set_http01_port(80);
  if (acme->tls_alpn01_port() == 0) acme->set_tls_alpn01_port(443);
  if (acme->http01_port() > 65535 || acme->tls_alpn01_port() > 65535) {
    return check.Error("pki.acme", "challenge ports must be 1-65535");
  }
  if (!acme->external_url().empty()) {
    const std::string& url = acme->external_url();
    const absl::string_view host = absl::string_view(url).substr(std::min(url.size(), size_t{8}));
    const bool host_ok =
        !host.empty() && host.size() <= 262 && std::all_of(host.begin(), host.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        });
    if (url.rfind("https://", 0) != 0 || !host_ok) {
      return check.Error("pki.acme.external_url",
                         "must be https://host[:port], without a path or a trailing '/'");
    }
  }
  if (acme->validation_workers() == 0) acme->set_validation_workers(4);
  if (acme->validation_workers() > 64) {
    return check.Error("pki.acme.validation_workers", "must be at most 64");
  }
  if (acme->validation_queue() == 0) acme->set_validation_queue(256);
  if (acme->validation_queue() > 100000) {
    return check.Error("pki.acme.validation_queue", "must be at most 100000");
  }
  if (IsZero(acme->eab_key_lifetime())) acme->mutable_eab_key_lifetime()->set_seconds(7 * 24 * 3600);
  if (acme->eab_key_lifetime().seconds() < 60 ||
      acme->eab_key_lifetime().seconds() > 366 * 24 * 3600) {
    return check.Error("pki.acme.eab_key_lifetime", "must be between 1m and 366 days");
  }
  return absl::OkStatus();
}

absl::Status ApplyDefaultsAndValidate(v1::ServerConfig& c, const Checker& check) {
  if (c.state_dir().empty()) c.set_state_dir(DefaultStateDir());
  c.set_state_dir(Absolute(CurrentDir(), c.state_dir()));
  const std::string& dir = c.state_dir();
  if (c.secure_heap_bytes() == 0) c.set_secure_heap_bytes(kDefaultSecureHeap);
  if (c.secure_heap_bytes() > (uint64_t{1} << 30)) {
    return check.Error("secure_heap_bytes", "must be at most 1 GiB");
  }

  v1::HsmConfig& hsm = *c.mutable_hsm();
  if (hsm.module().empty()) hsm.set_module(kDefaultModule);
  if (hsm.module()[0] != '/') return check.Error("hsm.module", "must be an absolute path");
  if (hsm.token_label().empty()) hsm.set_token_label(kDefaultTokenLabel);
  if (hsm.token_label().size() > 32) {
    return check.Error("hsm.token_label", "must be at most 32 bytes (PKCS#11 limit)");
  }
  hsm.set_pin_file(Absolute(dir, hsm.pin_file().empty() ? "hsm.pin" : hsm.pin_file()));
  hsm.set_so_pin_file(Absolute(dir, hsm.so_pin_file().empty() ? "hsm-so.pin" : hsm.so_pin_file()));
  if (hsm.max_sessions() == 0) hsm.set_max_sessions(kDefaultMaxSessions);
  if (hsm.max_sessions() > 1024) return check.Error("hsm.max_sessions", "must be 1-1024");

  v1::StorageConfig& storage = *c.mutable_storage();
  if (storage.backend_case() == v1::StorageConfig::BACKEND_NOT_SET) storage.mutable_sqlite();
  if (storage.has_sqlite()) {
    v1::SqliteConfig& sqlite = *storage.mutable_sqlite();
    sqlite.set_path(Absolute(dir, sqlite.path().empty() ? "strongroom.db" : sqlite.path()));
  }
  if (storage.has_postgres()) {
    v1::PostgresConfig& postgres = *storage.mutable_postgres();
    if (postgres.conninfo().empty()) {
      return check.Error("storage.postgres.conninfo", "is required");
    }
    if (postgres.conninfo().size() > 4096) {
      return check.Error("storage.postgres.conninfo", "must be at most 4096 bytes");
    }
    if (!postgres.password_file().empty()) {
      postgres.set_password_file(Absolute(dir, postgres.password_file()));
    }
    if (postgres.max_connections() == 0) postgres.set_max_connections(8);
    if (postgres.max_connections() > 256) {
      return check.Error("storage.postgres.max_connections", "must be 1-256");
    }
    if (postgres.cache_freshness_ms() == 0) postgres.set_cache_freshness_ms(1000);
    if (postgres.cache_freshness_ms() < 50 || postgres.cache_freshness_ms() > 60000) {
      return check.Error("storage.postgres.cache_freshness_ms", "must be 50-60000");
    }
  }

  v1::TransitConfig& transit = *c.mutable_transit();
  if (transit.max_batch_items() == 0) transit.set_max_batch_items(10000);
  if (transit.max_batch_items() > 1000000) {
    return check.Error("transit.max_batch_items", "must be at most 1000000");
  }
  if (transit.max_plaintext_bytes() == 0) transit.set_max_plaintext_bytes(uint64_t{1} << 20);
  if (transit.max_plaintext_bytes() > (uint64_t{64} << 20)) {
    return check.Error("transit.max_plaintext_bytes", "must be at most 64 MiB");
  }
  if (transit.max_encryptions_per_version() == 0) {
    transit.set_max_encryptions_per_version(uint64_t{1} << 32);
  }
  if (transit.max_encryptions_per_version() > (uint64_t{1} << 32)) {
    return check.Error("transit.max_encryptions_per_version",
                       "must be at most 2^32 (NIST SP 800-38D, random 96-bit nonces)");
  }
  if (!transit.has_min_auto_rotate_period())
    transit.mutable_min_auto_rotate_period()->set_seconds(3600);
  if (!transit.has_auto_rotate_check_interval() ||
      (transit.auto_rotate_check_interval().seconds() == 0 &&
       transit.auto_rotate_check_interval().nanos() == 0)) {
    transit.mutable_auto_rotate_check_interval()->set_seconds(60);
  }

  v1::PkiConfig& pki = *c.mutable_pki();
  while (pki.base_url().size() > 1 && pki.base_url().back() == '/') {
    pki.mutable_base_url()->pop_back();
  }
  if (!pki.base_url().empty() && pki.base_url().rfind("https://", 0) != 0 &&
      pki.base_url().rfind("http://", 0) != 0) {
    return check.Error("pki.base_url", "must start with https:// or http://");
  }
  if (!pki.has_crl_validity() ||
      (pki.crl_validity().seconds() == 0 && pki.crl_validity().nanos() == 0)) {
    pki.mutable_crl_validity()->set_seconds(24 * 3600);
  }
  if (pki.crl_validity().seconds() < 60 || pki.crl_validity().seconds() > 366 * 24 * 3600) {
    return check.Error("pki.crl_validity", "must be between 1m and 366 days");
  }
  if (pki.mount().empty()) pki.set_mount("pki");
  if (pki.mount().size() > 64 || pki.mount() == "sys" || pki.mount() == "auth" ||
      pki.mount() == "." || pki.mount() == ".." ||
      pki.mount().find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_.") != std::string::npos) {
    return check.Error("pki.mount",
                       "must be one path segment of letters, digits, '-', '_' and '.' "
                       "(at most 64), other than sys and auth");
  }
  if (absl::Status s = ApplyAcmeDefaults(pki.mutable_acme(), check); !s.ok()) return s;

  v1::KmsPluginConfig& kms = *c.mutable_kms_plugin();
  if (!kms.key_name().empty()) {
    kms.set_socket_path(
        Absolute(dir, kms.socket_path().empty() ? "kms-plugin.sock" : kms.socket_path()));
    if (kms.socket_path().size() >= 108) {  // sockaddr_un.sun_path
      return check.Error("kms_plugin.socket_path", "must be shorter than 108 bytes");
    }
    if (kms.socket_mode().empty()) kms.set_socket_mode("0600");
    uint32_t mode = 0;
    if (kms.socket_mode().find_first_not_of("01234567") != std::string::npos ||
        kms.socket_mode().size() > 4 ||
        !absl::numbers_internal::safe_strtou32_base(kms.socket_mode(), &mode, 8) ||
        (mode & ~0777u) != 0) {
      return check.Error("kms_plugin.socket_mode", "must be octal permission bits such as 0600");
    }
    if (kms.residency().empty()) kms.set_residency("hsm");
    if (kms.residency() != "hsm" && kms.residency() != "wrapped") {
      return check.Error("kms_plugin.residency", "must be hsm or wrapped");
    }
  }

  v1::GrpcConfig& grpc = *c.mutable_grpc();
  if (grpc.address().empty()) grpc.set_address(kDefaultAddress);
  if (absl::Status s = ValidateAddress(check, "grpc.address", grpc.address()); !s.ok()) return s;
  if (grpc.drain_seconds() == 0) grpc.set_drain_seconds(kDefaultDrainSeconds);
  if (grpc.drain_seconds() > 3600) return check.Error("grpc.drain_seconds", "must be at most 3600");
  if (!grpc.port_file().empty()) grpc.set_port_file(Absolute(dir, grpc.port_file()));
  if (grpc.max_message_bytes() == 0) grpc.set_max_message_bytes(uint64_t{16} << 20);
  if (grpc.worker_threads() == 0) grpc.set_worker_threads(16);
  if (grpc.worker_threads() > 1024)
    return check.Error("grpc.worker_threads", "must be at most 1024");
  if (grpc.max_pending_requests() == 0) grpc.set_max_pending_requests(256);
  if (grpc.max_pending_requests() > 100000) {
    return check.Error("grpc.max_pending_requests", "must be at most 100000");
  }
  if (grpc.max_message_bytes() > (uint64_t{1} << 30)) {
    return check.Error("grpc.max_message_bytes", "must be at most 1 GiB");
  }
  if (c.node_id().empty()) c.set_node_id(DefaultNodeId(grpc.address(), dir));
  if (c.node_id().size() > kMaxNodeIdBytes ||
      !std::all_of(c.node_id().begin(), c.node_id().end(), [](char ch) { return ch > ' ' && ch < 0x7f; })) {
    return check.Error("node_id", "must be 1 to 128 printable ASCII characters without spaces");
  }
  v1::HttpConfig& http = *c.mutable_http();
  if (!http.has_enabled()) http.set_enabled(true);
  if (http.address().empty()) {
    http.set_address(NextPort(grpc.address()));
  }
  if (absl::Status s = ValidateAddress(check, "http.address", http.address()); !s.ok()) return s;
  if (http.worker_threads() == 0) http.set_worker_threads(64);
  if (http.worker_threads() > 1024) return check.Error("http.worker_threads", "must be at most 1024");
  if (http.max_connections() == 0) http.set_max_connections(1024);
  if (http.max_connections() > 100000) {
    return check.Error("http.max_connections", "must be at most 100000");
  }
  if (http.max_body_bytes() == 0) http.set_max_body_bytes(uint64_t{16} << 20);
  if (http.max_body_bytes() > (uint64_t{1} << 30)) {
    return check.Error("http.max_body_bytes", "must be at most 1 GiB");
  }
  if (http.enabled() && http.address() == grpc.address() && !absl::EndsWith(http.address(), ":0")) {
    return check.Error("http.address", "must differ from grpc.address");
  }
  v1::PlainHttpConfig& plain = *pki.mutable_plain_http();
  if (!plain.has_enabled()) plain.set_enabled(true);
  if (plain.address().empty()) plain.set_address(NextPort(http.address()));
  if (absl::Status s = ValidateAddress(check, "pki.plain_http.address", plain.address()); !s.ok()) {
    return s;
  }
  if (plain.enabled() && !absl::EndsWith(plain.address(), ":0") &&
      (plain.address() == grpc.address() ||
       (http.enabled() && plain.address() == http.address()))) {
    return check.Error("pki.plain_http.address", "must differ from grpc.address and http.address");
  }
  // The default base URL names the listener that serves the documents; a port still to be
  // picked (0) is filled in by the server once bound.
  if (pki.base_url().empty()) {
    const std::string& served = plain.enabled() ? plain.address() : http.address();
    if (!absl::EndsWith(served, ":0")) {
      pki.set_base_url(absl::StrCat(plain.enabled() ? "http://" : "https://", served));
    }
  }
  v1::AuditConfig& audit = *c.mutable_audit();
  audit.set_path(Absolute(dir, audit.path().empty() ? "audit/audit.log" : audit.path()));
  if (audit.max_file_bytes() == 0) audit.set_max_file_bytes(uint64_t{64} << 20);
  if (audit.max_file_bytes() < 4096) return check.Error("audit.max_file_bytes", "must be >= 4096");
  if (IsZero(audit.max_file_age())) audit.mutable_max_file_age()->set_seconds(24 * 3600);
  if (IsZero(audit.checkpoint_interval())) audit.mutable_checkpoint_interval()->set_seconds(10);
  if (audit.checkpoint_interval().seconds() < 1) {
    return check.Error("audit.checkpoint_interval", "must be at least 1s");
  }

  v1::AuthConfig& auth = *c.mutable_auth();
  if (auth.client_ca_file().empty()) {
    const std::string fallback = Absolute(dir, "tls/client-ca.crt");
    if (access(fallback.c_str(), F_OK) == 0) auth.set_client_ca_file(fallback);
  } else {
    auth.set_client_ca_file(Absolute(dir, auth.client_ca_file()));
  }
  if (IsZero(auth.root_token_ttl())) auth.mutable_root_token_ttl()->set_seconds(3600);
  if (IsZero(auth.max_token_ttl())) auth.mutable_max_token_ttl()->set_seconds(768 * 3600);
  if (IsZero(auth.default_token_ttl())) auth.mutable_default_token_ttl()->set_seconds(3600);
  if (auth.refused_token_hmacs_per_second() == 0) auth.set_refused_token_hmacs_per_second(50);
  for (const auto* d : {&auth.root_token_ttl(), &auth.max_token_ttl(), &auth.default_token_ttl()}) {
    if (d->seconds() < 1) return check.Error("auth", "token lifetimes must be at least 1s");
  }
  for (v1::JwtIssuer& issuer : *auth.mutable_jwt()->mutable_issuers()) {
    if (!issuer.jwks_file().empty()) issuer.set_jwks_file(Absolute(dir, issuer.jwks_file()));
    if (!issuer.ca_file().empty()) issuer.set_ca_file(Absolute(dir, issuer.ca_file()));
  }

  v1::TlsConfig& tls = *grpc.mutable_tls();
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return check.Error(tls.cert_file().empty() ? "grpc.tls.key_file" : "grpc.tls.cert_file",
                       "cert_file and key_file must be set together");
  }
  if (tls.cert_file().empty()) {
    tls.set_cert_file(Absolute(dir, "tls/server.crt"));
    tls.set_key_file(Absolute(dir, "tls/server.key"));
  } else {
    tls.set_cert_file(Absolute(dir, tls.cert_file()));
    tls.set_key_file(Absolute(dir, tls.key_file()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ServerConfig> LoadConfig(const std::string& path) {
  v1::ServerConfig config;
  YamlKeyLines lines;
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::string msg = absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno));
      return errno == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (absl::Status s = YamlToProto(text.str(), path, &config, &lines); !s.ok()) return s;
  }
  if (absl::Status s = ApplyDefaultsAndValidate(config, Checker(path, std::move(lines))); !s.ok()) {
    return s;
  }
  return config;
}

}  // namespace strongroom::server
