#include "server/http/vault/token.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/access/token_grant.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

int64_t Seconds(const google::protobuf::Duration& d) { return d.seconds(); }

// Seconds left before `info` expires (its configured ttl when it carries no expiry).
int64_t RemainingSeconds(const v1::TokenInfo& info, absl::Time now) {
  if (!info.has_expire_time()) {
    return info.period().seconds() > 0 ? info.period().seconds() : info.ttl().seconds();
  }
  int64_t left = absl::ToInt64Seconds(TimeOf(info.expire_time()) - now);
  return left > 0 ? left : 0;
}

bool IsAccessor(absl::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status RequireToken(const HttpRequest& request) {
  if (request.principal->kind == access::Principal::Kind::kToken) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this route acts on the calling token, and the request presented none (X-Vault-Token)");
}

std::vector<std::string> PoliciesOf(const v1::TokenInfo& info) {
  return {info.policies().begin(), info.policies().end()};
}

// Vault's data block of a token lookup. "id" (the token) is left out, always.
Json LookupData(const v1::TokenInfo& info, absl::Time now) {
  const bool periodic = info.period().seconds() > 0;
  int64_t explicit_max_ttl = 0;
  if (!periodic && info.has_max_expire_time() && info.has_create_time()) {
    explicit_max_ttl = info.max_expire_time().seconds() - info.create_time().seconds();
  }
  Json data = Json::Object()
                  .Set("accessor", info.accessor())
                  .Set("creation_time", info.create_time().seconds())
                  .Set("creation_ttl", periodic ? Seconds(info.period()) : Seconds(info.ttl()))
                  .Set("display_name", info.display_name())
                  .Set("entity_id", "")
                  .Set("expire_time", info.has_expire_time()
                                          ? Json(Rfc3339(TimeOf(info.expire_time())))
                                          : Json())
                  .Set("explicit_max_ttl", explicit_max_ttl)
                  .Set("issue_time", Rfc3339(TimeOf(info.create_time())))
                  .Set("meta", Json())
                  .Set("num_uses", 0)
                  .Set("orphan", info.orphan())
                  .Set("path", "auth/token/create")
                  .Set("policies", Json::Strings(PoliciesOf(info)))
                  .Set("renewable", info.renewable())
                  .Set("ttl", RemainingSeconds(info, now))
                  .Set("type", "service");
  if (periodic) data.Set("period", Seconds(info.period()));
  return data;
}

}  // namespace

Json TokenAuthBlock(const v1::TokenInfo& info, absl::Time now, const hsm::SecretData* token) {
  Json auth = Json::Object();
  if (token != nullptr) auth.Set("client_token", std::string(token->RevealSecretAsString()));
  std::vector<std::string> policies = PoliciesOf(info);
  auth.Set("accessor", info.accessor())
      .Set("policies", Json::Strings(policies))
      .Set("token_policies", Json::Strings(policies))
      .Set("metadata", Json())
      .Set("lease_duration", RemainingSeconds(info, now))
      .Set("renewable", info.renewable())
      .Set("entity_id", "")
      .Set("token_type", "service")
      .Set("orphan", info.orphan())
      .Set("num_uses", 0);
  return auth;
}

namespace {

HttpResponse NoContent() {
  HttpResponse response;
  response.status = 204;
  response.content_type = "";
  return response;
}

// The by-accessor routes answer an accessor that names no live token as Vault does.
HttpResponse TargetError(const absl::Status& status) {
  if (absl::IsNotFound(status)) return JsonErrors(400, {"invalid accessor"});
  return StatusError(status);
}

// "policies" as a JSON array of strings or a comma-separated string (Vault takes both).
absl::StatusOr<std::optional<std::vector<std::string>>> GetPolicies(const Struct& body) {
  const Value* v = Field(body, "policies");
  if (v == nullptr) return std::optional<std::vector<std::string>>();
  std::vector<std::string> out;
  if (v->kind_case() == Value::kStringValue) {
    for (absl::string_view p : absl::StrSplit(v->string_value(), ',', absl::SkipWhitespace())) {
      out.emplace_back(absl::StripAsciiWhitespace(p));
    }
  } else if (v->kind_case() == Value::kListValue) {
    for (const Value& item : v->list_value().values()) {
      if (item.kind_case() != Value::kStringValue) {
        return TypeError("policies", "a list of strings");
      }
      out.push_back(item.string_value());
    }
  } else {
    return TypeError("policies", "a list of strings");
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

void SetSeconds(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
}

// The create request a Vault body asks for; INVALID_ARGUMENT naming a field Strongroom's
// tokens do not have.
absl::StatusOr<v1::CreateTokenRequest> CreateRequestOf(const Struct& body, bool* no_parent) {
  v1::CreateTokenRequest out;
  absl::StatusOr<const std::string*> id = GetString(body, "id", "id");
  if (!id.ok()) return id.status();
  if (*id != nullptr && !(*id)->empty()) {
    return absl::InvalidArgumentError("id: Strongroom draws every token itself; omit id");
  }
  absl::StatusOr<std::optional<uint64_t>> uses = GetUint(body, "num_uses", "num_uses", 1u << 30);
  if (!uses.ok()) return uses.status();
  if (uses->value_or(0) != 0) {
    return absl::InvalidArgumentError("num_uses: Strongroom tokens have no use limit; omit it or send 0");
  }
  absl::StatusOr<const std::string*> type = GetString(body, "type", "type");
  if (!type.ok()) return type.status();
  if (*type != nullptr && !(*type)->empty() && **type != "service" && **type != "default") {
    return absl::InvalidArgumentError("type: Strongroom has service tokens only");
  }
  if (const Value* meta = Field(body, "meta");
      meta != nullptr && !(meta->kind_case() == Value::kStructValue &&
                           meta->struct_value().fields().empty())) {
    return absl::InvalidArgumentError("meta: token metadata is not supported");
  }
  absl::StatusOr<const std::string*> alias = GetString(body, "entity_alias", "entity_alias");
  if (!alias.ok()) return alias.status();
  if (*alias != nullptr && !(*alias)->empty()) {
    return absl::InvalidArgumentError("entity_alias: Strongroom has no identity entities");
  }
  // Strongroom adds no "default" policy to tokens, so either answer means the same.
  if (absl::StatusOr<bool> b = GetBool(body, "no_default_policy", "no_default_policy"); !b.ok()) {
    return b.status();
  }
  absl::StatusOr<bool> orphan = GetBool(body, "no_parent", "no_parent");
  if (!orphan.ok()) return orphan.status();
  *no_parent = *orphan;
  if (Field(body, "renewable") != nullptr) {
    absl::StatusOr<bool> renewable = GetBool(body, "renewable", "renewable");
    if (!renewable.ok()) return renewable.status();
    out.set_renewable(*renewable);
  }
  absl::StatusOr<std::optional<std::vector<std::string>>> policies = GetPolicies(body);
  if (!policies.ok()) return policies.status();
  if (policies->has_value()) {
    for (std::string& p : **policies) out.add_policies(std::move(p));
  }
  absl::StatusOr<const std::string*> name = GetString(body, "display_name", "display_name");
  if (!name.ok()) return name.status();
  if (*name != nullptr) out.set_display_name(**name);
  for (auto [field, target] : {std::pair{"ttl", out.mutable_ttl()},
                               std::pair{"period", out.mutable_period()},
                               std::pair{"explicit_max_ttl", out.mutable_explicit_max_ttl()}}) {
    absl::StatusOr<absl::Duration> d = GetDuration(body, field, field);
    if (!d.ok()) return d.status();
    SetSeconds(*d, target);
  }
  return out;
}

// resource_params of the by-token ("token") and by-accessor ("accessor") routes: the
// accessor for "auth/tokens/{accessor}", read before authentication from a bounded body.
// A token only names its accessor here (its secret is checked by the handler, for callers
// the gate admitted on that accessor).
VaultRoute::ResourceParamsFn AccessorParam(const char* field) {
  return [field](const HttpRequest& request)
             -> absl::StatusOr<std::map<std::string, std::string>> {
    if (request.body.size() > kMaxResourceParamsBody) {
      return absl::InvalidArgumentError(
          absl::StrCat("request body: at most ", kMaxResourceParamsBody, " bytes on this route"));
    }
    Body parsed;
    if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return s;
    absl::StatusOr<const std::string*> value = GetString(parsed.json, field, field);
    if (!value.ok()) return value.status();
    if (*value == nullptr || (*value)->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("missing ", field));
    }
    if (absl::string_view(field) == "token") {
      std::optional<absl::string_view> accessor = access::TokenStore::AccessorOf(**value);
      // Not quoted: it may be a credential of another kind.
      if (!accessor.has_value()) return absl::InvalidArgumentError("token: not a Strongroom token");
      return std::map<std::string, std::string>{{"accessor", std::string(*accessor)}};
    }
    if (!IsAccessor(**value)) {
      return absl::InvalidArgumentError("accessor: must be 32 lowercase hexadecimal characters");
    }
    return std::map<std::string, std::string>{{"accessor", **value}};
  };
}

}  // namespace

std::vector<VaultRoute> TokenApi::Routes() const {
  auto bind = [this](HttpResponse (TokenApi::*method)(const HttpRequest&) const) {
    return [this, method](const HttpRequest& request) { return (this->*method)(request); };
  };
  std::vector<VaultRoute> routes = {
      {"GET", "/v1/auth/token/lookup-self", bind(&TokenApi::LookupSelf)},
      {"LIST", "/v1/auth/token/accessors", bind(&TokenApi::ListAccessors)},
  };
  struct Write {
    const char* path;
    HttpResponse (TokenApi::*method)(const HttpRequest&) const;
    const char* target;  // the body field naming the token acted on, if any
  };
  for (const Write& w : std::initializer_list<Write>{
           {"create", nullptr, nullptr},
           {"create-orphan", nullptr, nullptr},
           {"lookup", &TokenApi::Lookup, "token"},
           {"lookup-accessor", &TokenApi::LookupAccessor, "accessor"},
           {"renew", &TokenApi::Renew, "token"},
           {"renew-self", &TokenApi::RenewSelf, nullptr},
           {"renew-accessor", &TokenApi::RenewAccessor, "accessor"},
           {"revoke", &TokenApi::Revoke, "token"},
           {"revoke-self", &TokenApi::RevokeSelf, nullptr},
           {"revoke-accessor", &TokenApi::RevokeAccessor, "accessor"},
           {"revoke-orphan", &TokenApi::RevokeOrphan, "token"},
       }) {
    HttpHandler handler;
    if (w.method != nullptr) {
      handler = bind(w.method);
    } else {
      const bool orphan = absl::string_view(w.path) == "create-orphan";
      handler = [this, orphan](const HttpRequest& r) { return Create(r, orphan); };
    }
    for (const char* verb : {"POST", "PUT"}) {
      routes.push_back({verb, absl::StrCat("/v1/auth/token/", w.path), handler,
                        w.target != nullptr ? AccessorParam(w.target) : nullptr});
    }
  }
  return routes;
}

HttpResponse TokenApi::Create(const HttpRequest& request, bool orphan) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  bool no_parent = false;
  absl::StatusOr<v1::CreateTokenRequest> create = CreateRequestOf(parsed.json, &no_parent);
  if (!create.ok()) return StatusError(create.status());
  orphan = orphan || no_parent;
  std::shared_ptr<const access::PolicySet> policies = policies_();
  if (create->policies().empty()) {
    // Vault's default: the caller's own policies (root, which nobody grants, aside).
    for (const std::string& p : policies->PoliciesOf(*request.principal)) {
      if (p != access::kRootPolicy) create->add_policies(p);
    }
    if (create->policies().empty()) {
      return JsonErrors(400, {"policies: required (a root token's policy cannot be granted)"});
    }
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<access::TokenStore::Created> created =
      access::GrantToken(*tokens_, *policies, *request.principal, *create, orphan, now);
  if (!created.ok()) return StatusError(created.status());
  return Envelope(200, Json(), TokenAuthBlock(created->info, now, &created->token));
}

absl::StatusOr<std::string> TokenApi::TargetAccessor(const Struct& body, const char* field) const {
  absl::StatusOr<const std::string*> value = GetString(body, field, field);
  if (!value.ok()) return value.status();
  if (*value == nullptr || (*value)->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing ", field));
  }
  if (absl::string_view(field) == "accessor") return **value;
  // The token must be genuine (and live): naming its accessor is not enough.
  absl::StatusOr<v1::TokenInfo> info = tokens_->Authenticate(**value, absl::Now());
  if (!info.ok()) return info.status();
  return info->accessor();
}

HttpResponse TokenApi::LookupIn(const HttpRequest& request, const char* field) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  absl::StatusOr<std::string> accessor = TargetAccessor(parsed.json, field);
  if (!accessor.ok()) return StatusError(accessor.status());
  const absl::Time now = absl::Now();
  absl::StatusOr<v1::TokenInfo> info = tokens_->Lookup(*accessor, now);
  if (!info.ok()) return TargetError(info.status());
  return Envelope(200, LookupData(*info, now));
}

HttpResponse TokenApi::Lookup(const HttpRequest& request) const {
  return LookupIn(request, "token");
}

HttpResponse TokenApi::LookupAccessor(const HttpRequest& request) const {
  return LookupIn(request, "accessor");
}

HttpResponse TokenApi::LookupSelf(const HttpRequest& request) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  if (absl::Status s = RequireToken(request); !s.ok()) return StatusError(s);
  const absl::Time now = absl::Now();
  absl::StatusOr<v1::TokenInfo> info = tokens_->Lookup(request.principal->token_accessor, now);
  if (!info.ok()) return StatusError(info.status());
  return Envelope(200, LookupData(*info, now));
}

HttpResponse TokenApi::RenewIn(const HttpRequest& request, const char* field) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  absl::StatusOr<absl::Duration> increment = GetDuration(parsed.json, "increment", "increment");
  if (!increment.ok()) return StatusError(increment.status());
  std::string accessor;
  if (field == nullptr) {
    if (absl::Status s = RequireToken(request); !s.ok()) return StatusError(s);
    accessor = request.principal->token_accessor;
  } else {
    absl::StatusOr<std::string> target = TargetAccessor(parsed.json, field);
    if (!target.ok()) return StatusError(target.status());
    accessor = *std::move(target);
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<v1::TokenInfo> info = tokens_->Renew(accessor, *increment, now);
  if (!info.ok()) return field == nullptr ? StatusError(info.status()) : TargetError(info.status());
  return Envelope(200, Json(), TokenAuthBlock(*info, now));
}

HttpResponse TokenApi::Renew(const HttpRequest& request) const { return RenewIn(request, "token"); }

HttpResponse TokenApi::RenewSelf(const HttpRequest& request) const {
  return RenewIn(request, nullptr);
}

HttpResponse TokenApi::RenewAccessor(const HttpRequest& request) const {
  return RenewIn(request, "accessor");
}

HttpResponse TokenApi::RevokeIn(const HttpRequest& request, const char* field,
                               bool orphan_children) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  std::string accessor;
  if (field == nullptr) {
    if (absl::Status s = RequireToken(request); !s.ok()) return StatusError(s);
    accessor = request.principal->token_accessor;
  } else {
    Body parsed;
    if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
    absl::StatusOr<std::string> target = TargetAccessor(parsed.json, field);
    if (!target.ok()) return StatusError(target.status());
    accessor = *std::move(target);
  }
  if (absl::Status s =
          orphan_children ? tokens_->RevokeOrphan(accessor) : tokens_->Revoke(accessor);
      !s.ok()) {
    return field == nullptr ? StatusError(s) : TargetError(s);
  }
  return NoContent();
}

HttpResponse TokenApi::Revoke(const HttpRequest& request) const {
  return RevokeIn(request, "token");
}

HttpResponse TokenApi::RevokeSelf(const HttpRequest& request) const {
  return RevokeIn(request, nullptr);
}

HttpResponse TokenApi::RevokeAccessor(const HttpRequest& request) const {
  return RevokeIn(request, "accessor");
}

HttpResponse TokenApi::RevokeOrphan(const HttpRequest& request) const {
  return RevokeIn(request, "token", /*orphan_children=*/true);
}

HttpResponse TokenApi::ListAccessors(const HttpRequest& request) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  absl::StatusOr<std::vector<v1::TokenInfo>> tokens = tokens_->List(absl::Now());
  if (!tokens.ok()) return StatusError(tokens.status());
  // Only the tokens the caller may look up, as Auth.ListTokens answers.
  std::shared_ptr<const access::PolicySet> policies = policies_();
  std::vector<std::string> accessors;
  for (const v1::TokenInfo& info : *tokens) {
    if (policies
            ->Check(*request.principal, access::Operation::kRead,
                    absl::StrCat("auth/tokens/", info.accessor()))
            .ok()) {
      accessors.push_back(info.accessor());
    }
  }
  return Envelope(200, Json::Object().Set("keys", Json::Strings(accessors)));
}

}  // namespace strongroom::server::vault
