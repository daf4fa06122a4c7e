// Strongroomd: the assembled server — HSM, storage, barrier, gRPC listener and the HSM
// health monitor.
//
// Start() opens the HSM (logging in), opens storage, unseals (auto-unseal: creating KEK 1
// on a new storage), makes a self-signed TLS certificate if none is configured, and
// serves strongroom.v1.System, strongroom.v1.Transit, strongroom.v1.Pki (CA keys in the HSM,
// signing through an hsm::HsmProvider), grpc.health.v1.Health and server
// reflection, and the Kubernetes KMS v2 plugin on a unix socket when kms_plugin is
// configured. Keys with an auto_rotate_period are rotated when due, and CRLs are rebuilt
// when half their validity has passed. Any failure is
// returned as one clear status; nothing is left running. While serving, a monitor probes
// the HSM and the storage every few seconds so an outage of either is noticed (health
// NOT_SERVING, status unavailable) and the token or database is found again when it
// returns. Storage is SQLite or PostgreSQL (storage.postgres). Shutdown() stops accepting
// calls, lets in-flight calls finish for up to drain_seconds, then seals. When http is
// enabled, an HTTPS listener with the gRPC certificate serves GET /metrics (Prometheus
// text format; see server_metrics.h for what is measured), the Vault-compatible transit
// API (server/http/vault/vault_api.h) and the PKI distribution points; unless
// pki.plain_http is disabled, a plain-HTTP listener serves those public documents only
// (server/http/pki_documents.h), and is what issued certificates' AIA and CRL DP name.
//
// Access: every gRPC call and HTTP route passes the access gate (server/access/gate.h):
// mTLS identities (client certificates requested, verified against auth.client_ca_file
// and auth.client_ca_issuers, the latter's revocations applied from the next request on),
// tokens, compiled policies, and a durable audit record
// (server/audit/audit_log.h) before the reply. On the first start the one-time
// bootstrap root token is written to <state_dir>/root-token (0600).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "server/access/http_gate.h"
#include "server/http/pki_documents.h"
#include "server/http/server.h"
#include "strongroom/v1/config.pb.h"

namespace grpc {
class Server;
}

namespace strongroom::hsm {
class Hsm;
class HsmProvider;
}  // namespace strongroom::hsm

namespace strongroom::pki {
class Ca;
}

namespace strongroom::kms {
class Barrier;
class ChangeWatcher;
class Keyring;
class Storage;
class Transit;
}  // namespace strongroom::kms

namespace strongroom::server::access {
class Gate;
class GrpcGate;
class UnknownGrpcMethods;
class TokenStore;
namespace jwt {
class JwtLogin;
}
}  // namespace strongroom::server::access

namespace strongroom::server::audit {
class AuditLog;
class AuditHasher;
class HsmAuditSigner;
}  // namespace strongroom::server::audit

namespace strongroom::server {

class AuthService;
class ClusterNode;
class KmsPluginService;
class PkiService;
class MetricsRegistry;
class ServerMetrics;
class SystemService;
class TransitService;
namespace vault {
class VaultApi;
}
namespace acme {
class AcmeServer;
}
class WorkerPool;

class Strongroomd {
 public:
  static absl::StatusOr<std::unique_ptr<Strongroomd>> Start(const v1::ServerConfig& config);
  // Opens the HSM and storage (not serving), revokes the root token in
  // <state_dir>/root-token if there is one, creates a new one-time root token and writes it
  // there (0600); returns that path.
  static absl::StatusOr<std::string> GenerateRootToken(const v1::ServerConfig& config);
  ~Strongroomd();

  int port() const { return port_; }
  // The bound HTTPS port; 0 when http is disabled.
  int http_port() const;
  // The bound port of the plain-HTTP PKI documents listener; 0 when it is disabled.
  int pki_documents_port() const;
  // True if Start() made a new self-signed certificate.
  bool created_certificate() const { return created_certificate_; }
  void Shutdown();
  // Compiles config.auth's policies, identity bindings and JWT issuers and roles (and
  // re-reads the client CAs and JWK Set files) and swaps them in; on error nothing changes.
  // For SIGHUP.
  absl::Status ReloadAccess(const v1::ServerConfig& config);

 private:
  explicit Strongroomd(v1::ServerConfig config);
  void Monitor();
  // Every transit.auto_rotate_check_interval: rotates keys that are due and rebuilds CRLs
  // older than half their validity.
  void Maintain();
  absl::Status StartKmsPlugin();
  absl::Status StartAccess();
  absl::Status StartHttp();
  // Exports every bounded cache and queue (ServerMetrics::RegisterBounded); after StartHttp.
  void RegisterBoundedStructures();
  // Registers an HTTP route behind the access gate, as routes.cc lists it under
  // `route_name` ("METHOD pattern" if empty), with `params` for resource values the path does
  // not carry (see access::GateHttp); NOT_FOUND if routes.cc lacks it.
  absl::Status Protect(const std::string& method, const std::string& pattern,
                       std::function<HttpResponse(const HttpRequest&)> handler,
                       access::HttpResourceParams params = nullptr,
                       const std::string& route_name = "");
  // GET /v1/pki/{issuer}/ca and /crl, POST /v1/pki/{issuer}/ocsp, GET .../ocsp/{request}.
  absl::Status RegisterPkiRoutes();
  // Registers a public route on `server` behind the gate with no credentials read;
  // NOT_FOUND if routes.cc lacks it, FAILED_PRECONDITION if it is not public.
  absl::Status ServeWithoutCredentials(HttpServer* server, const std::string& method,
                                       const std::string& pattern, HttpHandler handler);
  // The plain-HTTP listener for the PKI documents (pki.plain_http), and the CA's base URL
  // when it is derived from the listener's bound port.
  absl::Status StartPkiDocuments();

  const v1::ServerConfig config_;
  // Declared first so that they outlive every server and the HSM that report to them.
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<ServerMetrics> server_metrics_;
  std::unique_ptr<hsm::Hsm> hsm_;
  std::unique_ptr<hsm::HsmProvider> provider_;  // after hsm_: destroyed before it
  std::unique_ptr<kms::Storage> storage_;
  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<kms::Keyring> keyring_;
  std::unique_ptr<kms::Transit> transit_;
  std::unique_ptr<pki::Ca> ca_;
  std::unique_ptr<audit::HsmAuditSigner> audit_signer_;
  std::unique_ptr<audit::AuditHasher> audit_hasher_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<access::TokenStore> tokens_;
  // After every cache it keeps fresh: destroyed (its thread stopped) before them.
  std::unique_ptr<kms::ChangeWatcher> watcher_;
  std::unique_ptr<ClusterNode> cluster_;  // holds the background lease when Maintain runs
  std::unique_ptr<access::Gate> gate_;
  std::unique_ptr<access::jwt::JwtLogin> jwt_login_;
  std::unique_ptr<WorkerPool> workers_;  // gRPC requests run here
  std::unique_ptr<access::GrpcGate> grpc_gate_;
  std::unique_ptr<access::UnknownGrpcMethods> unknown_methods_;
  std::unique_ptr<AuthService> auth_service_;
  std::unique_ptr<SystemService> system_;
  std::unique_ptr<TransitService> transit_service_;
  std::unique_ptr<PkiService> pki_service_;
  std::unique_ptr<KmsPluginService> kms_plugin_;
  std::unique_ptr<grpc::Server> kms_server_;  // on the unix socket, when configured
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<vault::VaultApi> vault_api_;
  std::unique_ptr<acme::AcmeServer> acme_;  // pki.acme, on http_
  std::unique_ptr<HttpServer> http_;
  // One OCSP responder (and one cache of pre-signed responses) for the PKI documents and the
  // Vault PKI API.
  std::shared_ptr<pki::OcspResponder> ocsp_;
  std::vector<PkiDocumentRoute> pki_documents_;  // served on http_ and plain_http_
  std::unique_ptr<HttpServer> plain_http_;        // public PKI documents, no TLS
  int port_ = 0;
  bool created_certificate_ = false;
  absl::Notification stop_;
  std::thread monitor_;
  std::thread maintainer_;
  bool shut_down_ = false;
};

}  // namespace strongroom::server
