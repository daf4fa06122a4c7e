#include "pki/crl_builder.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace strongroom::pki {
namespace {

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", DrainOpenSslErrors()));
}

// A serial in canonical form: lowercase hex without leading zeros, so that numeric order is
// (length, text) order and equal numbers have equal text.
bool CanonicalSerial(absl::string_view hex, std::string* out) {
  while (hex.size() > 1 && hex.front() == '0') hex.remove_prefix(1);
  if (hex.empty() || hex.size() > 40) return false;  // RFC 5280: at most 20 octets
  out->resize(hex.size());
  for (size_t i = 0; i < hex.size(); ++i) {
    if (!absl::ascii_isxdigit(hex[i])) return false;
    (*out)[i] = absl::ascii_tolower(hex[i]);
  }
  return true;
}

}  // namespace

absl::StatusOr<hsm::X509CrlPtr> BuildCrl(const CrlParams& params,
                                         absl::Span<const RevokedCertificate> revoked,
                                         const Signer& signer) {
  if (signer.key == nullptr || signer.certificate == nullptr) {
    return absl::InvalidArgumentError("signer: a CRL needs the issuer key and certificate");
  }
  const bool match = EVP_PKEY_eq(signer.key, X509_get0_pubkey(signer.certificate)) == 1;
  ERR_clear_error();
  if (!match) return absl::FailedPreconditionError("signer: key does not match the certificate");
  if (params.next_update <= params.this_update) {
    return absl::InvalidArgumentError("next_update: not after this_update");
  }

  // Canonicalise and sort once: OpenSSL then finds the stack already in order.
  struct Entry {
    std::string serial;
    time_t revoked_at;
    int reason;
  };
  std::vector<Entry> entries(revoked.size());
  for (size_t i = 0; i < revoked.size(); ++i) {
    if (!CanonicalSerial(revoked[i].serial_number, &entries[i].serial)) {
      return absl::InvalidArgumentError(absl::StrCat("revoked[", i, "].serial_number: \"",
                                                     revoked[i].serial_number, "\" is not hex"));
    }
    entries[i].revoked_at = absl::ToTimeT(revoked[i].revocation_time);
    entries[i].reason = revoked[i].reason;
    if (revoked[i].reason < 0 || revoked[i].reason > 10 || revoked[i].reason == 7) {
      return absl::InvalidArgumentError(
          absl::StrCat("revoked[", i, "].reason: ", revoked[i].reason, " is not a CRLReason"));
    }
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.serial.size() != b.serial.size() ? a.serial.size() < b.serial.size()
                                              : a.serial < b.serial;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].serial == entries[i - 1].serial) {
      return absl::InvalidArgumentError(
          absl::StrCat("revoked: serial ", entries[i].serial, " is listed twice"));
    }
  }

  hsm::X509CrlPtr crl(X509_CRL_new());
  hsm::Asn1TimePtr this_update(ASN1_TIME_set(nullptr, absl::ToTimeT(params.this_update)));
  hsm::Asn1TimePtr next_update(ASN1_TIME_set(nullptr, absl::ToTimeT(params.next_update)));
  if (crl == nullptr || this_update == nullptr || next_update == nullptr ||
      X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(signer.certificate)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return OpenSslError("crl");
  }

  for (const Entry& entry : entries) {
    hsm::X509RevokedPtr item(X509_REVOKED_new());
    BIGNUM* parsed = nullptr;
    int parsed_len = BN_hex2bn(&parsed, entry.serial.c_str());
    hsm::BignumPtr bn(parsed);
    if (item == nullptr || parsed_len == 0) return OpenSslError("crl entry");
    hsm::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    hsm::Asn1TimePtr when(ASN1_TIME_set(nullptr, entry.revoked_at));
    if (serial == nullptr || when == nullptr ||
        X509_REVOKED_set_serialNumber(item.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(item.get(), when.get()) != 1) {
      return OpenSslError("crl entry");
    }
    if (entry.reason != 0) {
      hsm::Asn1StringPtr code(ASN1_ENUMERATED_new());
      if (code == nullptr || ASN1_ENUMERATED_set(code.get(), entry.reason) != 1 ||
          X509_REVOKED_add1_ext_i2d(item.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
        return OpenSslError("crl entry reasonCode");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), item.get()) != 1) return OpenSslError("crl entry");
    item.release();
  }

  hsm::Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (number == nullptr || ASN1_INTEGER_set_uint64(number.get(), params.crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_REPLACE) != 1) {
    return OpenSslError("crl number");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer.certificate, nullptr, nullptr, crl.get(), 0);
  hsm::X509ExtensionPtr aki(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (aki == nullptr || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return OpenSslError("crl authorityKeyIdentifier");
  }

  absl::StatusOr<hsm::EvpMdCtxPtr> md_ctx = NewSigningContext(signer);
  if (!md_ctx.ok()) return md_ctx.status();
  if (X509_CRL_sign_ctx(crl.get(), md_ctx->get()) <= 0) return OpenSslError("signing crl");
  return crl;
}

std::string CrlToPem(X509_CRL* crl) {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string CrlToDer(X509_CRL* crl) {
  unsigned char* der = nullptr;
  int len = i2d_X509_CRL(crl, &der);
  if (len < 0) return "";
  hsm::OpenSslBytesPtr<unsigned char> owned(der);
  return std::string(reinterpret_cast<char*>(der), len);
}

}  // namespace strongroom::pki
