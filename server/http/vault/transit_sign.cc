// Sign, verify (signatures and HMACs) and hmac: Vault's single and batch forms over the
// engine's one-item calls, with Vault's JWS marshaling (raw r||s for ECDSA, base64url)
// converted here to and from the engine's ASN.1 DER and standard base64.
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "hsm/cleanse_message.h"
#include "hsm/openssl_ptr.h"
#include "server/http/vault/transit.h"
#include "server/http/vault/transit_internal.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using transit_internal::BatchInput;
using transit_internal::DecodeField;
using transit_internal::FindKey;
using transit_internal::IsAsymmetricType;
using transit_internal::IsRsaType;
using transit_internal::KeyOrAnswer;
using transit_internal::kMaxVersion;
using transit_internal::RequestHash;
using transit_internal::VaultTypeName;

// ---------------------------------------------------------------------------------------
// Batches: each item's result fields, or its error; the single form answers with the
// result as data, or the error as the request's.

struct ItemResult {
  Json data = Json::Object();
  uint32_t key_version = 0;  // for the audit record
};
using ItemFn = std::function<absl::StatusOr<ItemResult>(const Struct& item)>;

// Engine errors after the key was found: a version that is not there is the input's (400).
absl::Status ItemStatus(const absl::Status& s) {
  if (absl::IsNotFound(s)) return absl::InvalidArgumentError(s.message());
  return s;
}

HttpResponse RunItems(const Struct& body, const ListValue* batch, const ItemFn& fn) {
  if (batch == nullptr) {
    absl::StatusOr<ItemResult> r = fn(body);
    if (!r.ok()) return StatusError(r.status());
    HttpResponse response = Envelope(200, std::move(r->data));
    response.key_version = r->key_version;
    return response;
  }
  Json results = Json::Array();
  uint32_t used_version = 0;
  for (const Value& v : batch->values()) {
    const Struct& item = v.struct_value();
    absl::StatusOr<ItemResult> r = fn(item);
    Json out = Json::Object();
    if (r.ok()) {
      out = std::move(r->data);
      if (used_version == 0) used_version = r->key_version;
    } else {
      out.Set("error", std::string(r.status().message()));
    }
    const Value* reference = Field(item, "reference");
    out.Set("reference", reference != nullptr && reference->kind_case() == Value::kStringValue
                             ? reference->string_value()
                             : "");
    results.Push(std::move(out));
  }
  HttpResponse response = Envelope(200, Json::Object().Set("batch_results", std::move(results)));
  response.key_version = used_version;
  return response;
}

// ---------------------------------------------------------------------------------------
// Options shared by sign and verify.

struct SignOptions {
  v1::HashAlgorithm hash = v1::SHA2_256;
  bool jws = false;
  bool prehashed = false;
  v1::SignatureAlgorithm algorithm = v1::SIGNATURE_ALGORITHM_UNSPECIFIED;
};

absl::StatusOr<SignOptions> ReadSignOptions(const HttpRequest& request, const Struct& body) {
  SignOptions o;
  absl::StatusOr<v1::HashAlgorithm> hash =
      RequestHash(request, body, {"hash_algorithm", "algorithm"});
  if (!hash.ok()) return hash.status();
  o.hash = *hash;
  auto marshaling = GetString(body, "marshaling_algorithm", "marshaling_algorithm");
  if (!marshaling.ok()) return marshaling.status();
  if (*marshaling != nullptr && **marshaling != "asn1" && **marshaling != "jws") {
    return absl::InvalidArgumentError("marshaling_algorithm: must be \"asn1\" or \"jws\"");
  }
  o.jws = *marshaling != nullptr && **marshaling == "jws";
  absl::StatusOr<bool> prehashed = GetBool(body, "prehashed", "prehashed");
  if (!prehashed.ok()) return prehashed.status();
  o.prehashed = *prehashed;
  auto algorithm = GetString(body, "signature_algorithm", "signature_algorithm");
  if (!algorithm.ok()) return algorithm.status();
  if (*algorithm != nullptr && !(*algorithm)->empty()) {
    if (**algorithm == "pss") {
      o.algorithm = v1::PSS;
    } else if (**algorithm == "pkcs1v15") {
      o.algorithm = v1::PKCS1V15;
    } else {
      return absl::InvalidArgumentError("signature_algorithm: must be \"pss\" or \"pkcs1v15\"");
    }
  }
  // The engine's PSS salt is as long as the digest; Go's verifier ("auto") accepts it.
  auto salt = GetString(body, "salt_length", "salt_length");
  if (!salt.ok()) return salt.status();
  if (*salt != nullptr && **salt != "auto" && **salt != "hash") {
    return absl::InvalidArgumentError(
        "salt_length: only \"auto\" or \"hash\" (a salt as long as the digest) is supported");
  }
  return o;
}

// The scalar size of an ECDSA key type in bytes; 0 for other types.
size_t EcdsaScalarSize(v1::KeyType type) {
  switch (type) {
    case v1::ECDSA_P256:
      return 32;
    case v1::ECDSA_P384:
      return 48;
    default:
      return 0;
  }
}

// Splits "vault:v<N>:<payload>" after its last ':'; false if there is none.
bool SplitEnvelope(absl::string_view s, absl::string_view* prefix, absl::string_view* payload) {
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || !absl::StartsWith(s, "vault:v")) return false;
  *prefix = s.substr(0, colon + 1);
  *payload = s.substr(colon + 1);
  return true;
}

// The engine's signature (DER for ECDSA, standard base64) in Vault's JWS form.
absl::StatusOr<std::string> ToJws(const std::string& signature, v1::KeyType type) {
  absl::string_view prefix, payload;
  std::string raw;
  if (!SplitEnvelope(signature, &prefix, &payload) || !DecodeBase64(payload, &raw)) {
    return absl::InternalError("signature: unexpected form from the engine");
  }
  if (size_t n = EcdsaScalarSize(type); n != 0) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(raw.data());
    hsm::EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(raw.size())));
    if (sig == nullptr) return absl::InternalError("signature: unexpected DER from the engine");
    std::string rs(2 * n, '\0');
    unsigned char* out = reinterpret_cast<unsigned char*>(rs.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, static_cast<int>(n)) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + n, static_cast<int>(n)) < 0) {
      return absl::InternalError("signature: scalar too large");
    }
    raw = std::move(rs);
  }
  return absl::StrCat(prefix, absl::WebSafeBase64Escape(raw));
}

// A JWS-form signature in the engine's form; INVALID_ARGUMENT if it cannot be one.
absl::StatusOr<std::string> FromJws(const std::string& signature, v1::KeyType type) {
  absl::string_view prefix, payload;
  std::string raw;
  if (!SplitEnvelope(signature, &prefix, &payload) ||
      payload.find('=') != absl::string_view::npos || !absl::WebSafeBase64Unescape(payload, &raw)) {
    return absl::InvalidArgumentError("invalid base64 signature value");
  }
  if (EcdsaScalarSize(type) != 0) {
    if (raw.empty() || raw.size() % 2 != 0) {
      return absl::InvalidArgumentError("supplied signature is invalid");
    }
    const size_t n = raw.size() / 2;
    const unsigned char* in = reinterpret_cast<const unsigned char*>(raw.data());
    hsm::EcdsaSigPtr sig(ECDSA_SIG_new());
    hsm::BignumPtr r(BN_bin2bn(in, static_cast<int>(n), nullptr));
    hsm::BignumPtr s(BN_bin2bn(in + n, static_cast<int>(n), nullptr));
    if (sig == nullptr || r == nullptr || s == nullptr ||
        ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
      return absl::InternalError("out of memory");
    }
    r.release();  // owned by sig now
    s.release();
    raw = hsm::DerOf(i2d_ECDSA_SIG, sig.get());
    if (raw.empty()) return absl::InternalError("out of memory");
  }
  return absl::StrCat(prefix, absl::Base64Escape(raw));
}

// The key of a sign or verify request, which must be able to sign.
KeyOrAnswer SigningKey(kms::Transit* transit, const std::string& name, absl::string_view missing,
                       absl::string_view operation) {
  KeyOrAnswer k = FindKey(transit, name, missing);
  if (k.key.has_value() && !IsAsymmetricType(k.key->type())) {
    k.answer = JsonErrors(400, {absl::StrCat("key type ", VaultTypeName(k.key->type()),
                                         " does not support ", operation)});
    k.key.reset();
  }
  return k;
}

}  // namespace

HttpResponse TransitApi::Sign(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  absl::StatusOr<SignOptions> options = ReadSignOptions(request, body);
  if (!options.ok()) return StatusError(options.status());
  auto version = GetUint(body, "key_version", "key_version", kMaxVersion);
  if (!version.ok()) return StatusError(version.status());
  absl::StatusOr<const ListValue*> batch = BatchInput(body);
  if (!batch.ok()) return StatusError(batch.status());
  const std::string name = PathParam(request, "key");
  KeyOrAnswer key = SigningKey(transit_, name, "signing key not found", "signing");
  if (!key.key.has_value()) return key.answer;
  const v1::KeyType type = key.key->type();

  return RunItems(body, *batch, [&](const Struct& item) -> absl::StatusOr<ItemResult> {
    v1::SignRequest req;
    absl::Cleanup cleanse = [&req] { hsm::CleanseMessage(&req); };
    if (Field(item, "input") == nullptr) return absl::InvalidArgumentError("missing input");
    if (absl::Status s = DecodeField(item, "input", req.mutable_input()); !s.ok()) return s;
    if (absl::Status s = DecodeField(item, "context", req.mutable_context()); !s.ok()) return s;
    req.set_key_name(name);
    req.set_key_version(static_cast<uint32_t>(version->value_or(0)));
    req.set_prehashed(options->prehashed);
    req.set_hash_algorithm(options->hash);
    // Vault ignores signature_algorithm for keys other than RSA; the engine would refuse it.
    if (IsRsaType(type)) req.set_signature_algorithm(options->algorithm);
    absl::StatusOr<v1::SignResponse> signed_ = transit_->Sign(req);
    if (!signed_.ok()) return ItemStatus(signed_.status());
    std::string signature = signed_->signature();
    if (options->jws) {
      absl::StatusOr<std::string> jws = ToJws(signature, type);
      if (!jws.ok()) return jws.status();
      signature = *std::move(jws);
    }
    ItemResult r;
    r.data.Set("signature", std::move(signature)).Set("key_version", signed_->key_version());
    r.key_version = signed_->key_version();
    return r;
  });
}

HttpResponse TransitApi::Verify(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  absl::StatusOr<const ListValue*> batch = BatchInput(body);
  if (!batch.ok()) return StatusError(batch.status());

  // Signatures or HMACs, never both (Vault's rules and words).
  bool signature = false, hmac = false, missing = false;
  auto classify = [&](const Struct& s) {
    if (Field(s, "signature") != nullptr) {
      signature = true;
    } else if (Field(s, "hmac") != nullptr) {
      hmac = true;
    } else {
      missing = true;
    }
  };
  if (*batch == nullptr) {
    if (Field(body, "signature") != nullptr && Field(body, "hmac") != nullptr) {
      return JsonErrors(400, {"provide one of 'signature' or 'hmac'"});
    }
    classify(body);
    if (missing) return JsonErrors(400, {"neither a 'signature' nor an 'hmac' were given to verify"});
  } else {
    for (const Value& v : (*batch)->values()) classify(v.struct_value());
    if (signature && hmac) {
      return JsonErrors(400, {"elements of batch_input must all provide 'signature' or all provide "
                          "'hmac'"});
    }
    if (missing) {
      return JsonErrors(400, {signature ? "some elements of batch_input are missing 'signature'"
                          : hmac    ? "some elements of batch_input are missing 'hmac'"
                                    : "no batch_input elements have 'signature' or 'hmac'"});
    }
  }
  if (hmac) return VerifyHmac(request, body);

  absl::StatusOr<SignOptions> options = ReadSignOptions(request, body);
  if (!options.ok()) return StatusError(options.status());
  const std::string name = PathParam(request, "key");
  KeyOrAnswer key =
      SigningKey(transit_, name, "signature verification key not found", "verification");
  if (!key.key.has_value()) return key.answer;
  const v1::KeyType type = key.key->type();

  return RunItems(body, *batch, [&](const Struct& item) -> absl::StatusOr<ItemResult> {
    v1::VerifyRequest req;
    absl::Cleanup cleanse = [&req] { hsm::CleanseMessage(&req); };
    if (Field(item, "input") == nullptr) return absl::InvalidArgumentError("missing input");
    if (absl::Status s = DecodeField(item, "input", req.mutable_input()); !s.ok()) return s;
    if (absl::Status s = DecodeField(item, "context", req.mutable_context()); !s.ok()) return s;
    auto sig = GetString(item, "signature", "signature");
    if (!sig.ok()) return sig.status();
    if (*sig == nullptr) return absl::InvalidArgumentError("missing signature");
    if (options->jws) {
      absl::StatusOr<std::string> der = FromJws(**sig, type);
      if (!der.ok()) return der.status();
      req.set_signature(*std::move(der));
    } else {
      req.set_signature(**sig);
    }
    req.set_key_name(name);
    req.set_prehashed(options->prehashed);
    req.set_hash_algorithm(options->hash);
    if (IsRsaType(type)) req.set_signature_algorithm(options->algorithm);
    absl::StatusOr<v1::VerifyResponse> verified = transit_->Verify(req);
    if (!verified.ok()) return ItemStatus(verified.status());
    ItemResult r;
    r.data.Set("valid", verified->valid());
    return r;
  });
}

HttpResponse TransitApi::VerifyHmac(const HttpRequest& request, const Struct& body) const {
  absl::StatusOr<v1::HashAlgorithm> hash =
      RequestHash(request, body, {"hash_algorithm", "algorithm"});
  if (!hash.ok()) return StatusError(hash.status());
  absl::StatusOr<const ListValue*> batch = BatchInput(body);
  if (!batch.ok()) return StatusError(batch.status());
  const std::string name = PathParam(request, "key");
  KeyOrAnswer key = FindKey(transit_, name, "encryption key not found");
  if (!key.key.has_value()) return key.answer;

  return RunItems(body, *batch, [&](const Struct& item) -> absl::StatusOr<ItemResult> {
    v1::VerifyHmacRequest req;
    absl::Cleanup cleanse = [&req] { hsm::CleanseMessage(&req); };
    if (Field(item, "input") == nullptr) return absl::InvalidArgumentError("missing input");
    if (absl::Status s = DecodeField(item, "input", req.mutable_input()); !s.ok()) return s;
    auto mac = GetString(item, "hmac", "hmac");
    if (!mac.ok()) return mac.status();
    if (*mac == nullptr) return absl::InvalidArgumentError("missing hmac");
    req.set_hmac(**mac);
    req.set_key_name(name);
    req.set_hash_algorithm(*hash);
    absl::StatusOr<v1::VerifyResponse> verified = transit_->VerifyHmac(req);
    if (!verified.ok()) return ItemStatus(verified.status());
    ItemResult r;
    r.data.Set("valid", verified->valid());
    return r;
  });
}

HttpResponse TransitApi::Hmac(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  absl::StatusOr<v1::HashAlgorithm> hash = RequestHash(request, body, {"algorithm"});
  if (!hash.ok()) return StatusError(hash.status());
  auto version = GetUint(body, "key_version", "key_version", kMaxVersion);
  if (!version.ok()) return StatusError(version.status());
  absl::StatusOr<const ListValue*> batch = BatchInput(body);
  if (!batch.ok()) return StatusError(batch.status());
  if (*batch == nullptr && Field(body, "input") == nullptr) {
    return JsonErrors(400, {"missing input for HMAC"});
  }
  const std::string name = PathParam(request, "key");
  KeyOrAnswer key = FindKey(transit_, name, "encryption key not found");
  if (!key.key.has_value()) return key.answer;

  return RunItems(body, *batch, [&](const Struct& item) -> absl::StatusOr<ItemResult> {
    v1::HmacRequest req;
    absl::Cleanup cleanse = [&req] { hsm::CleanseMessage(&req); };
    if (Field(item, "input") == nullptr)
      return absl::InvalidArgumentError("missing input for HMAC");
    if (absl::Status s = DecodeField(item, "input", req.mutable_input()); !s.ok()) return s;
    req.set_key_name(name);
    req.set_key_version(static_cast<uint32_t>(version->value_or(0)));
    req.set_hash_algorithm(*hash);
    absl::StatusOr<v1::HmacResponse> mac = transit_->Hmac(req);
    if (!mac.ok()) return ItemStatus(mac.status());
    ItemResult r;
    r.data.Set("hmac", mac->hmac());
    r.key_version = mac->key_version();
    return r;
  });
}

}  // namespace strongroom::server::vault
