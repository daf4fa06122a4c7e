// AcmeService: the RFC 8555 server over pki::Ca, one directory per role
// (/v1/<mount>/roles/<role>/acme/...) and a default one (/v1/<mount>/acme/...) for
// AcmeServiceOptions::default_role.
//
// Resources under a directory's prefix: directory (GET), new-nonce (HEAD, GET), and by
// JWS POST (jws_request.h): new-account, account/<id>, key-change, new-order, order/<id>,
// order/<id>/finalize, authz/<id>, challenge/<authz>/<type>, cert/<serial>, revoke-cert.
// Reads are POST-as-GET by the owning account. Every response carries a fresh Replay-Nonce,
// Link rel="index" and Cache-Control: no-store; errors are problem documents (problem.h).
//
// Orders: identifiers are checked against the role when ordered (rejectedIdentifier) and the
// CSR at finalize must name exactly the order's identifiers (badCSR); the certificate is
// signed by pki::Ca::SignCertificate under the role, with caller rights that allow exactly
// the order's validated names, so every role rule of every other issuance applies.
// A challenge the client asks to be checked goes to "processing" at once and is validated
// off the request path (validation_queue.h); the client polls. Certificates are revoked by
// the ordering account or with the certificate's own key, with an RFC 5280 reason.
//
// URLs: every URL given out starts with options.external_url when set (the Host header is
// then ignored), else with "https://" + the request's Host header.
// External account binding (external_account.h): directories of the roles in
// options.external_account_required (or all, with "*") refuse newAccount without a valid
// binding (externalAccountRequired); any directory checks a binding it is given. EAB keys
// are made by POST <role's directory prefix>/new-eab, the one route here that needs a
// token (operation pki.acme.eab on pki/roles/<role>); its reply, in Vault's shape, shows
// the HMAC key once.
//
// Bounds: bodies (jose::kMaxJoseInput), identifiers per order, unexpired orders per account,
// requests per second per account and per source address (rateLimited). Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pki/ca.h"
#include "server/access/token_bucket.h"
#include "server/acme/acme_store.h"
#include "server/acme/external_account.h"
#include "server/acme/jws_request.h"
#include "server/acme/problem.h"
#include "server/acme/validation_queue.h"
#include "server/http/router.h"
#include "server/http/vault/json.h"

namespace strongroom::server::acme {

struct AcmeServiceOptions {
  std::string mount = "pki";
  std::string external_url;  // "https://host[:port]"; "" takes the request's Host
  std::vector<std::string> external_account_required;  // roles, or "*"
  std::string default_role;  // "" serves no default directory
  std::string terms_of_service;
  absl::Duration order_lifetime = absl::Hours(1);
  uint32_t max_identifiers = 20;
  uint32_t max_orders_per_account = 100;
  uint32_t account_requests_per_second = 20;
  uint32_t source_requests_per_second = 50;
};

// One route: pattern in HttpRouter syntax, and its name in server/access/routes.cc (the
// pattern under the default mount "pki").
struct AcmeRoute {
  std::string method;
  std::string pattern;
  std::string route_name;
  HttpHandler handler;
  bool authenticated = false;  // behind the gate with credentials (new-eab); else public
};

class AcmeService {
 public:
  // None of the pointers is owned; all outlive the service.
  AcmeService(pki::Ca* ca, AcmeStore* store, ValidationQueue* validations,
              ExternalAccounts* external_accounts, AcmeServiceOptions options);

  std::vector<AcmeRoute> Routes();

  // Most request-rate buckets kept per kind (accounts, sources); all of a kind are dropped
  // when it is full.
  static constexpr size_t kMaxRateBuckets = 10000;
  // Rate buckets held, both kinds (at most 2 * kMaxRateBuckets), for metrics.
  size_t rate_buckets() const ABSL_LOCKS_EXCLUDED(rate_mu_);

 private:
  // What every handler knows about the request's directory.
  struct Context {
    std::string role;
    std::string base;  // "https://host/v1/<mount>/roles/<role>/acme" (no trailing '/')
    std::string url;   // this request's absolute URL
    std::string source;  // the client's address, without the port
  };
  using Handler = std::function<HttpResponse(const HttpRequest&, const Context&)>;

  // `handler` with the directory context, rate limits per source, and the headers every
  // ACME response carries.
  HttpHandler Wrap(bool default_directory, Handler handler);
  // A POST handler: the JWS is verified first (jws_request.h), then rate-limited per account.
  using PostHandler =
      std::function<HttpResponse(const HttpRequest&, const Context&, JwsRequest&)>;
  Handler Post(KeyKind kind, PostHandler handler);

  // "https://host/v1/<mount>[/roles/<role>]/acme", or "" without external_url and a valid
  // Host header.
  std::string BaseUrl(const HttpRequest& request, bool default_directory,
                      const std::string& role) const;
  bool ExternalAccountRequired(const std::string& role) const;
  // POST .../roles/<role>/acme/new-eab (authenticated; not an ACME resource).
  HttpResponse NewEab(const HttpRequest& request);

  HttpResponse Directory(const HttpRequest& request, const Context& ctx);
  HttpResponse NewNonce(const HttpRequest& request, const Context& ctx);
  HttpResponse NewAccount(const Context& ctx, JwsRequest& jws);
  HttpResponse Account(const HttpRequest& request, const Context& ctx, JwsRequest& jws);
  HttpResponse KeyChange(const Context& ctx, JwsRequest& jws);
  HttpResponse NewOrder(const Context& ctx, JwsRequest& jws);
  HttpResponse Order(const HttpRequest& request, const Context& ctx, JwsRequest& jws);
  HttpResponse Finalize(const HttpRequest& request, const Context& ctx, JwsRequest& jws);
  HttpResponse Authorization(const HttpRequest& request, const Context& ctx, JwsRequest& jws);
  HttpResponse Challenge(const HttpRequest& request, const Context& ctx, JwsRequest& jws);
  HttpResponse Certificate(const HttpRequest& request, const Context& ctx, JwsRequest& jws);
  HttpResponse RevokeCert(const Context& ctx, JwsRequest& jws);
  HttpResponse AccountOrders(const HttpRequest& request, const Context& ctx, JwsRequest& jws);

  // The order as stored, its status brought up to date with its authorizations and expiry
  // (and stored if it changed); nullopt with *problem set if it cannot be had.
  std::optional<Stored<OrderRecord>> LoadOrder(const std::string& id, const AccountRecord& owner,
                                               Problem* problem);
  // Queues again each challenge of `authz` left processing by a node that stopped.
  void ResumeStale(Stored<AuthorizationRecord>* authz);
  vault::Json AccountJson(const AccountRecord& account, const Context& ctx) const;
  vault::Json OrderJson(const OrderRecord& order, const Context& ctx) const;
  vault::Json ChallengeJson(const AuthorizationRecord& authz, const ChallengeRecord& challenge,
                            const Context& ctx) const;
  // Whether `key` (an account id, or a source address) may make one more request now.
  bool TakeRate(bool per_account, const std::string& key) ABSL_LOCKS_EXCLUDED(rate_mu_);

  pki::Ca* const ca_;
  AcmeStore* const store_;
  ValidationQueue* const validations_;
  ExternalAccounts* const external_accounts_;
  const AcmeServiceOptions options_;
  mutable absl::Mutex rate_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<access::TokenBucket>> account_rates_
      ABSL_GUARDED_BY(rate_mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<access::TokenBucket>> source_rates_
      ABSL_GUARDED_BY(rate_mu_);
};

}  // namespace strongroom::server::acme
