#include "server/jose/jose.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <array>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/json_object.h"

namespace strongroom::server::jose {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// JOSE headers, JWKs and JWT claims are flat or nearly so; a JWK Set nests three deep.
constexpr int kMaxDepth = 8;
// Items in any one array or object of them (a JWK Set's keys are checked against kMaxJwksKeys
// once parsed).
constexpr JsonBounds kBounds{kMaxDepth, 1000};
constexpr size_t kMaxJwksKeys = 100;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

void ClearErrors() { ERR_clear_error(); }

// ---------------------------------------------------------------------------------------
// Algorithms.

struct AlgorithmInfo {
  Algorithm alg;
  const char* name;
};

constexpr std::array<AlgorithmInfo, 10> kAlgorithms = {{
    {Algorithm::kRs256, "RS256"},
    {Algorithm::kRs384, "RS384"},
    {Algorithm::kRs512, "RS512"},
    {Algorithm::kPs256, "PS256"},
    {Algorithm::kPs384, "PS384"},
    {Algorithm::kPs512, "PS512"},
    {Algorithm::kEs256, "ES256"},
    {Algorithm::kEs384, "ES384"},
    {Algorithm::kEs512, "ES512"},
    {Algorithm::kEdDsa, "EdDSA"},
}};

const EVP_MD* DigestOf(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRs256:
    case Algorithm::kPs256:
    case Algorithm::kEs256:
      return EVP_sha256();
    case Algorithm::kRs384:
    case Algorithm::kPs384:
    case Algorithm::kEs384:
      return EVP_sha384();
    case Algorithm::kRs512:
    case Algorithm::kPs512:
    case Algorithm::kEs512:
      return EVP_sha512();
    case Algorithm::kEdDsa:
      return nullptr;
  }
  return nullptr;
}

bool IsRsa(Algorithm alg) {
  return alg == Algorithm::kRs256 || alg == Algorithm::kRs384 || alg == Algorithm::kRs512 ||
         alg == Algorithm::kPs256 || alg == Algorithm::kPs384 || alg == Algorithm::kPs512;
}

bool IsPss(Algorithm alg) {
  return alg == Algorithm::kPs256 || alg == Algorithm::kPs384 || alg == Algorithm::kPs512;
}

// ---------------------------------------------------------------------------------------
// Key members.

// The curves a JWK may name: JOSE name, OpenSSL group name, coordinate size, algorithm.
struct Curve {
  const char* jose_name;
  const char* group_name;
  size_t coordinate_size;
  Algorithm alg;
};

constexpr std::array<Curve, 3> kCurves = {{
    {"P-256", "prime256v1", 32, Algorithm::kEs256},
    {"P-384", "secp384r1", 48, Algorithm::kEs384},
    {"P-521", "secp521r1", 66, Algorithm::kEs512},
}};

const Curve* CurveByJoseName(absl::string_view name) {
  for (const Curve& c : kCurves) {
    if (name == c.jose_name) return &c;
  }
  return nullptr;
}

const Curve* CurveByGroupName(absl::string_view name) {
  for (const Curve& c : kCurves) {
    if (name == c.group_name) return &c;
  }
  return nullptr;
}

// The required members of a public key (RFC 7638 section 3.2), decoded.
struct Members {
  enum class Kind { kRsa, kEc, kEd25519 } kind;
  const Curve* curve = nullptr;  // kEc
  std::string n, e;              // kRsa, big-endian without leading zeros
  std::string x, y;              // kEc: fixed size; kEd25519: x only, 32 bytes
};

std::string StripLeadingZeros(std::string s) {
  size_t i = 0;
  while (i + 1 < s.size() && s[i] == '\0') ++i;
  return s.substr(i);
}

// RFC 7638: the required members, lexicographic order, no whitespace. Every value is
// base64url, so no escaping is needed.
std::string CanonicalJson(const Members& m) {
  switch (m.kind) {
    case Members::Kind::kRsa:
      return absl::StrCat(R"({"e":")", Base64UrlEncode(m.e), R"(","kty":"RSA","n":")",
                          Base64UrlEncode(m.n), R"("})");
    case Members::Kind::kEc:
      return absl::StrCat(R"({"crv":")", m.curve->jose_name, R"(","kty":"EC","x":")",
                          Base64UrlEncode(m.x), R"(","y":")", Base64UrlEncode(m.y), R"("})");
    case Members::Kind::kEd25519:
      return absl::StrCat(R"({"crv":"Ed25519","kty":"OKP","x":")", Base64UrlEncode(m.x),
                          R"("})");
  }
  return "";
}

absl::StatusOr<hsm::EvpPkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld),
                                                                  OSSL_PARAM_free);
  hsm::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ClearErrors();
    return Invalid("the key is not a valid public key");
  }
  hsm::EvpPkeyPtr key(raw);
  // The point must lie on the curve (and the RSA exponent be sane) before any verification.
  hsm::EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    ClearErrors();
    return Invalid("the key is not a valid public key");
  }
  return key;
}

absl::StatusOr<hsm::EvpPkeyPtr> BuildKey(const Members& m) {
  switch (m.kind) {
    case Members::Kind::kRsa: {
      hsm::BignumPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(m.n.data()),
                                 static_cast<int>(m.n.size()), nullptr));
      hsm::BignumPtr e(BN_bin2bn(reinterpret_cast<const unsigned char*>(m.e.data()),
                                 static_cast<int>(m.e.size()), nullptr));
      if (n == nullptr || e == nullptr) return absl::InternalError("out of memory");
      int bits = BN_num_bits(n.get());
      if (bits < kMinRsaBits || bits > kMaxRsaBits) {
        return Invalid(absl::StrCat("RSA keys must have ", kMinRsaBits, " to ", kMaxRsaBits,
                                    " bit moduli"));
      }
      if (!BN_is_odd(e.get()) || BN_is_one(e.get()) || BN_num_bits(e.get()) > 64) {
        return Invalid("the RSA public exponent is not valid");
      }
      hsm::OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
      if (bld == nullptr ||
          OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
          OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
        return absl::InternalError("out of memory");
      }
      return FromData("RSA", bld.get());
    }
    case Members::Kind::kEc: {
      std::string point = absl::StrCat(absl::string_view("\x04", 1), m.x, m.y);
      hsm::OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
      if (bld == nullptr ||
          OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                          m.curve->group_name, 0) != 1 ||
          OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                           point.size()) != 1) {
        return absl::InternalError("out of memory");
      }
      return FromData("EC", bld.get());
    }
    case Members::Kind::kEd25519: {
      hsm::EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(
          EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(m.x.data()),
          m.x.size()));
      if (key == nullptr) {
        ClearErrors();
        return Invalid("the key is not a valid Ed25519 public key");
      }
      return key;
    }
  }
  return absl::InternalError("unknown key kind");
}

// A string member, or nullptr if absent. INVALID_ARGUMENT if present and not a string.
absl::StatusOr<const std::string*> StringMember(const Struct& s, const char* name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end()) return nullptr;
  if (it->second.kind_case() != Value::kStringValue) {
    return Invalid(absl::StrCat("the JWK member \"", name, "\" must be a string"));
  }
  return &it->second.string_value();
}

absl::StatusOr<std::string> Base64UrlMember(const Struct& s, const char* name) {
  absl::StatusOr<const std::string*> value = StringMember(s, name);
  if (!value.ok()) return value.status();
  if (*value == nullptr) return Invalid(absl::StrCat("the JWK has no \"", name, "\""));
  std::string out;
  if (!Base64UrlDecode(**value, &out)) {
    return Invalid(absl::StrCat("the JWK member \"", name, "\" is not base64url"));
  }
  return out;
}

// UNIMPLEMENTED for a key type or curve this code does not support (a JWK Set skips those);
// INVALID_ARGUMENT for a malformed or private key.
absl::StatusOr<Members> MembersFromJwk(const Struct& jwk) {
  absl::StatusOr<const std::string*> kty = StringMember(jwk, "kty");
  if (!kty.ok()) return kty.status();
  if (*kty == nullptr) return Invalid("the JWK has no \"kty\"");
  if (**kty != "RSA" && **kty != "EC" && **kty != "OKP") {
    return absl::UnimplementedError("unsupported key type");
  }
  for (const char* private_member : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
    if (jwk.fields().contains(private_member)) {
      return Invalid("the JWK holds private key material; only public keys are accepted");
    }
  }
  Members m;
  if (**kty == "RSA") {
    m.kind = Members::Kind::kRsa;
    absl::StatusOr<std::string> n = Base64UrlMember(jwk, "n");
    if (!n.ok()) return n.status();
    absl::StatusOr<std::string> e = Base64UrlMember(jwk, "e");
    if (!e.ok()) return e.status();
    m.n = StripLeadingZeros(*std::move(n));
    m.e = StripLeadingZeros(*std::move(e));
    return m;
  }
  if (**kty == "EC" || **kty == "OKP") {
    absl::StatusOr<const std::string*> crv = StringMember(jwk, "crv");
    if (!crv.ok()) return crv.status();
    if (*crv == nullptr) return Invalid("the JWK has no \"crv\"");
    absl::StatusOr<std::string> x = Base64UrlMember(jwk, "x");
    if (**kty == "OKP") {
      if (**crv != "Ed25519") return absl::UnimplementedError("unsupported OKP curve");
      if (!x.ok()) return x.status();
      if (x->size() != 32) return Invalid("an Ed25519 JWK's \"x\" must be 32 bytes");
      m.kind = Members::Kind::kEd25519;
      m.x = *std::move(x);
      return m;
    }
    m.curve = CurveByJoseName(**crv);
    if (m.curve == nullptr) return absl::UnimplementedError("unsupported EC curve");
    if (!x.ok()) return x.status();
    absl::StatusOr<std::string> y = Base64UrlMember(jwk, "y");
    if (!y.ok()) return y.status();
    if (x->size() != m.curve->coordinate_size || y->size() != m.curve->coordinate_size) {
      return Invalid(absl::StrCat("a ", m.curve->jose_name, " JWK's coordinates must be ",
                                  m.curve->coordinate_size, " bytes"));
    }
    m.kind = Members::Kind::kEc;
    m.x = *std::move(x);
    m.y = *std::move(y);
    return m;
  }
  return absl::UnimplementedError("unsupported key type");  // not reached: kty checked above
}

std::string BignumBytes(const BIGNUM* bn) {
  std::string out(BN_num_bytes(bn), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

absl::StatusOr<Members> MembersFromPkey(EVP_PKEY* key) {
  Members m;
  if (EVP_PKEY_is_a(key, "RSA")) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    const bool got_n = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1;
    hsm::BignumPtr n_owned(n);
    const bool got_e = got_n && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1;
    hsm::BignumPtr e_owned(e);
    if (!got_e) {
      ClearErrors();
      return Invalid("the RSA key has no public members");
    }
    m.kind = Members::Kind::kRsa;
    m.n = BignumBytes(n);
    m.e = BignumBytes(e);
    return m;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       nullptr) != 1) {
      ClearErrors();
      return Invalid("the EC key has no named curve");
    }
    m.curve = CurveByGroupName(group);
    if (m.curve == nullptr) return Invalid("the EC key's curve is not P-256, P-384 or P-521");
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    const bool got_x = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1;
    hsm::BignumPtr x_owned(x);
    const bool got_y = got_x && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
    hsm::BignumPtr y_owned(y);
    if (!got_y) {
      ClearErrors();
      return Invalid("the EC key has no public point");
    }
    m.kind = Members::Kind::kEc;
    m.x.assign(m.curve->coordinate_size, '\0');
    m.y.assign(m.curve->coordinate_size, '\0');
    BN_bn2binpad(x, reinterpret_cast<unsigned char*>(m.x.data()), m.x.size());
    BN_bn2binpad(y, reinterpret_cast<unsigned char*>(m.y.data()), m.y.size());
    return m;
  }
  if (EVP_PKEY_is_a(key, "ED25519")) {
    m.kind = Members::Kind::kEd25519;
    m.x.assign(32, '\0');
    size_t len = m.x.size();
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(m.x.data()), &len) !=
            1 ||
        len != 32) {
      ClearErrors();
      return Invalid("the Ed25519 key has no public part");
    }
    return m;
  }
  return Invalid("the key is not RSA, EC (P-256, P-384, P-521) or Ed25519");
}

// ECDSA: JOSE's fixed-size R||S into the DER ECDSA-Sig-Value OpenSSL verifies.
bool RawEcdsaToDer(absl::string_view raw, size_t coordinate_size, std::string* der) {
  if (raw.size() != 2 * coordinate_size) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  hsm::EcdsaSigPtr sig(ECDSA_SIG_new());
  hsm::BignumPtr r(BN_bin2bn(bytes, static_cast<int>(coordinate_size), nullptr));
  hsm::BignumPtr s(BN_bin2bn(bytes + coordinate_size, static_cast<int>(coordinate_size), nullptr));
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return false;
  }
  r.release();  // owned by sig now
  s.release();
  *der = hsm::DerOf(i2d_ECDSA_SIG, sig.get());
  return !der->empty();
}

// ---------------------------------------------------------------------------------------
// JWS.

absl::StatusOr<Algorithm> HeaderAlgorithm(const Struct& header) {
  auto alg = header.fields().find("alg");
  if (alg == header.fields().end() || alg->second.kind_case() != Value::kStringValue) {
    return Invalid("the JWS header has no \"alg\"");
  }
  if (header.fields().contains("crit")) {
    return Invalid("the JWS header has \"crit\" extensions, which are not supported");
  }
  return ParseAlgorithm(alg->second.string_value());
}

absl::StatusOr<Jws> Assemble(absl::string_view encoded_header, absl::string_view encoded_payload,
                             absl::string_view encoded_signature) {
  Jws jws;
  std::string header_json;
  if (!Base64UrlDecode(encoded_header, &header_json)) {
    return Invalid("the JWS header is not base64url");
  }
  if (absl::Status s = ParseJsonObject(header_json, kBounds, "the JWS header", &jws.header);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Algorithm> alg = HeaderAlgorithm(jws.header);
  if (!alg.ok()) return alg.status();
  jws.alg = *alg;
  if (!Base64UrlDecode(encoded_payload, &jws.payload)) {
    return Invalid("the JWS payload is not base64url");
  }
  jws.payload_empty = encoded_payload.empty();
  if (!Base64UrlDecode(encoded_signature, &jws.signature) || jws.signature.empty()) {
    return Invalid("the JWS signature is not base64url");
  }
  jws.signing_input = absl::StrCat(encoded_header, ".", encoded_payload);
  return jws;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// base64url.

std::string Base64UrlEncode(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

bool Base64UrlDecode(absl::string_view in, std::string* out) {
  if (in.size() % 4 == 1) return false;
  for (char c : in) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  if (!absl::WebSafeBase64Unescape(in, out)) return false;
  // Non-zero trailing bits give a second spelling of the same bytes: refuse it.
  return absl::WebSafeBase64Escape(*out) == in;
}

// ---------------------------------------------------------------------------------------
// Algorithms.

absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name) {
  for (const AlgorithmInfo& a : kAlgorithms) {
    if (name == a.name) return a.alg;
  }
  if (name == "none") return Invalid("the JWS algorithm \"none\" is never accepted");
  if (absl::StartsWith(name, "HS")) {
    return Invalid("HMAC JWS algorithms are never accepted; sign with a public key algorithm");
  }
  return Invalid("the JWS algorithm is not supported (RS256/384/512, PS256/384/512, "
                 "ES256/384/512, EdDSA)");
}

absl::string_view AlgorithmName(Algorithm alg) {
  for (const AlgorithmInfo& a : kAlgorithms) {
    if (a.alg == alg) return a.name;
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// PublicJwk.

absl::StatusOr<PublicJwk> PublicJwk::FromStruct(const Struct& jwk) {
  absl::StatusOr<Members> members = MembersFromJwk(jwk);
  if (!members.ok()) {
    if (absl::IsUnimplemented(members.status())) {
      return Invalid(absl::StrCat("the JWK's ", members.status().message(),
                                  " (RSA, EC P-256/P-384/P-521 and OKP Ed25519 are)"));
    }
    return members.status();
  }
  absl::StatusOr<const std::string*> kid = StringMember(jwk, "kid");
  if (!kid.ok()) return kid.status();
  absl::StatusOr<const std::string*> alg = StringMember(jwk, "alg");
  if (!alg.ok()) return alg.status();
  absl::StatusOr<hsm::EvpPkeyPtr> key = BuildKey(*members);
  if (!key.ok()) return key.status();
  PublicJwk out;
  out.kind_ = static_cast<int>(members->kind);
  out.coordinate_size_ = members->curve != nullptr ? members->curve->coordinate_size : 0;
  out.pkey_ = std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free);
  out.canonical_json_ = CanonicalJson(*members);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(out.canonical_json_.data()),
         out.canonical_json_.size(), digest);
  out.thumbprint_ = Base64UrlEncode(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
  if (*kid != nullptr) out.kid_ = **kid;
  if (*alg != nullptr) out.alg_ = **alg;
  return out;
}

absl::StatusOr<PublicJwk> PublicJwk::FromJson(absl::string_view json) {
  if (json.size() > kMaxJoseInput) return Invalid("the JWK is too large");
  Struct jwk;
  if (absl::Status s = ParseJsonObject(json, kBounds, "the JWK", &jwk); !s.ok()) return s;
  return FromStruct(jwk);
}

absl::StatusOr<PublicJwk> PublicJwk::FromEvpPkey(EVP_PKEY* key) {
  if (key == nullptr) return Invalid("no key");
  absl::StatusOr<Members> members = MembersFromPkey(key);
  if (!members.ok()) return members.status();
  Struct jwk;
  // One path for every source: rebuild from the canonical members, which also checks them.
  if (absl::Status s = ParseJsonObject(CanonicalJson(*members), kBounds, "the JWK", &jwk);
      !s.ok()) {
    return s;
  }
  return FromStruct(jwk);
}

absl::StatusOr<PublicJwk> PublicJwk::FromPem(absl::string_view pem) {
  if (pem.size() > kMaxJoseInput) return Invalid("the PEM key is too large");
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  hsm::EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    ClearErrors();
    return Invalid("the PEM text is not a PUBLIC KEY (SubjectPublicKeyInfo)");
  }
  return FromEvpPkey(key.get());
}

bool PublicJwk::Accepts(Algorithm alg) const {
  if (!alg_.empty() && alg_ != AlgorithmName(alg)) return false;
  switch (static_cast<Members::Kind>(kind_)) {
    case Members::Kind::kRsa:
      return IsRsa(alg);
    case Members::Kind::kEc: {
      for (const Curve& c : kCurves) {
        if (c.coordinate_size == coordinate_size_) return c.alg == alg;
      }
      return false;
    }
    case Members::Kind::kEd25519:
      return alg == Algorithm::kEdDsa;
  }
  return false;
}

bool PublicJwk::Verify(Algorithm alg, absl::string_view signing_input,
                       absl::string_view signature) const {
  if (!Accepts(alg) || pkey_ == nullptr) return false;
  std::string der;
  if (static_cast<Members::Kind>(kind_) == Members::Kind::kEc) {
    if (!RawEcdsaToDer(signature, coordinate_size_, &der)) return false;
    signature = der;
  } else if (static_cast<Members::Kind>(kind_) == Members::Kind::kRsa &&
             signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()))) {
    return false;
  }
  hsm::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit(ctx.get(), &pctx, DigestOf(alg), nullptr, pkey_.get()) == 1;
  if (ok && IsPss(alg)) {
    // RFC 7518 3.5: MGF1 with the same hash, a salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, DigestOf(alg)) == 1;
  } else if (ok && IsRsa(alg)) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()),
                              signing_input.size()) == 1;
  ClearErrors();
  return ok;
}

// ---------------------------------------------------------------------------------------
// JWK Sets and JWS.

absl::StatusOr<std::vector<PublicJwk>> ParseJwks(absl::string_view json) {
  if (json.size() > kMaxJoseInput) return Invalid("the JWK Set is too large");
  Struct set;
  if (absl::Status s = ParseJsonObject(json, kBounds, "the JWK Set", &set); !s.ok()) return s;
  auto keys = set.fields().find("keys");
  if (keys == set.fields().end() || keys->second.kind_case() != Value::kListValue) {
    return Invalid("the JWK Set has no \"keys\" array");
  }
  const auto& values = keys->second.list_value().values();
  if (values.size() > static_cast<int>(kMaxJwksKeys)) {
    return Invalid(absl::StrCat("the JWK Set holds more than ", kMaxJwksKeys, " keys"));
  }
  std::vector<PublicJwk> out;
  for (const Value& v : values) {
    if (v.kind_case() != Value::kStructValue) return Invalid("a JWK Set member is not an object");
    const Struct& jwk = v.struct_value();
    auto use = jwk.fields().find("use");
    if (use != jwk.fields().end() &&
        !(use->second.kind_case() == Value::kStringValue && use->second.string_value() == "sig")) {
      continue;  // an encryption key
    }
    if (absl::StatusOr<Members> m = MembersFromJwk(jwk);
        !m.ok() && absl::IsUnimplemented(m.status())) {
      continue;  // a key type this code does not use
    }
    absl::StatusOr<PublicJwk> key = PublicJwk::FromStruct(jwk);
    if (!key.ok()) return key.status();
    out.push_back(*std::move(key));
  }
  return out;
}

absl::StatusOr<Jws> ParseCompact(absl::string_view token) {
  if (token.size() > kMaxJoseInput) return Invalid("the JWS is too large");
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Invalid("a compact JWS has three parts separated by '.'");
  return Assemble(parts[0], parts[1], parts[2]);
}

absl::StatusOr<Jws> ParseFlattened(absl::string_view json) {
  if (json.size() > kMaxJoseInput) return Invalid("the JWS is too large");
  Struct jws;
  if (absl::Status s = ParseJsonObject(json, kBounds, "the JWS", &jws); !s.ok()) return s;
  const std::string* parts[3] = {nullptr, nullptr, nullptr};
  const char* names[3] = {"protected", "payload", "signature"};
  for (const auto& [name, value] : jws.fields()) {
    int i = 0;
    while (i < 3 && name != names[i]) ++i;
    if (i == 3) {
      return Invalid(name == "header"
                         ? "the JWS has an unprotected \"header\", which is not accepted"
                         : "the JWS may only have \"protected\", \"payload\" and "
                           "\"signature\" members");
    }
    if (value.kind_case() != Value::kStringValue) {
      return Invalid(absl::StrCat("the JWS member \"", names[i], "\" must be a string"));
    }
    parts[i] = &value.string_value();
  }
  for (int i = 0; i < 3; ++i) {
    if (parts[i] == nullptr) return Invalid(absl::StrCat("the JWS has no \"", names[i], "\""));
  }
  return Assemble(*parts[0], *parts[1], *parts[2]);
}

}  // namespace strongroom::server::jose
