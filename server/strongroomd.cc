#include "server/strongroomd.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "hsm/hsm.h"
#include "hsm/provider.h"
#include "hsm/secret_data.h"
#include "kms/barrier.h"
#include "kms/change_watcher.h"
#include "kms/keyring.h"
#include "kms/postgres_storage.h"
#include "kms/sqlite_storage.h"
#include "kms/transit.h"
#include "pki/ca.h"
#include "server/access/client_certs.h"
#include "server/access/gate.h"
#include "server/access/grpc_gate.h"
#include "server/access/http_gate.h"
#include "server/access/jwt/login.h"
#include "server/access/policy.h"
#include "server/access/token_store.h"
#include "server/audit/audit_log.h"
#include "server/audit/hsm_audit_keys.h"
#include "server/auth_service.h"
#include "server/files.h"
#include "server/acme/acme_server.h"
#include "server/http/pki_documents.h"
#include "server/http/server.h"
#include "server/kms_plugin_service.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/pki_service.h"
#include "server/self_signed.h"
#include "server/server_metrics.h"
#include "server/system_service.h"
#include "server/transit_service.h"
#include "server/http/vault/vault_api.h"
#include "server/worker_pool.h"

namespace strongroom::server {
namespace {

constexpr absl::Duration kMonitorPeriod = absl::Seconds(5);
// Key the monitor reads to probe the storage (any key will do; it need not exist).
constexpr char kStorageProbeKey[] = "sys/kek";

// Opens the configured storage backend.
absl::StatusOr<std::unique_ptr<kms::Storage>> OpenStorage(const v1::StorageConfig& config,
                                                          size_t max_connections_cap = 0) {
  if (config.has_postgres()) {
    kms::PostgresStorageOptions options;
    options.conninfo = config.postgres().conninfo();
    options.password_file = config.postgres().password_file();
    options.pool_size = config.postgres().max_connections();
    if (max_connections_cap != 0 && options.pool_size > max_connections_cap) {
      options.pool_size = max_connections_cap;
    }
    auto storage = kms::PostgresStorage::Open(options);
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<kms::Storage>(*std::move(storage));
  }
  auto storage = kms::SqliteStorage::Open(config.sqlite().path());
  if (!storage.ok()) return storage.status();
  return std::unique_ptr<kms::Storage>(*std::move(storage));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> Interceptors(
    ServerMetrics* metrics, access::Gate* gate) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
  v.push_back(access::MalformedRequestInterceptorFactory(gate));
  v.push_back(metrics->InterceptorFactory());
  return v;
}

// The largest reply: what a request of grpc.max_message_bytes can grow to. Its bytes become
// base64 at most (Encrypt: 4/3), each batch item gains a bounded envelope (nonce, tag,
// "vault:vN:" prefix, key version, framing, or an error message instead), and the reply has
// a small fixed envelope of its own. Replies not bounded by their request (listings) are
// checked against it by the GrpcGate.
constexpr uint64_t kReplyBytesPerItem = 512;
constexpr uint64_t kReplyEnvelopeBytes = 16 << 10;

uint64_t MaxReplyBytes(const v1::ServerConfig& config) {
  const uint64_t request = config.grpc().max_message_bytes();
  return std::min<uint64_t>(
      std::numeric_limits<int>::max(),
      request + (request + 2) / 3 + config.transit().max_batch_items() * kReplyBytesPerItem +
          kReplyEnvelopeBytes);
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

Strongroomd::Strongroomd(v1::ServerConfig config)
    : config_(std::move(config)),
      metrics_(std::make_unique<MetricsRegistry>()),
      server_metrics_(std::make_unique<ServerMetrics>(metrics_.get())) {}

int Strongroomd::http_port() const { return http_ != nullptr ? http_->port() : 0; }

int Strongroomd::pki_documents_port() const {
  return plain_http_ != nullptr ? plain_http_->port() : 0;
}

Strongroomd::~Strongroomd() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Strongroomd>> Strongroomd::Start(const v1::ServerConfig& config) {
  // Debian's abseil is built without NDEBUG, which leaves mutex deadlock detection on: a
  // process-wide graph behind a global lock, taken on every lock. Tests keep it; a serving
  // process must not pay for it on the hot path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const absl::Time start_time = absl::Now();
  std::unique_ptr<Strongroomd> d(new Strongroomd(config));
  if (absl::Status s = MakeDirs(config.state_dir()); !s.ok()) return Prefixed("state_dir: ", s);

  hsm::HsmOptions hsm_options;
  hsm_options.module_path = config.hsm().module();
  hsm_options.token_label = config.hsm().token_label();
  hsm_options.pin_file = config.hsm().pin_file();
  hsm_options.max_sessions = config.hsm().max_sessions();
  auto hsm = hsm::Hsm::Open(hsm_options);
  if (!hsm.ok()) return hsm.status();  // Its messages name the module or token already.
  d->hsm_ = *std::move(hsm);
  d->hsm_->SetCallObserver(d->server_metrics_.get());
  auto provider = hsm::HsmProvider::Load(d->hsm_.get());
  if (!provider.ok()) return Prefixed("HSM provider: ", provider.status());
  d->provider_ = *std::move(provider);

  auto storage = OpenStorage(config.storage());
  if (!storage.ok()) return Prefixed("storage: ", storage.status());
  d->storage_ = *std::move(storage);

  d->barrier_ = std::make_unique<kms::Barrier>(d->hsm_.get(), d->storage_.get());
  if (absl::Status s = d->barrier_->Unseal(); !s.ok()) return Prefixed("unseal: ", s);

  const v1::TlsConfig& tls = config.grpc().tls();
  if (absl::Status s =
          EnsureSelfSignedCertificate(tls.cert_file(), tls.key_file(), &d->created_certificate_);
      !s.ok()) {
    return Prefixed("TLS: ", s);
  }
  auto cert = ReadFile(tls.cert_file(), "TLS certificate");
  if (!cert.ok()) return Prefixed("TLS: ", cert.status());
  auto key = ReadFile(tls.key_file(), "TLS key");
  if (!key.ok()) return Prefixed("TLS: ", key.status());

  const v1::TransitConfig& tc = config.transit();
  kms::KeyringOptions keyring_options;
  keyring_options.max_encryptions_per_version = tc.max_encryptions_per_version();
  keyring_options.reservation_block =
      std::min<uint64_t>(keyring_options.reservation_block,
                         std::max<uint64_t>(1, tc.max_encryptions_per_version() / 16));
  keyring_options.min_auto_rotate_period = ToDuration(tc.min_auto_rotate_period());
  d->keyring_ = std::make_unique<kms::Keyring>(d->hsm_.get(), d->storage_.get(), d->barrier_.get(),
                                               keyring_options);
  kms::TransitLimits limits;
  limits.max_batch_items = tc.max_batch_items();
  limits.max_plaintext_bytes = tc.max_plaintext_bytes();
  d->transit_ = std::make_unique<kms::Transit>(d->keyring_.get(), d->hsm_.get(), limits);

  pki::CaOptions ca_options;
  ca_options.base_url = config.pki().base_url();
  ca_options.crl_validity = ToDuration(config.pki().crl_validity());
  d->ca_ = std::make_unique<pki::Ca>(d->hsm_.get(), d->provider_.get(), d->storage_.get(),
                                     d->barrier_.get(), ca_options);

  d->ocsp_ = std::make_shared<pki::OcspResponder>(d->ca_.get());
  d->pki_documents_ = PkiDocumentRoutes(d->ca_.get(), d->ocsp_);

  if (absl::Status s = d->StartAccess(); !s.ok()) return s;
  kms::ChangeWatcherOptions watcher_options;
  if (config.storage().has_postgres()) {
    watcher_options.bound = absl::Milliseconds(config.storage().postgres().cache_freshness_ms());
  }
  d->watcher_ = std::make_unique<kms::ChangeWatcher>(d->storage_.get(), watcher_options);
  d->barrier_->WatchChanges(d->watcher_.get());
  d->keyring_->WatchChanges(d->watcher_.get());
  d->ca_->WatchChanges(d->watcher_.get());
  d->tokens_->WatchChanges(d->watcher_.get());
  if (absl::Status s = d->watcher_->Start(); !s.ok()) return Prefixed("storage: change feed: ", s);
  d->cluster_ = std::make_unique<ClusterNode>(d->storage_.get(), ClusterNodeOptions());
  // Before any listener that issues certificates: their URLs may name its bound port.
  if (absl::Status s = d->StartPkiDocuments(); !s.ok()) return Prefixed("pki.plain_http: ", s);
  d->workers_ = std::make_unique<WorkerPool>(static_cast<int>(config.grpc().worker_threads()));
  access::GrpcGate::Options gate_options;
  gate_options.max_pending = config.grpc().max_pending_requests();
  gate_options.max_reply_bytes = MaxReplyBytes(config);
  gate_options.on_shed = [metrics = d->server_metrics_.get()] { metrics->RecordShed(); };
  d->grpc_gate_ = std::make_unique<access::GrpcGate>(d->gate_.get(), d->workers_.get(),
                                                     std::move(gate_options));
  d->unknown_methods_ = std::make_unique<access::UnknownGrpcMethods>(d->gate_.get());
  access::GrpcGate* gate = d->grpc_gate_.get();
  d->system_ = std::make_unique<SystemService>(d->hsm_.get(), d->storage_.get(), d->barrier_.get(),
                                               d->cluster_.get(), d->watcher_.get(), gate);
  d->transit_service_ = std::make_unique<TransitService>(d->transit_.get(), gate);
  d->pki_service_ = std::make_unique<PkiService>(d->ca_.get(), gate);
  d->auth_service_ = std::make_unique<AuthService>(d->tokens_.get(), gate, d->jwt_login_.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Client certificates are requested and verified by the gate, so that an untrusted or
  // expired one gets UNAUTHENTICATED naming the problem instead of a failed handshake.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  hsm::CleanseString(&*key);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.grpc().address(), grpc::SslServerCredentials(ssl), &d->port_);
  hsm::CleanseString(&ssl.pem_key_cert_pairs[0].private_key);
  builder.RegisterService(d->system_.get());
  builder.RegisterService(d->transit_service_.get());
  builder.RegisterService(d->pki_service_.get());
  builder.RegisterService(d->auth_service_.get());
  builder.RegisterCallbackGenericService(d->unknown_methods_.get());
  builder.experimental().SetInterceptorCreators(
      Interceptors(d->server_metrics_.get(), d->gate_.get()));
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.grpc().max_message_bytes()));
  builder.SetMaxSendMessageSize(static_cast<int>(MaxReplyBytes(config)));
  // gRPC's own buffers stay within what the pending requests may hold (a request and its
  // reply each), and one connection cannot open more streams than may be pending.
  grpc::ResourceQuota quota("strongroom-grpc");
  quota.Resize(static_cast<size_t>(std::min<uint64_t>(
      std::numeric_limits<int64_t>::max() / 2,
      (uint64_t{config.grpc().max_pending_requests()} + config.grpc().worker_threads()) *
          (config.grpc().max_message_bytes() + MaxReplyBytes(config)))));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config.grpc().max_pending_requests()));
  d->grpc_ = builder.BuildAndStart();
  if (d->grpc_ == nullptr || d->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.grpc().address(),
                                               " (address in use or not local?)"));
  }
  d->grpc_->GetHealthCheckService()->SetServingStatus(true);
  if (!config.grpc().port_file().empty()) {
    if (absl::Status s = ReplaceFile(config.grpc().port_file(), absl::StrCat(d->port_, "\n"), 0644);
        !s.ok()) {
      return Prefixed("grpc.port_file: ", s);
    }
  }
  d->cluster_->Start(config.node_id(), absl::StrCat(config.grpc().address(), " (port ", d->port_, ")"));
  if (absl::Status s = d->StartKmsPlugin(); !s.ok()) return Prefixed("kms_plugin: ", s);
  d->server_metrics_->RegisterStateGauges(d->hsm_.get(), d->barrier_.get(), d->keyring_.get(),
                                          d->ca_.get(), start_time);
  if (absl::Status s = d->StartHttp(); !s.ok()) return Prefixed("http: ", s);
  d->RegisterBoundedStructures();
  d->monitor_ = std::thread([raw = d.get()] { raw->Monitor(); });
  d->maintainer_ = std::thread([raw = d.get()] { raw->Maintain(); });
  return d;
}

namespace {

// The client CAs: auth.client_ca_file's PEM bundle (checked for nothing but the chain,
// validity and clientAuth: no CRL or OCSP) and the certificates of the
// auth.client_ca_issuers that exist, whose certificates are looked up in the Ca's
// inventory for revocation.
class ClientCaSource : public access::ClientCertVerifier::TrustSource {
 public:
  ClientCaSource(v1::AuthConfig auth, pki::Ca* ca) : auth_(std::move(auth)), ca_(ca) {}

  absl::StatusOr<access::ClientCertVerifier::Anchors> Read() override {
    access::ClientCertVerifier::Anchors anchors;
    if (!auth_.client_ca_file().empty()) {
      auto file = ReadFile(auth_.client_ca_file(), "auth.client_ca_file");
      if (!file.ok()) return file.status();
      anchors.external_pem = *std::move(file);
    }
    for (const std::string& name : auth_.client_ca_issuers()) {
      v1::GetIssuerRequest request;
      request.set_issuer_name(name);
      absl::StatusOr<v1::Issuer> issuer = ca_->GetIssuer(request);
      // Not created yet (or sealed): trusted once it is.
      if (!issuer.ok() || issuer->certificate_pem().empty()) continue;
      anchors.local_issuers.emplace_back(name, issuer->certificate_pem());
    }
    return anchors;
  }

  uint64_t Epoch() override { return ca_->trust_epoch(); }

  // A certificate without a record (issued through a no_store role) cannot be revoked.
  absl::StatusOr<bool> Revoked(absl::string_view issuer, absl::string_view serial) override {
    absl::StatusOr<pki::Ca::CertificateStatus> status =
        ca_->LookupCertificateStatus(issuer, serial);
    if (!status.ok()) return status.status();
    return status->kind == pki::Ca::CertificateStatus::kRevoked;
  }

 private:
  const v1::AuthConfig auth_;
  pki::Ca* const ca_;
};

absl::StatusOr<std::string> WriteRootToken(const v1::ServerConfig& config,
                                           const hsm::SecretData& token) {
  const std::string path = absl::StrCat(config.state_dir(), "/root-token");
  hsm::SecretData line(token.size() + 1);
  std::copy(token.RevealSecret().begin(), token.RevealSecret().end(), line.MutableSecret().begin());
  line.MutableSecret()[token.size()] = '\n';
  if (absl::Status s = ReplaceFile(path, line.RevealSecretAsString(), 0600); !s.ok()) return s;
  return path;
}

access::TokenStoreOptions TokenOptions(const v1::AuthConfig& auth) {
  access::TokenStoreOptions options;
  options.default_ttl = ToDuration(auth.default_token_ttl());
  options.max_ttl = ToDuration(auth.max_token_ttl());
  options.refused_token_hmacs_per_second = auth.refused_token_hmacs_per_second();
  return options;
}

absl::StatusOr<std::shared_ptr<const access::PolicySet>> CompilePolicies(
    const v1::ServerConfig& config) {
  auto policies = access::PolicySet::Compile(config.auth(), config.kms_plugin().key_name());
  if (!policies.ok()) return policies.status();
  return *std::move(policies);
}

}  // namespace

absl::Status Strongroomd::StartAccess() {
  auto policies = CompilePolicies(config_);
  if (!policies.ok()) return policies.status();
  auto signer = audit::HsmAuditSigner::Create(hsm_.get());
  if (!signer.ok()) return Prefixed("audit signing key: ", signer.status());
  audit_signer_ = *std::move(signer);
  auto hasher = audit::AuditHasher::Create(hsm_.get());
  if (!hasher.ok()) return Prefixed("audit HMAC key: ", hasher.status());
  audit_hasher_ = *std::move(hasher);
  const v1::AuditConfig& ac = config_.audit();
  audit::AuditLogOptions audit_options;
  audit_options.path = ac.path();
  audit_options.node_id = config_.node_id();
  audit_options.max_file_bytes = ac.max_file_bytes();
  audit_options.max_file_age = ToDuration(ac.max_file_age());
  audit_options.checkpoint_interval = ToDuration(ac.checkpoint_interval());
  auto audit = audit::AuditLog::Open(audit_options, audit_signer_.get());
  if (!audit.ok()) return Prefixed("audit: ", audit.status());
  audit_ = *std::move(audit);
  if (absl::Status s = audit_signer_->WritePublicKeyPem(
          absl::StrCat(Parent(ac.path()), "/audit-signing.pub.pem"));
      !s.ok()) {
    return Prefixed("audit: ", s);
  }

  const v1::AuthConfig& auth = config_.auth();
  auto tokens = access::TokenStore::Open(storage_.get(), hsm_.get(), TokenOptions(auth));
  if (!tokens.ok()) return Prefixed("tokens: ", tokens.status());
  tokens_ = *std::move(tokens);
  auto root = tokens_->Bootstrap(ToDuration(auth.root_token_ttl()), absl::Now());
  if (!root.ok()) return Prefixed("bootstrap root token: ", root.status());
  if (root->has_value()) {
    absl::StatusOr<std::string> path = WriteRootToken(config_, (*root)->token);
    if (!path.ok()) return Prefixed("bootstrap root token: ", path.status());
    LogInfo(absl::StrCat("first start: one-time root token written to ", *path, " (expires in ",
                         absl::FormatDuration(ToDuration(auth.root_token_ttl())),
                         "); set up identities or tokens with it, then revoke it"));
  }

  auto jwt = access::jwt::JwtAuth::Compile(auth, **policies);
  if (!jwt.ok()) return jwt.status();
  jwt_login_ = std::make_unique<access::jwt::JwtLogin>(tokens_.get(), *std::move(jwt),
                                                       [](absl::string_view line) { LogWarning(line); });
  auto certs =
      access::ClientCertVerifier::Create(std::make_unique<ClientCaSource>(auth, ca_.get()));
  if (!certs.ok()) return Prefixed("auth.client_ca_file: ", certs.status());
  gate_ = std::make_unique<access::Gate>(
      *std::move(policies), *std::move(certs), tokens_.get(), audit_.get(), audit_hasher_.get(),
      [metrics = server_metrics_.get()](absl::Duration elapsed, bool ok) {
        metrics->RecordAuditWrite(elapsed, ok);
      });
  return absl::OkStatus();
}

absl::StatusOr<std::string> Strongroomd::GenerateRootToken(const v1::ServerConfig& config) {
  hsm::HsmOptions hsm_options;
  hsm_options.module_path = config.hsm().module();
  hsm_options.token_label = config.hsm().token_label();
  hsm_options.pin_file = config.hsm().pin_file();
  hsm_options.max_sessions = 2;
  auto hsm = hsm::Hsm::Open(hsm_options);
  if (!hsm.ok()) return hsm.status();
  auto storage = OpenStorage(config.storage(), /*max_connections_cap=*/2);
  if (!storage.ok()) return Prefixed("storage: ", storage.status());
  auto tokens = access::TokenStore::Open(storage->get(), hsm->get(), TokenOptions(config.auth()));
  if (!tokens.ok()) return Prefixed("tokens: ", tokens.status());
  // The token this replaces (if its file is still there) stops working: at most one root
  // token from this command is ever live. The tokens it created stay (revoke-orphan).
  auto previous = ReadFile(absl::StrCat(config.state_dir(), "/root-token"), "root token");
  if (previous.ok()) {
    std::vector<absl::string_view> parts = absl::StrSplit(*previous, '.');
    absl::Status revoked = parts.size() == 3 ? (*tokens)->RevokeOrphan(parts[1]) : absl::OkStatus();
    hsm::CleanseString(&*previous);
    if (!revoked.ok() && !absl::IsNotFound(revoked) && !absl::IsInvalidArgument(revoked)) {
      return Prefixed("revoking the previous root token: ", revoked);
    }
  }
  auto root = (*tokens)->CreateRoot(ToDuration(config.auth().root_token_ttl()), absl::Now());
  if (!root.ok()) return root.status();
  return WriteRootToken(config, root->token);
}

absl::Status Strongroomd::ReloadAccess(const v1::ServerConfig& config) {
  auto policies = CompilePolicies(config);
  if (!policies.ok()) return policies.status();
  auto certs = access::ClientCertVerifier::Create(
      std::make_unique<ClientCaSource>(config.auth(), ca_.get()));
  if (!certs.ok()) return Prefixed("auth.client_ca_file: ", certs.status());
  auto jwt = access::jwt::JwtAuth::Compile(config.auth(), **policies, jwt_login_->auth().get());
  if (!jwt.ok()) return jwt.status();
  gate_->Reload(*std::move(policies), *std::move(certs));
  jwt_login_->Reload(*std::move(jwt));
  return absl::OkStatus();
}

absl::Status Strongroomd::Protect(const std::string& method, const std::string& pattern,
                                  std::function<HttpResponse(const HttpRequest&)> handler,
                                  access::HttpResourceParams params,
                                  const std::string& route_name) {
  const std::string name = route_name.empty() ? absl::StrCat(method, " ", pattern) : route_name;
  const access::Route* route = access::FindRoute(name);
  if (route == nullptr) {
    return absl::NotFoundError(absl::StrCat(name, " is missing from server/access/routes.cc"));
  }
  const HandlerRuns runs = access::RunsOf(*route, params);
  http_->HandleAsync(method, pattern,
                     access::GateHttpAsync(gate_.get(), *route, std::move(handler), std::move(params)),
                     runs);
  return absl::OkStatus();
}

absl::Status Strongroomd::StartKmsPlugin() {
  const v1::KmsPluginConfig& kc = config_.kms_plugin();
  if (kc.key_name().empty()) return absl::OkStatus();
  absl::StatusOr<std::shared_ptr<const kms::TransitKey>> key = keyring_->Get(kc.key_name());
  if (absl::IsNotFound(key.status())) {
    kms::CreateKeyOptions options;
    options.name = kc.key_name();
    options.residency =
        kc.residency() == "wrapped" ? kms::Residency::kWrapped : kms::Residency::kHsm;
    key = keyring_->Create(options);
    if (key.ok()) {
      LogInfo(absl::StrCat("created transit key '", kc.key_name(), "' for the KMS v2 plugin"));
    }
  }
  if (!key.ok()) return key.status();
  if (!kms::IsAead((*key)->type())) {
    return absl::FailedPreconditionError(
        absl::StrCat("key '", kc.key_name(), "' is not an encryption key"));
  }
  const std::string& path = kc.socket_path();
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
    }
    unlink(path.c_str());  // A stale socket from a previous run.
  }
  if (absl::Status s = MakeDirs(Parent(path)); !s.ok()) return s;
  kms_plugin_ = std::make_unique<KmsPluginService>(transit_.get(), kc.key_name(), grpc_gate_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", path), grpc::InsecureServerCredentials());
  builder.RegisterService(kms_plugin_.get());
  builder.experimental().SetInterceptorCreators(Interceptors(server_metrics_.get(), gate_.get()));
  kms_server_ = builder.BuildAndStart();
  if (kms_server_ == nullptr)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", path));
  uint32_t mode = std::stoul(kc.socket_mode(), nullptr, 8);
  if (chmod(path.c_str(), mode) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot chmod ", path));
  }
  LogInfo(absl::StrCat("KMS v2 plugin listening on unix:", path, " (key '", kc.key_name(), "')"));
  return absl::OkStatus();
}

// Public (unauthenticated) CA, CRL and OCSP endpoints; see server/http/pki_documents.h.
absl::Status Strongroomd::RegisterPkiRoutes() {
  for (const PkiDocumentRoute& route : pki_documents_) {
    if (absl::Status s = Protect(route.method, route.pattern, route.handler); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Strongroomd::ServeWithoutCredentials(HttpServer* server, const std::string& method,
                                                  const std::string& pattern,
                                                  HttpHandler handler) {
  const access::Route* route = access::FindRoute(absl::StrCat(method, " ", pattern));
  if (route == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(method, " ", pattern, " is missing from server/access/routes.cc"));
  }
  if (route->operation != access::Operation::kPublic) {
    return absl::FailedPreconditionError(
        absl::StrCat(method, " ", pattern, " is not public; a listener without credentials "
                                           "serves public routes only"));
  }
  server->HandleAsync(
      method, pattern,
      access::GateHttpWithoutCredentialsAsync(gate_.get(), *route, std::move(handler)),
      access::RunsOf(*route));
  return absl::OkStatus();
}

namespace {

// The limits of both HTTP listeners (http.*), and the drain bound they share with gRPC.
HttpServerOptions HttpOptions(const v1::ServerConfig& config) {
  const v1::HttpConfig& hc = config.http();
  HttpServerOptions options;
  options.worker_threads = static_cast<int>(hc.worker_threads());
  options.max_connections = static_cast<int>(hc.max_connections());
  options.max_body_bytes = hc.max_body_bytes();
  options.drain_timeout = absl::Seconds(config.grpc().drain_seconds());
  return options;
}

}  // namespace

absl::Status Strongroomd::StartPkiDocuments() {
  const v1::PlainHttpConfig& pc = config_.pki().plain_http();
  if (!pc.enabled()) return absl::OkStatus();
  plain_http_ = HttpServer::CreatePlain(HttpOptions(config_));
  plain_http_->SetObserver([metrics = server_metrics_.get()](const HttpExchange& e) {
    metrics->RecordHttp(e.method, e.route, e.status, e.elapsed);
  });
  for (const PkiDocumentRoute& route : pki_documents_) {
    if (absl::Status s =
            ServeWithoutCredentials(plain_http_.get(), route.method, route.pattern, route.handler);
        !s.ok()) {
      return s;
    }
  }
  // Every other path is 404 (405 for another method on a document path), audited as an
  // unrouted request like on the HTTPS listener; no token is read, so none is ever judged.
  plain_http_->HandleUnrouted(
      [gate = gate_.get(), &route = access::RouteOrDie(access::kUnroutedHttp)](
          const HttpRequest& request, HttpResponse answer) {
        return access::GateHttpWithoutCredentials(
            gate, route, [&answer](const HttpRequest&) { return answer; })(request);
      });
  if (absl::Status s = plain_http_->Start(pc.address()); !s.ok()) return s;
  const std::string url = absl::StrCat(
      "http://", pc.address().substr(0, pc.address().rfind(':')), ":", plain_http_->port());
  if (config_.pki().base_url().empty()) ca_->SetBaseUrl(url);
  LogInfo(absl::StrCat("PKI documents listening on ", url));
  return absl::OkStatus();
}

void Strongroomd::RegisterBoundedStructures() {
  ServerMetrics& m = *server_metrics_;
  const double max_pending = config_.grpc().max_pending_requests();
  m.RegisterBounded("grpc_pending_calls", max_pending,
                    [gate = grpc_gate_.get()] { return static_cast<double>(gate->pending()); });
  // Holds only calls the gate took, so grpc.max_pending_requests bounds it too.
  m.RegisterBounded("grpc_worker_queue", max_pending,
                    [pool = workers_.get()] { return static_cast<double>(pool->queued()); });
  const double max_tokens = static_cast<double>(tokens_->options().max_cached_tokens);
  m.RegisterBounded("token_cache", max_tokens, [tokens = tokens_.get()] {
    return static_cast<double>(tokens->cache_sizes().tokens);
  });
  m.RegisterBounded("token_suspects", max_tokens, [tokens = tokens_.get()] {
    return static_cast<double>(tokens->cache_sizes().suspects);
  });
  m.RegisterBounded("client_cert_trusted", access::ClientCertVerifier::kMaxTrusted,
                    [gate = gate_.get()] { return static_cast<double>(gate->cert_stats().trusted); });
  m.RegisterBounded("client_cert_refused", access::ClientCertVerifier::kMaxRefused,
                    [gate = gate_.get()] { return static_cast<double>(gate->cert_stats().refused); });
  // Each HTTP connection carries one request at a time, so connections bound the handler
  // queues; with the gRPC bound they bound the audit lines and certificate records waiting.
  std::vector<HttpServer*> listeners;
  for (HttpServer* s : {http_.get(), plain_http_.get()}) {
    if (s != nullptr) listeners.push_back(s);
  }
  const double max_connections =
      static_cast<double>(config_.http().max_connections()) * listeners.size();
  m.RegisterBounded("http_connections", max_connections, [listeners] {
    double n = 0;
    for (HttpServer* s : listeners) n += s->connections();
    return n;
  });
  m.RegisterBounded("http_handler_queue", max_connections, [listeners] {
    double n = 0;
    for (HttpServer* s : listeners) n += static_cast<double>(s->queued_requests());
    return n;
  });
  m.RegisterBounded("audit_queue", max_pending + max_connections,
                    [audit = audit_.get()] { return static_cast<double>(audit->queued()); });
  m.RegisterBounded("pki_inventory_queue", max_pending + max_connections,
                    [ca = ca_.get()] { return static_cast<double>(ca->inventory_queued()); });
  if (acme_ != nullptr) {
    const acme::ValidationQueue& q = acme_->validations();
    m.RegisterBounded("acme_validation_queue", static_cast<double>(q.capacity()),
                      [&q] { return static_cast<double>(q.size()); });
    m.RegisterBounded("acme_write_queue", max_connections, [acme = acme_.get()] {
      return static_cast<double>(acme->queued_writes());
    });
    m.RegisterBounded("acme_rate_buckets", 2.0 * acme::AcmeService::kMaxRateBuckets,
                      [acme = acme_.get()] { return static_cast<double>(acme->rate_buckets()); });
  }
  const pki::Ca::CacheSizes pki_caches = ca_->cache_sizes();
  m.RegisterBounded("pki_role_cache", static_cast<double>(pki_caches.max_roles),
                    [ca = ca_.get()] { return static_cast<double>(ca->cache_sizes().roles); });
  m.RegisterBounded("pki_issuer_cache", static_cast<double>(pki_caches.max_issuers),
                    [ca = ca_.get()] { return static_cast<double>(ca->cache_sizes().issuers); });
  const access::SourceRefusals& logins = jwt_login_->refusals();
  m.RegisterBounded("jwt_login_sources", static_cast<double>(logins.max_sources()),
                    [&logins] { return static_cast<double>(logins.size()); });
  m.RegisterBounded("ocsp_presigned", pki::OcspResponder::kMaxPresigned, [ocsp = ocsp_.get()] {
    return static_cast<double>(ocsp->presigned_count());
  });
}

absl::Status Strongroomd::StartHttp() {
  const v1::HttpConfig& hc = config_.http();
  if (!hc.enabled()) return absl::OkStatus();
  const v1::TlsConfig& tls = config_.grpc().tls();
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Create(tls.cert_file(), tls.key_file(), HttpOptions(config_));
  if (!http.ok()) return http.status();
  http_ = *std::move(http);
  http_->SetObserver([metrics = server_metrics_.get()](const HttpExchange& e) {
    metrics->RecordHttp(e.method, e.route, e.status, e.elapsed);
  });
  http_->HandleAsync("GET", "/metrics",
                access::GateHttpAsync(gate_.get(),
                                 access::RouteOrDie(hc.metrics_unauthenticated()
                                                        ? access::kOpenMetrics
                                                        : absl::string_view("GET /metrics")),
                                 [registry = metrics_.get()](const HttpRequest&) {
                                   HttpResponse response;
                                   response.content_type =
                                       "text/plain; version=0.0.4; charset=utf-8";
                                   response.body = registry->Exposition();
                                   return response;
                                 }));
  if (absl::Status s = RegisterPkiRoutes(); !s.ok()) return s;
  vault_api_ = std::make_unique<vault::VaultApi>(
      transit_.get(), hsm_.get(), keyring_.get(), tokens_.get(),
      [gate = gate_.get()] { return gate->policies(); }, system_.get(), ca_.get(),
      config_.pki().mount(), jwt_login_.get(), ocsp_);
  for (vault::VaultRoute& route : vault_api_->Routes()) {
    if (absl::Status s = Protect(route.method, route.pattern, std::move(route.handler),
                                 std::move(route.resource_params), vault_api_->RouteName(route));
        !s.ok()) {
      return s;
    }
  }
  if (config_.pki().acme().enabled()) {
    acme_ = std::make_unique<acme::AcmeServer>(config_.pki(), ca_.get(), storage_.get(),
                                               barrier_.get());
    for (acme::AcmeRoute& route : acme_->Routes()) {
      if (route.authenticated) {
        if (absl::Status s = Protect(route.method, route.pattern, std::move(route.handler),
                                     nullptr, route.route_name);
            !s.ok()) {
          return s;
        }
        continue;
      }
      http_->Handle(route.method, route.pattern,
                    access::GateHttpWithoutCredentials(
                        gate_.get(), access::RouteOrDie(route.route_name), std::move(route.handler)));
    }
  }
  // Paths and methods no route takes are answered 404/405 through the gate, so that they
  // are audited like every request.
  http_->HandleUnrouted([gate = gate_.get(), &route = access::RouteOrDie(access::kUnroutedHttp)](
                            const HttpRequest& request, HttpResponse answer) {
    return access::GateHttp(gate, route, [&answer](const HttpRequest&) { return answer; })(request);
  });
  if (absl::Status s = http_->Start(hc.address()); !s.ok()) return s;
  std::string host = hc.address().substr(0, hc.address().rfind(':'));
  if (config_.pki().base_url().empty() && !config_.pki().plain_http().enabled()) {
    ca_->SetBaseUrl(absl::StrCat("https://", host, ":", http_->port()));
  }
  // Not "listening on HOST:PORT": that phrase is the gRPC address in the startup line.
  LogInfo(absl::StrCat("HTTP listening on https://", host, ":", http_->port()));
  return absl::OkStatus();
}

void Strongroomd::Monitor() {
  bool was_serving = true;
  while (!stop_.WaitForNotificationWithTimeout(kMonitorPeriod)) {
    // glibc keeps pages freed after a burst in its per-thread arenas; hand whole free pages
    // back so the footprint follows the load (tools/soak: RSS after idle, README "What
    // bounds memory").
    malloc_trim(0);
    kms::Barrier::State state = barrier_->state();
    absl::Status health = hsm_->health();
    if (!state.sealed && !health.ok()) {
      // Any call drives the pool's reconnection; a byte of randomness is the cheapest.
      uint8_t probe;
      health = hsm_->GenerateRandom(absl::MakeSpan(&probe, 1));
    }
    // A read through the storage's own path: for PostgreSQL it also drives reconnection.
    absl::Status storage_health = storage_->Get(kStorageProbeKey).status();
    bool serving = !state.sealed && health.ok() && storage_health.ok();
    if (serving != was_serving) {
      if (serving) {
        LogInfo("HSM and storage available again; serving");
      } else if (state.sealed) {
        LogWarning(absl::StrCat("not serving: sealed (", state.sealed_reason, ")"));
      } else if (!health.ok()) {
        LogError(absl::StrCat("not serving: HSM unavailable: ", health.message()));
      } else {
        LogError(absl::StrCat("not serving: storage unavailable: ", storage_health.message()));
      }
      grpc_->GetHealthCheckService()->SetServingStatus(serving);
      was_serving = serving;
    }
  }
}

void Strongroomd::Maintain() {
  const absl::Duration period = ToDuration(config_.transit().auto_rotate_check_interval());
  while (!stop_.WaitForNotificationWithTimeout(period)) {
    // Another node runs the background work unless this one holds the lease; the jobs'
    // writes require it, so they stop landing as soon as another node takes over.
    const std::optional<kms::LeaseFence> lease = cluster_->lease();
    if (!lease.has_value()) continue;
    if (absl::Status s = ca_->RefreshDueCrls(absl::Now(), *lease); !s.ok()) {
      LogWarning(absl::StrCat("CRL refresh: ", s.message()));
    }
    absl::StatusOr<int> rotated = keyring_->RotateDueKeys(absl::Now(), *lease);
    if (!rotated.ok()) {
      LogWarning(absl::StrCat("auto-rotation: ", rotated.status().message()));
    } else if (*rotated > 0) {
      LogInfo(absl::StrCat("auto-rotation: rotated ", *rotated, " key(s)"));
    }
  }
}

void Strongroomd::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stop_.Notify();
  if (monitor_.joinable()) monitor_.join();
  if (maintainer_.joinable()) maintainer_.join();
  auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(config_.grpc().drain_seconds());
  if (kms_server_ != nullptr) {
    kms_server_->Shutdown(deadline);
    kms_server_->Wait();
    unlink(config_.kms_plugin().socket_path().c_str());
  }
  // HTTP drains beside gRPC, within the same bound.
  std::thread http_drain([this] {
    if (http_ != nullptr) http_->Stop();
    if (plain_http_ != nullptr) plain_http_->Stop();
  });
  if (grpc_ != nullptr) {
    grpc_->Shutdown(deadline);
    grpc_->Wait();
  }
  http_drain.join();
  cluster_.reset();
  watcher_.reset();
  // Every listener is stopped, so nothing appends any more: close the audit log now, while
  // the HSM can still sign its final checkpoint (sealing logs out), so the tail is covered.
  audit_.reset();
  if (barrier_ != nullptr) barrier_->Seal("shutting down");
}

}  // namespace strongroom::server
