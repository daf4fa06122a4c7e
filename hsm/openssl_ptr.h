// Owning pointers for OpenSSL objects, the one header for every layer: one unique_ptr
// alias per type, each with the type's own free function (the clearing variant for
// anything that may hold secrets). Header-only; links no PKCS#11.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace strongroom::hsm {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_clear_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslDeleter<ECDSA_SIG, ECDSA_SIG_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using EvpPkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using EvpCipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EvpMdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD, EVP_MD_free>>;
using OsslLibCtxPtr = std::unique_ptr<OSSL_LIB_CTX, OpenSslDeleter<OSSL_LIB_CTX, OSSL_LIB_CTX_free>>;
// Legacy key types some parsers still produce (d2i_RSAPublicKey, o2i_ECPublicKey).
using EcKeyPtr = std::unique_ptr<EC_KEY, OpenSslDeleter<EC_KEY, EC_KEY_free>>;
using RsaPtr = std::unique_ptr<RSA, OpenSslDeleter<RSA, RSA_free>>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, OpenSslDeleter<EVP_MAC_CTX, EVP_MAC_CTX_free>>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;
using OsslParamBldPtr =
    std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using OsslParamPtr = std::unique_ptr<OSSL_PARAM, OpenSslDeleter<OSSL_PARAM, OSSL_PARAM_free>>;
using Pkcs8PrivKeyInfoPtr =
    std::unique_ptr<PKCS8_PRIV_KEY_INFO,
                    OpenSslDeleter<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, OpenSslDeleter<X509_CRL, X509_CRL_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, OpenSslDeleter<X509_REQ, X509_REQ_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
using X509RevokedPtr =
    std::unique_ptr<X509_REVOKED, OpenSslDeleter<X509_REVOKED, X509_REVOKED_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
// A stack of certificates it does not own: freeing it leaves the certificates alone.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
// A stack of extensions it owns, with them.
struct X509ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * stack) const {
    sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
  }
};
using X509ExtensionStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), X509ExtensionStackDeleter>;
using Asn1IntegerPtr =
    std::unique_ptr<ASN1_INTEGER, OpenSslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME, ASN1_TIME_free>>;
using Asn1ObjectPtr = std::unique_ptr<ASN1_OBJECT, OpenSslDeleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
// Any ASN1_STRING type (IA5String, OCTET STRING, ...).
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, OpenSslDeleter<ASN1_STRING, ASN1_STRING_free>>;
using Asn1BitStringPtr =
    std::unique_ptr<ASN1_BIT_STRING, OpenSslDeleter<ASN1_BIT_STRING, ASN1_BIT_STRING_free>>;
using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using GeneralNamePtr =
    std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME, GENERAL_NAME_free>>;
using AccessDescriptionPtr =
    std::unique_ptr<ACCESS_DESCRIPTION,
                    OpenSslDeleter<ACCESS_DESCRIPTION, ACCESS_DESCRIPTION_free>>;
using AuthorityInfoAccessPtr =
    std::unique_ptr<AUTHORITY_INFO_ACCESS,
                    OpenSslDeleter<AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free>>;
using DistPointPtr = std::unique_ptr<DIST_POINT, OpenSslDeleter<DIST_POINT, DIST_POINT_free>>;
using CrlDistPointsPtr =
    std::unique_ptr<CRL_DIST_POINTS, OpenSslDeleter<CRL_DIST_POINTS, CRL_DIST_POINTS_free>>;
using OcspRequestPtr =
    std::unique_ptr<OCSP_REQUEST, OpenSslDeleter<OCSP_REQUEST, OCSP_REQUEST_free>>;
using OcspResponsePtr =
    std::unique_ptr<OCSP_RESPONSE, OpenSslDeleter<OCSP_RESPONSE, OCSP_RESPONSE_free>>;
using OcspBasicRespPtr =
    std::unique_ptr<OCSP_BASICRESP, OpenSslDeleter<OCSP_BASICRESP, OCSP_BASICRESP_free>>;
using OcspCertIdPtr = std::unique_ptr<OCSP_CERTID, OpenSslDeleter<OCSP_CERTID, OCSP_CERTID_free>>;

// Memory OpenSSL allocated for the caller (i2d_* output, BN_bn2hex, ASN1_STRING_to_UTF8).
struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
template <typename T>
using OpenSslBytesPtr = std::unique_ptr<T, OpenSslFree>;

// The DER encoding of `object` by `i2d` (i2d_X509, i2d_OCSP_RESPONSE, i2d_ECDSA_SIG, ...);
// empty if `object` is null or cannot be encoded.
template <typename I2d, typename T>
std::string DerOf(I2d i2d, const T* object) {
  unsigned char* der = nullptr;
  const int len = object != nullptr ? i2d(object, &der) : -1;
  OpenSslBytesPtr<unsigned char> owned(der);
  return len > 0 ? std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(len))
                 : std::string();
}

}  // namespace strongroom::hsm
