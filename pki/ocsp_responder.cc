#include "pki/ocsp_responder.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "pki/certificate_builder.h"

namespace strongroom::pki {
namespace {

std::string ResponseDer(OCSP_RESPONSE* response) {
  return hsm::DerOf(i2d_OCSP_RESPONSE, response);
}

hsm::Asn1TimePtr TimeOf(absl::Time t) {
  return hsm::Asn1TimePtr(ASN1_TIME_set(nullptr, absl::ToTimeT(t)));
}

// Whether `id` names `issuer` (SHA-1 or SHA-256 hashes of its subject and key).
bool IdNamesIssuer(OCSP_CERTID* id, X509* issuer) {
  ASN1_OBJECT* md_oid = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (!OCSP_id_get0_info(nullptr, &md_oid, nullptr, &serial, id)) return false;
  const int nid = OBJ_obj2nid(md_oid);
  if (nid != NID_sha1 && nid != NID_sha256) return false;
  hsm::OcspCertIdPtr expected(OCSP_cert_id_new(nid == NID_sha1 ? EVP_sha1() : EVP_sha256(),
                                               X509_get_subject_name(issuer),
                                               X509_get0_pubkey_bitstr(issuer), serial));
  return expected != nullptr && OCSP_id_issuer_cmp(expected.get(), id) == 0;
}

bool IsSuccessful(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  hsm::OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  return response != nullptr &&
         OCSP_response_status(response.get()) == OCSP_RESPONSE_STATUS_SUCCESSFUL;
}

}  // namespace

std::string OcspErrorResponse(int status) {
  hsm::OcspResponsePtr response(OCSP_response_create(status, nullptr));
  return ResponseDer(response.get());
}

std::string BuildOcspResponse(absl::string_view request, const Signer& issuer,
                              const OcspStatusLookup& lookup, absl::Time now,
                              absl::Duration validity) {
  const auto* data = reinterpret_cast<const unsigned char*>(request.data());
  const unsigned char* p = data;
  hsm::OcspRequestPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request.size())));
  if (req == nullptr || p != data + request.size() || OCSP_request_onereq_count(req.get()) <= 0) {
    ERR_clear_error();
    return OcspErrorResponse(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  }
  if (issuer.key == nullptr || issuer.certificate == nullptr) {
    return OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR);
  }
  const absl::Time this_time = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  hsm::Asn1TimePtr this_update = TimeOf(this_time);
  hsm::Asn1TimePtr next_update = TimeOf(this_time + validity);
  hsm::OcspBasicRespPtr basic(OCSP_BASICRESP_new());
  if (basic == nullptr || this_update == nullptr || next_update == nullptr) {
    return OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR);
  }
  const int count = OCSP_request_onereq_count(req.get());
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), i));
    ASN1_INTEGER* serial = nullptr;
    if (id == nullptr || !OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, id) ||
        serial == nullptr) {
      return OcspErrorResponse(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    }
    int status = V_OCSP_CERTSTATUS_UNKNOWN;
    hsm::Asn1TimePtr revoked_at;
    int reason = OCSP_REVOKED_STATUS_NOSTATUS;
    if (IdNamesIssuer(id, issuer.certificate)) {
      absl::StatusOr<Ca::CertificateStatus> found = lookup(SerialToHex(serial));
      if (absl::IsInvalidArgument(found.status())) {
        found = Ca::CertificateStatus{};  // e.g. a serial longer than any we issue
      } else if (absl::IsUnavailable(found.status())) {
        return OcspErrorResponse(OCSP_RESPONSE_STATUS_TRYLATER);
      } else if (!found.ok()) {
        return OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR);
      }
      switch (found->kind) {
        case Ca::CertificateStatus::kGood:
          status = V_OCSP_CERTSTATUS_GOOD;
          break;
        case Ca::CertificateStatus::kRevoked:
          status = V_OCSP_CERTSTATUS_REVOKED;
          revoked_at = TimeOf(found->revocation_time);
          if (found->reason != 0) reason = found->reason;
          break;
        case Ca::CertificateStatus::kUnknown:
          break;
      }
    }
    ERR_clear_error();
    if (OCSP_basic_add1_status(basic.get(), id, status, reason,
                               revoked_at.get(), this_update.get(), next_update.get()) == nullptr) {
      return OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR);
    }
  }
  if (OCSP_copy_nonce(basic.get(), req.get()) <= 0) {
    return OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR);
  }
  absl::StatusOr<hsm::EvpMdCtxPtr> ctx = NewSigningContext(issuer);
  if (!ctx.ok() || OCSP_basic_sign_ctx(basic.get(), issuer.certificate, ctx->get(), nullptr,
                                       OCSP_NOCERTS | OCSP_RESPID_KEY) != 1) {
    ERR_clear_error();
    return OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR);
  }
  hsm::OcspResponsePtr response(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  return ResponseDer(response.get());
}

namespace {

// The key of the pre-signed response to `request` for issuer `name` (unambiguous: the
// name's length first).
std::array<uint8_t, 32> CacheKey(absl::string_view name, absl::string_view request) {
  const std::string keyed = absl::StrCat(name.size(), ":", name, request);
  std::array<uint8_t, 32> key;
  unsigned int length = 0;
  if (EVP_Digest(keyed.data(), keyed.size(), key.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != key.size()) {
    std::abort();  // SHA-256 is always available: a broken invariant
  }
  return key;
}

// The CertID's serial of `request`, if the request is minimal (one CertID and nothing else,
// so its DER names exactly one CertID: RFC 5019) and the CertID names `issuer`; nullopt
// otherwise.
std::optional<std::string> MinimalRequestSerial(absl::string_view request, X509* issuer) {
  const auto* data = reinterpret_cast<const unsigned char*>(request.data());
  const unsigned char* p = data;
  hsm::OcspRequestPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request.size())));
  ASN1_INTEGER* serial = nullptr;
  OCSP_CERTID* id = nullptr;
  std::optional<std::string> out;
  if (req != nullptr && p == data + request.size() && OCSP_request_onereq_count(req.get()) == 1 &&
      (id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), 0))) != nullptr &&
      OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, id) && serial != nullptr &&
      IdNamesIssuer(id, issuer)) {
    hsm::OcspRequestPtr minimal(OCSP_REQUEST_new());
    OCSP_CERTID* copy = OCSP_CERTID_dup(id);
    if (minimal != nullptr && copy != nullptr &&
        OCSP_request_add0_id(minimal.get(), copy) != nullptr) {
      if (hsm::DerOf(i2d_OCSP_REQUEST, minimal.get()) == request) {
        out = SerialToHex(serial);
      }
    } else {
      OCSP_CERTID_free(copy);
    }
  }
  ERR_clear_error();
  return out;
}

}  // namespace

OcspAnswer OcspResponder::Respond(absl::string_view issuer_name, absl::string_view request) const {
  const absl::Time now = clock_();
  // Read before any status: an answer is reused only while nothing was revoked since.
  const std::optional<uint64_t> epoch = ca_->current_trust_epoch();
  const std::string name(issuer_name);
  if (epoch.has_value()) {
    // A minimal request's bytes name one CertID: the same bytes, the same answer.
    const Key key = CacheKey(name, request);
    absl::MutexLock lock(&mu_);
    auto it = presigned_.find(key);
    if (it != presigned_.end() && now < it->second.refresh_at && it->second.epoch == epoch) {
      return {std::string(it->second.response), /*presigned=*/true};
    }
  }
  absl::StatusOr<Ca::IssuerKey> issuer = ca_->LoadIssuerKey(issuer_name);
  if (!issuer.ok()) {
    if (absl::IsUnavailable(issuer.status())) {
      return {OcspErrorResponse(OCSP_RESPONSE_STATUS_TRYLATER)};
    }
    if (absl::IsNotFound(issuer.status()) || absl::IsFailedPrecondition(issuer.status())) {
      // A malformed request is still reported as such, whoever it was sent to.
      const auto* data = reinterpret_cast<const unsigned char*>(request.data());
      hsm::OcspRequestPtr req(d2i_OCSP_REQUEST(nullptr, &data, static_cast<long>(request.size())));
      ERR_clear_error();
      return {OcspErrorResponse(req == nullptr ? OCSP_RESPONSE_STATUS_MALFORMEDREQUEST
                                               : OCSP_RESPONSE_STATUS_UNAUTHORIZED)};
    }
    return {OcspErrorResponse(OCSP_RESPONSE_STATUS_INTERNALERROR)};
  }
  const Signer signer = issuer->signer();
  const std::optional<std::string> serial_hex = MinimalRequestSerial(request, signer.certificate);
  if (!serial_hex.has_value()) {
    return {BuildOcspResponse(
        request, signer,
        [this, &name](const std::string& serial) {
          return ca_->LookupCertificateStatus(name, serial);
        },
        now, validity_)};
  }
  absl::StatusOr<Ca::CertificateStatus> status = ca_->LookupCertificateStatus(name, *serial_hex);
  const Key cache_key = CacheKey(name, request);
  const bool good = status.ok() && status->kind == Ca::CertificateStatus::kGood;
  {
    absl::MutexLock lock(&mu_);
    auto it = presigned_.find(cache_key);
    if (it != presigned_.end()) {
      if (good && now < it->second.refresh_at) {
        it->second.epoch = epoch;  // good as of this epoch
        return {std::string(it->second.response), /*presigned=*/true};
      }
      presigned_.erase(it);
    }
  }
  std::string response = BuildOcspResponse(
      request, signer, [&status](const std::string&) { return status; }, now, validity_);
  if (good && IsSuccessful(response)) {
    absl::MutexLock lock(&mu_);
    Sweep(now, capacity_ - 1);
    const absl::Time refresh_at = now + validity_ / 2;
    presigned_.insert_or_assign(
        cache_key, Presigned{std::pmr::string(response, &pool_), refresh_at, epoch});
    order_.emplace_back(refresh_at, cache_key);
  }
  return {std::move(response)};
}

void OcspResponder::Sweep(absl::Time now, size_t keep) const {
  // order_ is by signing time, so by refresh time; an entry re-signed or dropped since has a
  // stale item here, recognised by its time.
  while (!order_.empty() && (order_.front().first <= now || presigned_.size() > keep)) {
    auto it = presigned_.find(order_.front().second);
    if (it != presigned_.end() && it->second.refresh_at == order_.front().first) {
      presigned_.erase(it);
    }
    order_.pop_front();
  }
}

size_t OcspResponder::presigned_count() const {
  absl::MutexLock lock(&mu_);
  Sweep(clock_(), capacity_);
  return presigned_.size();
}

OcspAnswer OcspResponder::RespondToGet(absl::string_view issuer_name,
                                       absl::string_view encoded) const {
  std::string der;
  if (!absl::Base64Unescape(encoded, &der) && !absl::WebSafeBase64Unescape(encoded, &der)) {
    return {OcspErrorResponse(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST)};
  }
  return Respond(issuer_name, der);
}

}  // namespace strongroom::pki
