#include "server/acme/jws_request.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/http/vault/json.h"

namespace strongroom::server::acme {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* HeaderField(const Struct& header, const char* name) {
  auto it = header.fields().find(name);
  return it == header.fields().end() ? nullptr : &it->second;
}

// Why ParseFlattened refused `body`: badSignatureAlgorithm when the protected header is
// readable and names an algorithm the server does not support, else malformed.
Problem ParseProblem(absl::string_view body, const absl::Status& status) {
  Struct outer;
  Struct header;
  std::string header_json;
  if (vault::ParseBody(std::string(body), &outer).ok()) {
    const Value* encoded = HeaderField(outer, "protected");
    if (encoded != nullptr && encoded->has_string_value() &&
        jose::Base64UrlDecode(encoded->string_value(), &header_json) &&
        vault::ParseBody(header_json, &header).ok()) {
      const Value* alg = HeaderField(header, "alg");
      if (alg != nullptr && alg->has_string_value() &&
          !jose::ParseAlgorithm(alg->string_value()).ok()) {
        return {"badSignatureAlgorithm",
                "the JWS algorithm is not supported; use ES256, ES384, RS256, PS256 or EdDSA",
                400};
      }
    }
  }
  return Malformed(absl::StrCat("the request is not a valid flattened JWS: ", status.message()));
}

}  // namespace

std::optional<Problem> ParsePayload(absl::string_view text, absl::string_view what,
                                    Struct* out) {
  if (text.empty()) return Malformed(absl::StrCat(what, ": a JSON object is required"));
  if (absl::Status s = vault::ParseBody(std::string(text), out); !s.ok()) {
    return Malformed(absl::StrCat(what, ": ", s.message()));
  }
  return std::nullopt;
}

std::optional<Problem> VerifyJwsRequest(absl::string_view body, const std::string& url,
                                        const std::string& account_url_prefix, KeyKind kind,
                                        AcmeStore* store, absl::Time now, JwsRequest* out) {
  if (body.size() > jose::kMaxJoseInput) {
    return Malformed(absl::StrCat("the request body is over ", jose::kMaxJoseInput, " bytes"));
  }
  absl::StatusOr<jose::Jws> jws = jose::ParseFlattened(body);
  if (!jws.ok()) return ParseProblem(body, jws.status());
  const Value* jwk = HeaderField(jws->header, "jwk");
  const Value* kid = HeaderField(jws->header, "kid");
  if ((jwk == nullptr) == (kid == nullptr)) {
    return Malformed("the protected header must have exactly one of \"jwk\" and \"kid\"");
  }
  if (kind == KeyKind::kAccount && jwk != nullptr) {
    return Malformed("this request must be signed by an account key (\"kid\"), not a \"jwk\"");
  }
  if (kind == KeyKind::kJwk && kid != nullptr) {
    return Malformed("this request must carry its key as \"jwk\", not \"kid\"");
  }
  const Value* header_url = HeaderField(jws->header, "url");
  if (header_url == nullptr || !header_url->has_string_value()) {
    return Malformed("the protected header has no \"url\"");
  }
  if (header_url->string_value() != url) {
    return Unauthorized("the protected header's \"url\" is not this request's URL");
  }
  if (jwk != nullptr) {
    if (!jwk->has_struct_value()) return Malformed("\"jwk\" is not a JSON object");
    absl::StatusOr<jose::PublicJwk> key = jose::PublicJwk::FromStruct(jwk->struct_value());
    if (!key.ok()) return Malformed(absl::StrCat("\"jwk\": ", key.status().message()));
    out->key = *std::move(key);
  } else {
    if (!kid->has_string_value() || !absl::StartsWith(kid->string_value(), account_url_prefix)) {
      return Malformed("\"kid\" is not an account URL of this directory");
    }
    const std::string id = kid->string_value().substr(account_url_prefix.size());
    absl::StatusOr<std::optional<Stored<AccountRecord>>> account = store->GetAccount(id);
    if (!account.ok()) return ServerProblem(account.status());
    if (!account->has_value()) {
      return Problem{"accountDoesNotExist", "no account has this \"kid\"", 400};
    }
    if ((*account)->record.status() != "valid") {
      return Unauthorized("the account is deactivated");
    }
    absl::StatusOr<jose::PublicJwk> key = jose::PublicJwk::FromJson((*account)->record.jwk());
    if (!key.ok()) return ServerProblem(key.status());
    out->key = *std::move(key);
    out->account = *std::move(*account);
  }
  if (!out->key->Accepts(jws->alg)) {
    return Problem{"badSignatureAlgorithm",
                   absl::StrCat(jose::AlgorithmName(jws->alg), " does not fit the key"), 400};
  }
  if (!out->key->Verify(jws->alg, jws->signing_input, jws->signature)) {
    return Unauthorized("the JWS signature does not verify under the account key");
  }
  const Value* nonce = HeaderField(jws->header, "nonce");
  if (nonce == nullptr || !nonce->has_string_value()) return BadNonce();
  absl::StatusOr<bool> fresh = store->ConsumeNonce(nonce->string_value(), now);
  if (!fresh.ok()) return ServerProblem(fresh.status());
  if (!*fresh) return BadNonce();
  out->raw_payload = std::move(jws->payload);
  out->post_as_get = jws->payload_empty;
  if (!out->post_as_get) {
    if (std::optional<Problem> p = ParsePayload(out->raw_payload, "the payload", &out->payload)) {
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace strongroom::server::acme
