// AcmeService: routes, the per-request frame (context, nonces, rate limits), the directory,
// nonces and accounts. Orders, authorizations, certificates: acme_orders.cc.
#include "server/acme/acme_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server::acme {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kMaxContacts = 10;
constexpr size_t kMaxContactLength = 320;
// Rate buckets kept before the tables start over (a flood of sources cannot grow them).

// The request's Host header if it is a plausible host[:port], else "".
std::string HostOf(const HttpRequest& request) {
  auto it = request.headers.find("host");
  if (it == request.headers.end() || it->second.empty() || it->second.size() > 262) return "";
  for (char c : it->second) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']') {
      return "";
    }
  }
  return it->second;
}

// "ipv4:127.0.0.1:40112" -> "ipv4:127.0.0.1".
std::string SourceOf(const std::string& peer) {
  size_t colon = peer.rfind(':');
  return colon == std::string::npos || colon < 5 ? peer : peer.substr(0, colon);
}

// The payload's "contact": at most kMaxContacts "mailto:" URLs.
std::optional<Problem> ReadContacts(const Struct& payload, std::vector<std::string>* out) {
  const Value* contact = vault::Field(payload, "contact");
  if (contact == nullptr) return std::nullopt;
  if (!contact->has_list_value() || contact->list_value().values_size() > kMaxContacts) {
    return Malformed(absl::StrCat("contact: expected a list of at most ", kMaxContacts, " URLs"));
  }
  for (const Value& v : contact->list_value().values()) {
    if (!v.has_string_value() || v.string_value().size() > kMaxContactLength ||
        v.string_value().rfind("mailto:", 0) != 0) {
      return Problem{"invalidContact",
                     absl::StrCat("contact: each must be a mailto: URL of at most ",
                                  kMaxContactLength, " characters"),
                     400};
    }
    out->push_back(v.string_value());
  }
  return std::nullopt;
}

}  // namespace

AcmeService::AcmeService(pki::Ca* ca, AcmeStore* store, ValidationQueue* validations,
                         ExternalAccounts* external_accounts, AcmeServiceOptions options)
    : ca_(ca),
      store_(store),
      validations_(validations),
      external_accounts_(external_accounts),
      options_(std::move(options)) {}

std::vector<AcmeRoute> AcmeService::Routes() {
  struct Endpoint {
    const char* method;
    const char* suffix;
    Handler handler;
  };
  auto post = [this](KeyKind kind, auto method) {
    return Post(kind, [this, method](const HttpRequest& r, const Context& c, JwsRequest& j) {
      return (this->*method)(r, c, j);
    });
  };
  auto post_ctx = [this](KeyKind kind, auto method) {
    return Post(kind, [this, method](const HttpRequest&, const Context& c, JwsRequest& j) {
      return (this->*method)(c, j);
    });
  };
  std::vector<Endpoint> endpoints = {
      {"GET", "/directory",
       [this](const HttpRequest& r, const Context& c) { return Directory(r, c); }},
      {"HEAD", "/new-nonce",
       [this](const HttpRequest& r, const Context& c) { return NewNonce(r, c); }},
      {"GET", "/new-nonce",
       [this](const HttpRequest& r, const Context& c) { return NewNonce(r, c); }},
      {"POST", "/new-account", post_ctx(KeyKind::kJwk, &AcmeService::NewAccount)},
      {"POST", "/account/{id}", post(KeyKind::kAccount, &AcmeService::Account)},
      {"POST", "/account/{id}/orders", post(KeyKind::kAccount, &AcmeService::AccountOrders)},
      {"POST", "/key-change", post_ctx(KeyKind::kAccount, &AcmeService::KeyChange)},
      {"POST", "/new-order", post_ctx(KeyKind::kAccount, &AcmeService::NewOrder)},
      {"POST", "/order/{id}", post(KeyKind::kAccount, &AcmeService::Order)},
      {"POST", "/order/{id}/finalize", post(KeyKind::kAccount, &AcmeService::Finalize)},
      {"POST", "/authz/{id}", post(KeyKind::kAccount, &AcmeService::Authorization)},
      {"POST", "/challenge/{id}/{type}", post(KeyKind::kAccount, &AcmeService::Challenge)},
      {"POST", "/cert/{serial}", post(KeyKind::kAccount, &AcmeService::Certificate)},
      {"POST", "/revoke-cert", post_ctx(KeyKind::kEither, &AcmeService::RevokeCert)},
  };
  // EAB keys are made for a role, so only under a role's directory.
  std::vector<AcmeRoute> routes = {
      {"POST", absl::StrCat("/v1/", options_.mount, "/roles/{role}/acme/new-eab"),
       "POST /v1/pki/roles/{role}/acme/new-eab",
       [this](const HttpRequest& r) { return NewEab(r); }, /*authenticated=*/true}};
  for (const Endpoint& e : endpoints) {
    for (bool default_directory : {false, true}) {
      const std::string tail = absl::StrCat(default_directory ? "" : "/roles/{role}", "/acme",
                                            e.suffix);
      routes.push_back({e.method, absl::StrCat("/v1/", options_.mount, tail),
                        absl::StrCat(e.method, " /v1/pki", tail),
                        Wrap(default_directory, e.handler)});
    }
  }
  return routes;
}

size_t AcmeService::rate_buckets() const {
  absl::MutexLock lock(&rate_mu_);
  return account_rates_.size() + source_rates_.size();
}

bool AcmeService::TakeRate(bool per_account, const std::string& key) {
  const uint32_t per_second =
      per_account ? options_.account_requests_per_second : options_.source_requests_per_second;
  absl::MutexLock lock(&rate_mu_);
  auto& buckets = per_account ? account_rates_ : source_rates_;
  auto it = buckets.find(key);
  if (it == buckets.end()) {
    if (buckets.size() >= kMaxRateBuckets) buckets.clear();
    it = buckets.emplace(key, std::make_unique<access::TokenBucket>(per_second, per_second)).first;
  }
  return it->second->TryTake(absl::Now());
}

std::string AcmeService::BaseUrl(const HttpRequest& request, bool default_directory,
                                 const std::string& role) const {
  const std::string origin = options_.external_url.empty()
                                 ? absl::StrCat("https://", HostOf(request))
                                 : options_.external_url;
  if (origin == "https://") return "";
  return absl::StrCat(origin, "/v1/", options_.mount,
                      default_directory ? "" : absl::StrCat("/roles/", role), "/acme");
}

bool AcmeService::ExternalAccountRequired(const std::string& role) const {
  for (const std::string& r : options_.external_account_required) {
    if (r == "*" || r == role) return true;
  }
  return false;
}

HttpHandler AcmeService::Wrap(bool default_directory, Handler handler) {
  return [this, default_directory, handler = std::move(handler)](const HttpRequest& request) {
    Context ctx;
    ctx.role = default_directory ? options_.default_role : vault::PathParam(request, "role");
    ctx.source = SourceOf(request.peer);
    const std::string base = BaseUrl(request, default_directory, ctx.role);
    HttpResponse response;
    if (ctx.role.empty()) {
      response = ProblemResponse({"malformed", "no default ACME directory is configured", 404});
    } else if (base.empty()) {
      response = ProblemResponse(Malformed("the request has no valid Host header"));
    } else if (!TakeRate(false, ctx.source)) {
      response = ProblemResponse(RateLimited("too many requests from this address"));
    } else {
      ctx.base = base;
      // The origin of `base`, then the path as requested.
      ctx.url = absl::StrCat(absl::string_view(base).substr(0, base.find("/v1/")), request.path);
      response = handler(request, ctx);
    }
    absl::StatusOr<std::string> nonce = store_->NewNonce(absl::Now());
    if (nonce.ok()) response.headers.emplace_back("Replay-Nonce", *nonce);
    if (!ctx.base.empty()) {
      response.headers.emplace_back("Link", absl::StrCat("<", ctx.base, "/directory>;rel=\"index\""));
    }
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  };
}

AcmeService::Handler AcmeService::Post(KeyKind kind, PostHandler handler) {
  return [this, kind, handler = std::move(handler)](const HttpRequest& request,
                                                     const Context& ctx) {
    auto type = request.headers.find("content-type");
    if (type == request.headers.end() ||
        absl::AsciiStrToLower(type->second).rfind("application/jose+json", 0) != 0) {
      return ProblemResponse(
          {"malformed", "the Content-Type must be application/jose+json", 415});
    }
    JwsRequest jws;
    if (std::optional<Problem> p = VerifyJwsRequest(request.body, ctx.url, ctx.base + "/account/",
                                                    kind, store_, absl::Now(), &jws)) {
      return ProblemResponse(*p);
    }
    HttpResponse response =
        jws.account && !TakeRate(true, jws.account->record.id())
            ? ProblemResponse(RateLimited("too many requests from this account"))
            : handler(request, ctx, jws);
    // The audit line: who (account, or the key of a request that names none), the object the
    // path names, then what the handler reported (order, names, serial, problem).
    std::string detail = jws.account ? absl::StrCat("account=", jws.account->record.id())
                                     : absl::StrCat("jwk=", jws.key->thumbprint());
    for (const auto& [name, value] : request.path_params) {
      if (name != "role") absl::StrAppend(&detail, " ", name, "=", value);
    }
    if (!response.audit_detail.empty()) absl::StrAppend(&detail, " ", response.audit_detail);
    response.audit_detail = std::move(detail);
    return response;
  };
}

HttpResponse AcmeService::Directory(const HttpRequest&, const Context& ctx) {
  v1::GetRoleRequest get;
  get.set_name(ctx.role);
  absl::StatusOr<v1::Role> role = ca_->GetRole(get);
  if (absl::IsNotFound(role.status())) {
    return ProblemResponse({"malformed", absl::StrCat("no role ", ctx.role), 404});
  }
  if (!role.ok()) return ProblemResponse(ServerProblem(role.status()));
  vault::Json meta = vault::Json::Object();
  if (!options_.terms_of_service.empty()) meta.Set("termsOfService", options_.terms_of_service);
  meta.Set("externalAccountRequired", ExternalAccountRequired(ctx.role));
  return vault::JsonResponse(200, vault::Json::Object()
                                      .Set("newNonce", ctx.base + "/new-nonce")
                                      .Set("newAccount", ctx.base + "/new-account")
                                      .Set("newOrder", ctx.base + "/new-order")
                                      .Set("revokeCert", ctx.base + "/revoke-cert")
                                      .Set("keyChange", ctx.base + "/key-change")
                                      .Set("meta", std::move(meta)));
}

HttpResponse AcmeService::NewNonce(const HttpRequest& request, const Context&) {
  HttpResponse response;
  response.status = request.method == "HEAD" ? 200 : 204;
  return response;
}

HttpResponse AcmeService::NewAccount(const Context& ctx, JwsRequest& jws) {
  if (jws.post_as_get) return ProblemResponse(Malformed("newAccount needs a JSON payload"));
  absl::StatusOr<bool> only_existing =
      vault::GetBool(jws.payload, "onlyReturnExisting", "onlyReturnExisting");
  absl::StatusOr<bool> agreed =
      vault::GetBool(jws.payload, "termsOfServiceAgreed", "termsOfServiceAgreed");
  if (!only_existing.ok() || !agreed.ok()) {
    return ProblemResponse(Malformed("onlyReturnExisting and termsOfServiceAgreed are booleans"));
  }
  absl::StatusOr<std::optional<std::string>> existing =
      store_->AccountIdByThumbprint(jws.key->thumbprint());
  if (!existing.ok()) return ProblemResponse(ServerProblem(existing.status()));
  AccountRecord account;
  int status = 200;
  if (existing->has_value()) {
    absl::StatusOr<std::optional<Stored<AccountRecord>>> stored = store_->GetAccount(**existing);
    if (!stored.ok()) return ProblemResponse(ServerProblem(stored.status()));
    if (!stored->has_value()) return ProblemResponse(ServerProblem(absl::InternalError("")));
    account = (*stored)->record;
    if (account.status() != "valid") return ProblemResponse(Unauthorized("the account is deactivated"));
  } else if (*only_existing) {
    return ProblemResponse({"accountDoesNotExist", "no account has this key", 400});
  } else {
    std::vector<std::string> contact;
    if (std::optional<Problem> p = ReadContacts(jws.payload, &contact)) return ProblemResponse(*p);
    if (!options_.terms_of_service.empty() && !*agreed) {
      return ProblemResponse({"userActionRequired", "agree to the terms of service first", 403});
    }
    account.set_id(AcmeStore::NewId());
    account.set_jwk(jws.key->canonical_json());
    account.set_thumbprint(jws.key->thumbprint());
    account.set_status("valid");
    for (std::string& c : contact) account.add_contact(std::move(c));
    account.set_terms_agreed(*agreed);
    account.set_created(absl::ToUnixSeconds(absl::Now()));
    account.set_role(ctx.role);
    const Value* eab = vault::Field(jws.payload, "externalAccountBinding");
    if (eab == nullptr && ExternalAccountRequired(ctx.role)) {
      return ProblemResponse({"externalAccountRequired",
                              "this directory requires an externalAccountBinding", 400});
    }
    std::optional<Stored<EabRecord>> binding;
    if (eab != nullptr) {
      binding.emplace();
      if (std::optional<Problem> p = external_accounts_->Verify(*eab, ctx.url, *jws.key, ctx.role,
                                                                absl::Now(), &*binding)) {
        return ProblemResponse(*p);
      }
      account.set_eab_kid(binding->record.kid());
    }
    absl::Status created =
        binding ? store_->CreateAccount(account, &*binding,
                                        external_accounts_->Consume(binding->record.kid()))
                : store_->CreateAccount(account);
    if (absl::IsFailedPrecondition(created)) {
      return ProblemResponse(Unauthorized(
          "externalAccountBinding: no usable EAB key for this directory verifies it"));
    }
    if (absl::IsAlreadyExists(created)) {
      return ProblemResponse(ServerProblem(absl::AbortedError("")));  // raced; the retry finds it
    }
    if (!created.ok()) return ProblemResponse(ServerProblem(created));
    status = 201;
  }
  HttpResponse response = vault::JsonResponse(status, AccountJson(account, ctx));
  response.headers.emplace_back("Location", absl::StrCat(ctx.base, "/account/", account.id()));
  response.audit_detail = absl::StrCat("account=", account.id());
  if (!account.eab_kid().empty()) absl::StrAppend(&response.audit_detail, " eab=", account.eab_kid());
  return response;
}

HttpResponse AcmeService::NewEab(const HttpRequest& request) {
  const std::string role = vault::PathParam(request, "role");
  v1::GetRoleRequest get;
  get.set_name(role);
  absl::StatusOr<v1::Role> found = ca_->GetRole(get);
  if (absl::IsNotFound(found.status())) {
    return JsonErrors(404, {absl::StrCat("no role ", role)});
  }
  if (!found.ok()) return vault::StatusError(found.status());
  absl::StatusOr<ExternalAccounts::NewKey> key = external_accounts_->Create(role, absl::Now());
  if (!key.ok()) return vault::StatusError(key.status());
  const std::string base = BaseUrl(request, /*default_directory=*/false, role);
  vault::Json data = vault::Json::Object()
                         .Set("id", key->record.kid())
                         .Set("key_type", "hs")
                         .Set("key", jose::Base64UrlEncode(key->hmac_key.RevealSecretAsString()))
                         .Set("role", role)
                         .Set("created_on", vault::Rfc3339(absl::FromUnixSeconds(key->record.created())))
                         .Set("expires", vault::Rfc3339(absl::FromUnixSeconds(key->record.expires())));
  if (!base.empty()) data.Set("acme_directory", base + "/directory");
  HttpResponse response = vault::Envelope(200, std::move(data));
  response.headers.emplace_back("Cache-Control", "no-store");
  response.audit_detail = absl::StrCat("eab=", key->record.kid());
  return response;
}

HttpResponse AcmeService::Account(const HttpRequest& request, const Context& ctx,
                                  JwsRequest& jws) {
  Stored<AccountRecord>& account = *jws.account;
  if (vault::PathParam(request, "id") != account.record.id()) {
    return ProblemResponse(Unauthorized("an account may only read and change itself"));
  }
  if (!jws.post_as_get) {
    absl::StatusOr<const std::string*> status =
        vault::GetString(jws.payload, "status", "status");
    if (!status.ok()) return ProblemResponse(Malformed("status: expected a string"));
    AccountRecord updated = account.record;
    if (*status != nullptr) {
      if (**status != "deactivated") {
        return ProblemResponse(Malformed("status: only \"deactivated\" may be set"));
      }
      updated.set_status("deactivated");
    }
    if (vault::Field(jws.payload, "contact") != nullptr) {
      std::vector<std::string> contact;
      if (std::optional<Problem> p = ReadContacts(jws.payload, &contact)) return ProblemResponse(*p);
      updated.clear_contact();
      for (std::string& c : contact) updated.add_contact(std::move(c));
    }
    absl::Status s = store_->UpdateAccount(updated, account.revision, account.record.thumbprint());
    if (!s.ok()) return ProblemResponse(ServerProblem(s));
    account.record = std::move(updated);
  }
  return vault::JsonResponse(200, AccountJson(account.record, ctx));
}

HttpResponse AcmeService::KeyChange(const Context& ctx, JwsRequest& jws) {
  if (jws.post_as_get) return ProblemResponse(Malformed("keyChange needs a JWS payload"));
  absl::StatusOr<jose::Jws> inner = jose::ParseFlattened(jws.raw_payload);
  if (!inner.ok()) return ProblemResponse(Malformed("the keyChange payload is not a flattened JWS"));
  const Value* jwk = vault::Field(inner->header, "jwk");
  const Value* url = vault::Field(inner->header, "url");
  if (jwk == nullptr || !jwk->has_struct_value() || vault::Field(inner->header, "kid") != nullptr) {
    return ProblemResponse(Malformed("the inner JWS must carry the new key as \"jwk\""));
  }
  if (url == nullptr || !url->has_string_value() || url->string_value() != ctx.url) {
    return ProblemResponse(Unauthorized("the inner JWS's \"url\" is not this request's URL"));
  }
  absl::StatusOr<jose::PublicJwk> new_key = jose::PublicJwk::FromStruct(jwk->struct_value());
  if (!new_key.ok()) return ProblemResponse(Malformed(absl::StrCat("new key: ", new_key.status().message())));
  if (!new_key->Accepts(inner->alg) ||
      !new_key->Verify(inner->alg, inner->signing_input, inner->signature)) {
    return ProblemResponse(Unauthorized("the inner JWS is not signed by the new key"));
  }
  Struct payload;
  if (std::optional<Problem> p = ParsePayload(inner->payload, "the inner payload", &payload)) {
    return ProblemResponse(*p);
  }
  Stored<AccountRecord>& account = *jws.account;
  const Value* named = vault::Field(payload, "account");
  const Value* old_key = vault::Field(payload, "oldKey");
  if (named == nullptr || !named->has_string_value() ||
      named->string_value() != absl::StrCat(ctx.base, "/account/", account.record.id())) {
    return ProblemResponse(Unauthorized("the inner payload's \"account\" is not the signer's"));
  }
  if (old_key == nullptr || !old_key->has_struct_value()) {
    return ProblemResponse(Malformed("the inner payload has no \"oldKey\" object"));
  }
  absl::StatusOr<jose::PublicJwk> old = jose::PublicJwk::FromStruct(old_key->struct_value());
  if (!old.ok() || !old->SameKey(*jws.key)) {
    return ProblemResponse(Unauthorized("\"oldKey\" is not the account's current key"));
  }
  absl::StatusOr<std::optional<std::string>> taken =
      store_->AccountIdByThumbprint(new_key->thumbprint());
  if (!taken.ok()) return ProblemResponse(ServerProblem(taken.status()));
  if (taken->has_value()) {
    HttpResponse response = ProblemResponse({"malformed", "the new key has an account", 409});
    response.headers.emplace_back("Location", absl::StrCat(ctx.base, "/account/", **taken));
    return response;
  }
  AccountRecord updated = account.record;
  updated.set_jwk(new_key->canonical_json());
  updated.set_thumbprint(new_key->thumbprint());
  absl::Status s = store_->UpdateAccount(updated, account.revision, account.record.thumbprint());
  if (!s.ok()) return ProblemResponse(ServerProblem(s));
  return vault::JsonResponse(200, AccountJson(updated, ctx));
}

HttpResponse AcmeService::AccountOrders(const HttpRequest& request, const Context& ctx,
                                        JwsRequest& jws) {
  const AccountRecord& account = jws.account->record;
  if (vault::PathParam(request, "id") != account.id()) {
    return ProblemResponse(Unauthorized("an account may only list its own orders"));
  }
  absl::StatusOr<std::vector<std::string>> ids =
      store_->ListOrders(account.id(), options_.max_orders_per_account);
  if (!ids.ok()) return ProblemResponse(ServerProblem(ids.status()));
  vault::Json orders = vault::Json::Array();
  for (const std::string& id : *ids) orders.Push(absl::StrCat(ctx.base, "/order/", id));
  return vault::JsonResponse(200, vault::Json::Object().Set("orders", std::move(orders)));
}

vault::Json AcmeService::AccountJson(const AccountRecord& account, const Context& ctx) const {
  std::vector<std::string> contact(account.contact().begin(), account.contact().end());
  return vault::Json::Object()
      .Set("status", account.status())
      .Set("contact", vault::Json::Strings(contact))
      .Set("termsOfServiceAgreed", account.terms_agreed())
      .Set("orders", absl::StrCat(ctx.base, "/account/", account.id(), "/orders"));
}

}  // namespace strongroom::server::acme
