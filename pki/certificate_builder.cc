#include "pki/certificate_builder.h"

#include <arpa/inet.h>
#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace strongroom::pki {
namespace {

constexpr int kMaxCommonNameLength = 64;  // ub-common-name, RFC 5280

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", DrainOpenSslErrors()));
}

hsm::GeneralNamePtr Ia5Name(int type, absl::string_view value) {
  hsm::GeneralNamePtr name(GENERAL_NAME_new());
  hsm::Asn1StringPtr ia5(ASN1_IA5STRING_new());
  if (name == nullptr || ia5 == nullptr ||
      ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return nullptr;
  }
  GENERAL_NAME_set0_value(name.get(), type, ia5.release());
  return name;
}

absl::StatusOr<hsm::GeneralNamesPtr> SubjectAltNames(const NameRequest& names) {
  hsm::GeneralNamesPtr gens(GENERAL_NAMES_new());
  if (gens == nullptr) return OpenSslError("subjectAltName");
  auto push = [&](hsm::GeneralNamePtr name) -> absl::Status {
    if (name == nullptr || sk_GENERAL_NAME_push(gens.get(), name.get()) == 0) {
      return OpenSslError("subjectAltName");
    }
    name.release();
    return absl::OkStatus();
  };
  for (const std::string& dns : names.dns_sans) {
    if (absl::Status s = push(Ia5Name(GEN_DNS, dns)); !s.ok()) return s;
  }
  for (const std::string& ip : names.ip_sans) {
    hsm::Asn1StringPtr octets(a2i_IPADDRESS(ip.c_str()));
    if (octets == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("ip_sans: \"", ip, "\" is not an IPv4 or IPv6 address"));
    }
    hsm::GeneralNamePtr name(GENERAL_NAME_new());
    if (name == nullptr) return OpenSslError("subjectAltName");
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets.release());
    if (absl::Status s = push(std::move(name)); !s.ok()) return s;
  }
  for (const std::string& uri : names.uri_sans) {
    if (absl::Status s = push(Ia5Name(GEN_URI, uri)); !s.ok()) return s;
  }
  return gens;
}

absl::Status AddExtension(X509* cert, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE) != 1) {
    return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

// Adds the subject key identifier, the SHA-1 of the certificate's public key bits (RFC 5280
// 4.2.1.2, method 1), and the authority key identifier, the issuer's SKI (`issuer`, or the
// new SKI when self-signed with `issuer` nullptr) as a keyIdentifier alone. What OpenSSL's
// "hash" and "keyid:always" configuration values produce, without parsing them and looking
// the issuer's extension up for every certificate. FAILED_PRECONDITION for an issuer
// certificate without an SKI.
absl::Status AddKeyIdentifiers(X509* cert, X509* issuer) {
  // Fetched once: EVP_sha1() makes OpenSSL 3.0 fetch on every use.
  static EVP_MD* const kSha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  unsigned char sha1[EVP_MAX_MD_SIZE];
  unsigned int sha1_len = 0;
  hsm::Asn1StringPtr ski(ASN1_OCTET_STRING_new());
  if (kSha1 == nullptr || ski == nullptr ||
      X509_pubkey_digest(cert, kSha1, sha1, &sha1_len) != 1 ||
      ASN1_OCTET_STRING_set(ski.get(), sha1, static_cast<int>(sha1_len)) != 1) {
    return OpenSslError("subjectKeyIdentifier");
  }
  if (absl::Status s = AddExtension(cert, NID_subject_key_identifier, ski.get(),
                                    /*critical=*/false);
      !s.ok()) {
    return s;
  }
  const ASN1_OCTET_STRING* issuer_ski =
      issuer == nullptr ? ski.get() : X509_get0_subject_key_id(issuer);
  if (issuer_ski == nullptr) {
    return absl::FailedPreconditionError("signer: the issuer certificate has no key identifier");
  }
  std::unique_ptr<AUTHORITY_KEYID, hsm::OpenSslDeleter<AUTHORITY_KEYID, AUTHORITY_KEYID_free>>
      aki(AUTHORITY_KEYID_new());
  if (aki == nullptr || (aki->keyid = ASN1_OCTET_STRING_dup(issuer_ski)) == nullptr) {
    return OpenSslError("authorityKeyIdentifier");
  }
  return AddExtension(cert, NID_authority_key_identifier, aki.get(), /*critical=*/false);
}

absl::Status AddBasicConstraints(X509* cert, const CertificateParams& params) {
  std::unique_ptr<BASIC_CONSTRAINTS, hsm::OpenSslDeleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>
      bc(BASIC_CONSTRAINTS_new());
  if (bc == nullptr) return OpenSslError("basicConstraints");
  bc->ca = params.is_ca ? 0xff : 0;
  if (params.is_ca && params.max_path_length.has_value()) {
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, *params.max_path_length) != 1) {
      return OpenSslError("basicConstraints");
    }
  }
  return AddExtension(cert, NID_basic_constraints, bc.get(), /*critical=*/true);
}

absl::Status AddKeyUsage(X509* cert, const CertificateParams& params) {
  hsm::Asn1BitStringPtr ku(ASN1_BIT_STRING_new());
  if (ku == nullptr) return OpenSslError("keyUsage");
  // Bit numbers from RFC 5280 4.2.1.3.
  constexpr int kDigitalSignature = 0, kKeyEncipherment = 2, kKeyCertSign = 5, kCrlSign = 6;
  auto set = [&](int bit) { return ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) == 1; };
  bool ok;
  if (params.is_ca) {
    ok = set(kKeyCertSign) && set(kCrlSign);
  } else {
    ok = set(kDigitalSignature) &&
         (!EVP_PKEY_is_a(params.public_key, "RSA") || set(kKeyEncipherment));
  }
  if (!ok) return OpenSslError("keyUsage");
  return AddExtension(cert, NID_key_usage, ku.get(), /*critical=*/true);
}

absl::Status AddExtendedKeyUsage(X509* cert, const CertificateParams& params) {
  if (params.is_ca || (!params.server_auth && !params.client_auth)) return absl::OkStatus();
  std::unique_ptr<EXTENDED_KEY_USAGE,
                  hsm::OpenSslDeleter<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>>
      eku(sk_ASN1_OBJECT_new_null());
  if (eku == nullptr) return OpenSslError("extendedKeyUsage");
  if (params.server_auth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth));
  if (params.client_auth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth));
  return AddExtension(cert, NID_ext_key_usage, eku.get(), /*critical=*/false);
}

absl::Status AddAuthorityInfoAccess(X509* cert, const CertificateParams& params) {
  if (params.issuing_certificate_url.empty() && params.ocsp_url.empty()) {
    return absl::OkStatus();
  }
  hsm::AuthorityInfoAccessPtr aia(sk_ACCESS_DESCRIPTION_new_null());
  if (aia == nullptr) return OpenSslError("authorityInfoAccess");
  auto add = [&](int method, const std::string& url) -> absl::Status {
    if (url.empty()) return absl::OkStatus();
    hsm::AccessDescriptionPtr owned(ACCESS_DESCRIPTION_new());
    hsm::GeneralNamePtr location = Ia5Name(GEN_URI, url);
    if (owned == nullptr || location == nullptr ||
        sk_ACCESS_DESCRIPTION_push(aia.get(), owned.get()) == 0) {
      return OpenSslError("authorityInfoAccess");
    }
    ACCESS_DESCRIPTION* ad = owned.release();  // the stack owns it now
    hsm::Asn1ObjectPtr default_method(ad->method);  // what ACCESS_DESCRIPTION_new put there
    hsm::GeneralNamePtr default_location(ad->location);
    ad->method = OBJ_nid2obj(method);
    ad->location = location.release();
    return absl::OkStatus();
  };
  if (absl::Status s = add(NID_ad_OCSP, params.ocsp_url); !s.ok()) return s;
  if (absl::Status s = add(NID_ad_ca_issuers, params.issuing_certificate_url); !s.ok()) return s;
  return AddExtension(cert, NID_info_access, aia.get(), /*critical=*/false);
}

absl::Status AddCrlDistributionPoint(X509* cert, const CertificateParams& params) {
  if (params.crl_distribution_point.empty()) return absl::OkStatus();
  hsm::CrlDistPointsPtr points(sk_DIST_POINT_new_null());
  hsm::DistPointPtr owned(DIST_POINT_new());
  if (points == nullptr || owned == nullptr || sk_DIST_POINT_push(points.get(), owned.get()) == 0) {
    return OpenSslError("crlDistributionPoints");
  }
  DIST_POINT* point = owned.release();  // the stack owns it now
  point->distpoint = DIST_POINT_NAME_new();
  hsm::GeneralNamesPtr full_name(GENERAL_NAMES_new());
  hsm::GeneralNamePtr uri = Ia5Name(GEN_URI, params.crl_distribution_point);
  if (point->distpoint == nullptr || full_name == nullptr || uri == nullptr ||
      sk_GENERAL_NAME_push(full_name.get(), uri.get()) == 0) {
    return OpenSslError("crlDistributionPoints");
  }
  uri.release();
  point->distpoint->type = 0;  // fullName
  point->distpoint->name.fullname = full_name.release();
  return AddExtension(cert, NID_crl_distribution_points, points.get(), /*critical=*/false);
}

absl::Status SetCommonName(X509_NAME* name, absl::string_view common_name) {
  if (common_name.empty()) return absl::OkStatus();
  if (common_name.size() > kMaxCommonNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("common_name: longer than ", kMaxCommonNameLength, " characters"));
  }
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("common_name: not valid UTF-8 text");
  }
  return absl::OkStatus();
}

// Sets the certificate's SubjectPublicKeyInfo: a verbatim copy of `info` if given (its
// algorithm and key bits; no encoder), else the encoding of `key`.
absl::Status SetPublicKey(X509* cert, EVP_PKEY* key, const X509_PUBKEY* info) {
  if (info == nullptr) {
    if (X509_set_pubkey(cert, key) != 1) return OpenSslError("subject public key");
    return absl::OkStatus();
  }
  ASN1_OBJECT* algorithm = nullptr;
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algor = nullptr;
  if (X509_PUBKEY_get0_param(&algorithm, &bits, &bits_len, &algor, info) != 1 || bits_len <= 0) {
    return OpenSslError("subject public key");
  }
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(nullptr, &param_type, &param, algor);
  hsm::Asn1ObjectPtr param_object;
  hsm::Asn1StringPtr param_sequence;
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_object.reset(OBJ_dup(static_cast<const ASN1_OBJECT*>(param)));
    param_copy = param_object.get();
  } else if (param_type == V_ASN1_SEQUENCE) {
    param_sequence.reset(ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param)));
    param_copy = param_sequence.get();
  } else if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF) {
    return absl::InvalidArgumentError("public_key_info: unsupported algorithm parameters");
  }
  if ((param_type == V_ASN1_OBJECT || param_type == V_ASN1_SEQUENCE) && param_copy == nullptr) {
    return OpenSslError("subject public key");
  }
  hsm::Asn1ObjectPtr algorithm_copy(OBJ_dup(algorithm));
  hsm::OpenSslBytesPtr<unsigned char> bits_copy(
      static_cast<unsigned char*>(OPENSSL_memdup(bits, bits_len)));
  if (algorithm_copy == nullptr || bits_copy == nullptr ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), algorithm_copy.get(), param_type,
                             param_copy, bits_copy.get(), bits_len) != 1) {
    return OpenSslError("subject public key");
  }
  // The public key owns them now.
  algorithm_copy.release();
  bits_copy.release();
  param_object.release();
  param_sequence.release();
  return absl::OkStatus();
}

bool KeysMatch(EVP_PKEY* a, EVP_PKEY* b) {
  const bool match = EVP_PKEY_eq(a, b) == 1;
  ERR_clear_error();
  return match;
}

std::string Asn1StringText(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
}

// A CertificationRequest (RFC 2986) decoded with its SubjectPublicKeyInfo left as raw
// algorithm and bits. OpenSSL 3.0's own X509_REQ decoding turns the key into an EVP_PKEY
// through an OSSL_DECODER context built afresh for every request, which is a third of what
// SignCertificate costs; these templates skip that. The request info keeps its encoding
// (ASN1_SEQUENCE_enc), so the signature is checked over the bytes as received.
struct RawSpki {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* key;
};
struct RawCsrInfo {
  ASN1_ENCODING enc;
  ASN1_INTEGER* version;
  X509_NAME* subject;
  RawSpki* spki;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};
struct RawCsr {
  RawCsrInfo* info;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

ASN1_SEQUENCE(RawSpki) = {
    ASN1_SIMPLE(RawSpki, algorithm, X509_ALGOR),
    ASN1_SIMPLE(RawSpki, key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(RawSpki)

ASN1_SEQUENCE_enc(RawCsrInfo, enc, nullptr) = {
    ASN1_SIMPLE(RawCsrInfo, version, ASN1_INTEGER),
    ASN1_SIMPLE(RawCsrInfo, subject, X509_NAME),
    ASN1_SIMPLE(RawCsrInfo, spki, RawSpki),
    ASN1_IMP_SET_OF_OPT(RawCsrInfo, attributes, X509_ATTRIBUTE, 0),
} ASN1_SEQUENCE_END_enc(RawCsrInfo, RawCsrInfo)

ASN1_SEQUENCE(RawCsr) = {
    ASN1_SIMPLE(RawCsr, info, RawCsrInfo),
    ASN1_SIMPLE(RawCsr, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(RawCsr, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(RawCsr)

struct RawCsrFree {
  void operator()(RawCsr* csr) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(csr), ASN1_ITEM_rptr(RawCsr));
  }
};

// The key of an EC P-256/P-384 (named curve) or RSA SubjectPublicKeyInfo, built with the
// classic EC_KEY/RSA parsers, which need no decoder; nullptr for any other key.
hsm::EvpPkeyPtr KeyOfRawSpki(const RawSpki& spki) {
  const ASN1_OBJECT* algorithm = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&algorithm, &param_type, &param, spki.algorithm);
  const unsigned char* bits = ASN1_STRING_get0_data(spki.key);
  const long bits_len = ASN1_STRING_length(spki.key);
  hsm::EvpPkeyPtr key(EVP_PKEY_new());
  if (key == nullptr || bits == nullptr || bits_len <= 0) return nullptr;
  switch (OBJ_obj2nid(algorithm)) {
    case NID_X9_62_id_ecPublicKey: {
      if (param_type != V_ASN1_OBJECT) return nullptr;
      const int curve = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(param));
      if (curve != NID_X9_62_prime256v1 && curve != NID_secp384r1) return nullptr;
      // The groups are built once: EC_KEY_new_by_curve_name builds the curve afresh (its
      // Montgomery contexts included), about 10 us a request; copying a built group costs
      // under 1 us.
      static const EC_GROUP* const kP256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
      static const EC_GROUP* const kP384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
      const EC_GROUP* group = curve == NID_X9_62_prime256v1 ? kP256 : kP384;
      hsm::EcKeyPtr ec(EC_KEY_new());
      EC_KEY* raw = ec.get();
      if (ec == nullptr || group == nullptr || EC_KEY_set_group(ec.get(), group) != 1 ||
          o2i_ECPublicKey(&raw, &bits, bits_len) == nullptr ||
          EVP_PKEY_assign_EC_KEY(key.get(), ec.get()) != 1) {
        return nullptr;
      }
      ec.release();  // owned by key now
      return key;
    }
    case NID_rsaEncryption: {
      if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF) return nullptr;
      hsm::RsaPtr rsa(d2i_RSAPublicKey(nullptr, &bits, bits_len));
      if (rsa == nullptr || EVP_PKEY_assign_RSA(key.get(), rsa.get()) != 1) return nullptr;
      rsa.release();  // owned by key now
      return key;
    }
    default:
      return nullptr;
  }
}

// The digest of an ecdsa-with-SHA256, -SHA384 or -SHA512 signature algorithm, whose
// parameters must be absent (RFC 5758 3.2); nullptr for any other algorithm.
const EVP_MD* EcdsaDigest(const X509_ALGOR* algorithm) {
  const ASN1_OBJECT* oid = nullptr;
  int param_type = V_ASN1_UNDEF;
  X509_ALGOR_get0(&oid, &param_type, nullptr, algorithm);
  if (param_type != V_ASN1_UNDEF) return nullptr;
  // Fetched once: EVP_sha256() and the like make OpenSSL 3.0 fetch on every use.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* const kSha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  static EVP_MD* const kSha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  switch (OBJ_obj2nid(oid)) {
    case NID_ecdsa_with_SHA256:
      return kSha256;
    case NID_ecdsa_with_SHA384:
      return kSha384;
    case NID_ecdsa_with_SHA512:
      return kSha512;
    default:
      return nullptr;
  }
}

// Whether `signature` under `algorithm` (ECDSA with SHA-2, see EcdsaDigest) verifies over
// `signed_der` with `key`, a classic EC key as KeyOfRawSpki builds. It calls EC_KEY's ECDSA
// (strict DER signature, as ASN1_item_verify checks it) directly: ASN1_item_verify would
// make OpenSSL 3.0 export the key to its provider and fetch the algorithms for every request.
bool EcdsaVerifies(EVP_PKEY* key, const X509_ALGOR* algorithm, const ASN1_BIT_STRING* signature,
                   const unsigned char* signed_der, long signed_len) {
  const EVP_MD* md = EcdsaDigest(algorithm);
  // A BIT STRING signature has no unused bits (ASN1_item_verify refuses those too).
  if (md == nullptr || signed_der == nullptr || (signature->flags & 0x07) != 0) return false;
  std::unique_ptr<EC_KEY, hsm::OpenSslDeleter<EC_KEY, EC_KEY_free>> ec(EVP_PKEY_get1_EC_KEY(key));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  return ec != nullptr &&
         EVP_Digest(signed_der, static_cast<size_t>(signed_len), digest, &digest_len, md,
                    nullptr) == 1 &&
         ECDSA_verify(0, digest, static_cast<int>(digest_len), ASN1_STRING_get0_data(signature),
                      ASN1_STRING_length(signature), ec.get()) == 1;
}

// The CSR in `der` as an X509_REQ holding its subject, attributes and public key, if its
// key is one KeyOfRawSpki builds and its signature verifies with it; nullptr otherwise (the
// caller then decides with OpenSSL's own decoding). The signature is checked over the
// request info's bytes as received. The X509_REQ carries no signature.
hsm::X509ReqPtr ParseVerifiedCsrFast(const unsigned char* der, long len) {
  const unsigned char* p = der;
  std::unique_ptr<RawCsr, RawCsrFree> raw(static_cast<RawCsr*>(
      static_cast<void*>(ASN1_item_d2i(nullptr, &p, len, ASN1_ITEM_rptr(RawCsr)))));
  if (raw == nullptr) return nullptr;
  hsm::EvpPkeyPtr key = KeyOfRawSpki(*raw->info->spki);
  if (key == nullptr) return nullptr;
  const bool verified =
      EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_EC
          ? EcdsaVerifies(key.get(), raw->signature_algorithm, raw->signature,
                          raw->info->enc.enc, raw->info->enc.len)
          : ASN1_item_verify(ASN1_ITEM_rptr(RawCsrInfo), raw->signature_algorithm,
                             raw->signature, raw->info, key.get()) == 1;
  if (!verified) return nullptr;
  hsm::X509ReqPtr csr(X509_REQ_new());
  if (csr == nullptr || X509_REQ_set_subject_name(csr.get(), raw->info->subject) != 1 ||
      X509_REQ_set_pubkey(csr.get(), key.get()) != 1) {
    return nullptr;
  }
  for (int i = 0; i < sk_X509_ATTRIBUTE_num(raw->info->attributes); ++i) {
    if (X509_REQ_add1_attr(csr.get(), sk_X509_ATTRIBUTE_value(raw->info->attributes, i)) != 1) {
      return nullptr;
    }
  }
  return csr;
}

}  // namespace

absl::StatusOr<hsm::Asn1IntegerPtr> RandomSerial() {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslError("serial: RAND_bytes");
  bytes[0] = (bytes[0] & 0x7f) | 0x40;  // positive, always 20 bytes, 159 random-ish bits
  hsm::BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  hsm::Asn1IntegerPtr serial(bn == nullptr ? nullptr : BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) return OpenSslError("serial");
  return serial;
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  hsm::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) return "";
  hsm::OpenSslBytesPtr<char> hex(BN_bn2hex(bn.get()));
  return absl::AsciiStrToLower(hex != nullptr ? hex.get() : "");
}

absl::StatusOr<BuiltCertificate> BuildCertificate(const CertificateParams& params,
                                                  const Signer& signer) {
  if (params.public_key == nullptr) return absl::InvalidArgumentError("public_key: missing");
  if (signer.key == nullptr) return absl::InvalidArgumentError("signer: no key");
  if (params.not_after <= params.not_before) {
    return absl::InvalidArgumentError("validity: not_after is not after not_before");
  }
  if (params.max_path_length.has_value() && (!params.is_ca || *params.max_path_length < 0)) {
    return absl::InvalidArgumentError(
        "max_path_length: only for CA certificates, and not negative");
  }
  if (params.names.empty()) {
    return absl::InvalidArgumentError("names: no common name and no subject alternative name");
  }
  const bool self_signed = signer.certificate == nullptr;
  if (self_signed ? !KeysMatch(signer.key, params.public_key)
                  : !KeysMatch(signer.key, X509_get0_pubkey(signer.certificate))) {
    return absl::FailedPreconditionError(
        self_signed ? "signer: key is not the private half of the self-signed public key"
                    : "signer: key does not match the issuer certificate");
  }

  hsm::X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("certificate");
  }
  absl::StatusOr<hsm::Asn1IntegerPtr> serial = RandomSerial();
  if (!serial.ok()) return serial.status();
  if (X509_set_serialNumber(cert.get(), serial->get()) != 1) return OpenSslError("serial");
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(params.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(params.not_after)) == nullptr) {
    return OpenSslError("validity");
  }
  if (absl::Status s = SetCommonName(X509_get_subject_name(cert.get()), params.names.common_name);
      !s.ok()) {
    return s;
  }
  X509_NAME* issuer_name =
      self_signed ? X509_get_subject_name(cert.get()) : X509_get_subject_name(signer.certificate);
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) return OpenSslError("certificate");
  if (absl::Status s = SetPublicKey(cert.get(), params.public_key,
                                    self_signed ? nullptr : params.public_key_info);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = AddBasicConstraints(cert.get(), params); !s.ok()) return s;
  if (absl::Status s = AddKeyUsage(cert.get(), params); !s.ok()) return s;
  if (absl::Status s = AddExtendedKeyUsage(cert.get(), params); !s.ok()) return s;
  if (absl::Status s = AddKeyIdentifiers(cert.get(), signer.certificate); !s.ok()) return s;
  const NameRequest& names = params.names;
  if (!names.dns_sans.empty() || !names.ip_sans.empty() || !names.uri_sans.empty()) {
    absl::StatusOr<hsm::GeneralNamesPtr> sans = SubjectAltNames(names);
    if (!sans.ok()) return sans.status();
    // An empty subject makes the SAN extension critical (RFC 5280 4.2.1.6).
    if (absl::Status s = AddExtension(cert.get(), NID_subject_alt_name, sans->get(),
                                      /*critical=*/names.common_name.empty());
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = AddAuthorityInfoAccess(cert.get(), params); !s.ok()) return s;
  if (absl::Status s = AddCrlDistributionPoint(cert.get(), params); !s.ok()) return s;

  absl::StatusOr<hsm::EvpMdCtxPtr> md_ctx = NewSigningContext(signer);
  if (!md_ctx.ok()) return md_ctx.status();
  if (X509_sign_ctx(cert.get(), md_ctx->get()) <= 0) return OpenSslError("signing certificate");

  BuiltCertificate built;
  built.serial_number = SerialToHex(X509_get0_serialNumber(cert.get()));
  // Encoded once: signing left no cached encoding, so each i2d would encode it all again.
  built.der = hsm::DerOf(i2d_X509, cert.get());
  if (built.der.empty()) return OpenSslError("encoding certificate");
  built.pem = PemOfDer(PEM_STRING_X509, built.der);
  built.certificate = std::move(cert);
  return built;
}

absl::StatusOr<hsm::X509ReqPtr> ParseCsr(absl::string_view pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  unsigned char* der = nullptr;
  long der_len = 0;
  if (bio == nullptr || PEM_bytes_read_bio(&der, &der_len, nullptr, PEM_STRING_X509_REQ,
                                           bio.get(), nullptr, nullptr) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr: not a PEM certificate request");
  }
  hsm::OpenSslBytesPtr<unsigned char> owned_der(der);
  if (hsm::X509ReqPtr fast = ParseVerifiedCsrFast(der, der_len); fast != nullptr) return fast;
  ERR_clear_error();
  // Other keys, and requests the fast path refused: OpenSSL's own decoding decides.
  const unsigned char* p = der;
  hsm::X509ReqPtr csr(d2i_X509_REQ(nullptr, &p, der_len));
  if (csr == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr: not a PEM certificate request");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.get());
  if (key == nullptr || X509_REQ_verify(csr.get(), key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr: signature does not verify");
  }
  return csr;
}

absl::StatusOr<hsm::EvpPkeyPtr> CsrPublicKey(X509_REQ* csr) {
  EVP_PKEY* key = X509_REQ_get_pubkey(csr);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("csr: no usable public key");
  }
  return hsm::EvpPkeyPtr(key);
}

absl::StatusOr<NameRequest> NamesFromCsr(X509_REQ* csr) {
  NameRequest names;
  X509_NAME* subject = X509_REQ_get_subject_name(csr);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
      return absl::InvalidArgumentError("csr: more than one common name");
    }
    unsigned char* utf8 = nullptr;
    int len =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    hsm::OpenSslBytesPtr<unsigned char> owned(utf8);
    if (len < 0) {
      ERR_clear_error();
      return absl::InvalidArgumentError("csr: common name is not valid text");
    }
    names.common_name.assign(reinterpret_cast<char*>(utf8), len);
  }
  hsm::GeneralNamesPtr sans;
  {
    hsm::X509ExtensionStackPtr extensions(X509_REQ_get_extensions(csr));
    sans.reset(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(extensions.get(), NID_subject_alt_name, nullptr, nullptr)));
  }
  ERR_clear_error();
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    switch (name->type) {
      case GEN_DNS:
        names.dns_sans.push_back(Asn1StringText(name->d.dNSName));
        break;
      case GEN_URI:
        names.uri_sans.push_back(Asn1StringText(name->d.uniformResourceIdentifier));
        break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        char text[INET6_ADDRSTRLEN] = {};
        const int len = ASN1_STRING_length(ip);
        if ((len != 4 && len != 16) ||
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                      sizeof(text)) == nullptr) {
          return absl::InvalidArgumentError("csr: malformed IP address SAN");
        }
        names.ip_sans.push_back(text);
        break;
      }
      default:
        return absl::InvalidArgumentError(
            "csr: requests a subjectAltName type other than DNS, IP or URI");
    }
  }
  return names;
}

absl::StatusOr<hsm::X509ReqPtr> BuildCsr(absl::string_view common_name, EVP_PKEY* public_key,
                                         const Signer& signer) {
  if (public_key == nullptr) return absl::InvalidArgumentError("public_key: missing");
  if (common_name.empty()) return absl::InvalidArgumentError("common_name: empty");
  if (!KeysMatch(signer.key, public_key)) {
    return absl::FailedPreconditionError("signer: key is not the private half of public_key");
  }
  hsm::X509ReqPtr csr(X509_REQ_new());
  if (csr == nullptr || X509_REQ_set_version(csr.get(), X509_REQ_VERSION_1) != 1) {
    return OpenSslError("csr");
  }
  if (absl::Status s = SetCommonName(X509_REQ_get_subject_name(csr.get()), common_name); !s.ok()) {
    return s;
  }
  if (X509_REQ_set_pubkey(csr.get(), public_key) != 1) return OpenSslError("csr");
  absl::StatusOr<hsm::EvpMdCtxPtr> md_ctx = NewSigningContext(signer);
  if (!md_ctx.ok()) return md_ctx.status();
  if (X509_REQ_sign_ctx(csr.get(), md_ctx->get()) <= 0) return OpenSslError("signing csr");
  return csr;
}

absl::StatusOr<hsm::EvpPkeyPtr> GenerateSoftwareKey(v1::PkiKeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case v1::PKI_KEY_TYPE_UNSPECIFIED:
    case v1::EC_P256:
      key = EVP_EC_gen("P-256");
      break;
    case v1::EC_P384:
      key = EVP_EC_gen("P-384");
      break;
    case v1::RSA2048:
      key = EVP_RSA_gen(2048);
      break;
    case v1::RSA3072:
      key = EVP_RSA_gen(3072);
      break;
    case v1::RSA4096:
      key = EVP_RSA_gen(4096);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("key_type: unknown value ", type));
  }
  if (key == nullptr) return OpenSslError("key generation");
  return hsm::EvpPkeyPtr(key);
}

std::string PemOfDer(const char* type, absl::string_view der) {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio(bio.get(), type, "",
                                      reinterpret_cast<const unsigned char*>(der.data()),
                                      static_cast<long>(der.size())) <= 0) {
    return "";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string CertificateToPem(X509* certificate) {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), certificate) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string CsrToPem(X509_REQ* csr) {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), csr) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

absl::StatusOr<hsm::X509Ptr> ParseCertificatePem(absl::string_view pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  hsm::X509Ptr cert(bio == nullptr ? nullptr
                                   : PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("certificate: not a PEM certificate");
  }
  return cert;
}

std::vector<hsm::X509Ptr> ParseCertificateChainPem(absl::string_view pem) {
  std::vector<hsm::X509Ptr> out;
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the input reads as a "no start line" error
  return out;
}

}  // namespace strongroom::pki
