// AcmeService: orders, authorizations, challenges, finalization, certificates and
// revocation (RFC 8555 sections 7.1.3-7.6).
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hsm/openssl_ptr.h"
#include "pki/certificate_builder.h"
#include "pki/role_policy.h"
#include "server/acme/acme_service.h"

namespace strongroom::server::acme {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kMaxIdentifierLength = 253;
constexpr size_t kMaxCsrBytes = 16 << 10;
constexpr size_t kMaxCertificateBytes = 16 << 10;

// The rights of an ACME order over pki::Ca: sign through the directory's role, for exactly
// the names the order validated.
class OrderRights : public pki::CallerRights {
 public:
  explicit OrderRights(std::set<std::string> names) : names_(std::move(names)) {}
  absl::Status CheckIssuer(IssuerUse use, absl::string_view) const override {
    if (use == IssuerUse::kSign) return absl::OkStatus();
    return absl::PermissionDeniedError("an ACME order may only sign a CSR");
  }
  absl::Status CheckNames(const pki::NameRequest& names) const override {
    for (const auto* list : {&names.dns_sans, &names.ip_sans, &names.uri_sans}) {
      for (const std::string& name : *list) {
        if (names_.count(absl::AsciiStrToLower(name)) == 0) {
          return absl::PermissionDeniedError(
              absl::StrCat("the order did not validate ", name));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  std::set<std::string> names_;
};

std::string TimeText(int64_t unix_seconds) {
  return vault::Rfc3339(absl::FromUnixSeconds(unix_seconds));
}

vault::Json IdentifierJson(const IdentifierRecord& id) {
  return vault::Json::Object().Set("type", id.type()).Set("value", id.value());
}

std::set<std::string> OrderNames(const OrderRecord& order) {
  std::set<std::string> names;
  for (const IdentifierRecord& id : order.identifiers()) names.insert(id.value());
  return names;
}

// A problem from a failed pki::Ca call about a client's request.
Problem CaProblem(const absl::Status& status, const char* bad_input_type) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return {bad_input_type, std::string(status.message()), 400};
    case absl::StatusCode::kPermissionDenied:
      return {"rejectedIdentifier", std::string(status.message()), 400};
    case absl::StatusCode::kNotFound:
      return {"malformed", std::string(status.message()), 404};
    default:
      return ServerProblem(status);
  }
}

// Reads the payload's "identifiers" into `out` (lowercased, deduplicated, checked against
// `role`).
std::optional<Problem> ReadIdentifiers(const Struct& payload, const v1::Role& role,
                                       uint32_t max_identifiers,
                                       std::vector<IdentifierRecord>* out) {
  const Value* ids = vault::Field(payload, "identifiers");
  if (ids == nullptr || !ids->has_list_value() || ids->list_value().values_size() == 0 ||
      ids->list_value().values_size() > static_cast<int>(max_identifiers)) {
    return Malformed(absl::StrCat("identifiers: expected a list of 1 to ", max_identifiers,
                                  " identifiers"));
  }
  std::set<std::string> seen;
  for (const Value& v : ids->list_value().values()) {
    const Value* type = v.has_struct_value() ? vault::Field(v.struct_value(), "type") : nullptr;
    const Value* value = v.has_struct_value() ? vault::Field(v.struct_value(), "value") : nullptr;
    if (type == nullptr || value == nullptr || !type->has_string_value() ||
        !value->has_string_value() || value->string_value().empty() ||
        value->string_value().size() > kMaxIdentifierLength) {
      return Malformed("identifiers: each needs a \"type\" and a \"value\" of at most 253 bytes");
    }
    pki::NameRequest names;
    std::string name = absl::AsciiStrToLower(value->string_value());
    if (type->string_value() == "dns") {
      names.dns_sans.push_back(name);
    } else if (type->string_value() == "ip") {
      names.ip_sans.push_back(name);
    } else {
      return Problem{"unsupportedIdentifier", "identifiers: type must be \"dns\" or \"ip\"", 400};
    }
    if (absl::Status s = pki::CheckNames(role, names); !s.ok()) {
      return Problem{"rejectedIdentifier", std::string(s.message()), 400};
    }
    if (!seen.insert(name).second) continue;
    IdentifierRecord record;
    record.set_type(type->string_value());
    record.set_value(std::move(name));
    out->push_back(std::move(record));
  }
  return std::nullopt;
}

// The CSR of a finalize request, checked to name exactly `order`'s identifiers; its PEM in
// *pem and its common name in *common_name.
std::optional<Problem> ReadCsr(const Struct& payload, const OrderRecord& order, std::string* pem,
                               std::string* common_name) {
  absl::StatusOr<const std::string*> csr = vault::GetString(payload, "csr", "csr");
  std::string der;
  if (!csr.ok() || *csr == nullptr || (*csr)->size() > kMaxCsrBytes * 2 ||
      !jose::Base64UrlDecode(**csr, &der) || der.empty() || der.size() > kMaxCsrBytes) {
    return Malformed(absl::StrCat("csr: expected base64url DER of at most ", kMaxCsrBytes,
                                  " bytes"));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  hsm::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (req == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size() ||
      bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return Problem{"badCSR", "csr: not a DER PKCS#10 request", 400};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  pem->assign(data, static_cast<size_t>(len));
  absl::StatusOr<hsm::X509ReqPtr> parsed = pki::ParseCsr(*pem);
  if (!parsed.ok()) return Problem{"badCSR", std::string(parsed.status().message()), 400};
  absl::StatusOr<pki::NameRequest> names = pki::NamesFromCsr(parsed->get());
  if (!names.ok()) return Problem{"badCSR", std::string(names.status().message()), 400};
  std::set<std::string> in_csr;
  for (const auto* list : {&names->dns_sans, &names->ip_sans, &names->uri_sans}) {
    for (const std::string& name : *list) in_csr.insert(absl::AsciiStrToLower(name));
  }
  const std::set<std::string> ordered = OrderNames(order);
  if (!names->common_name.empty() &&
      ordered.count(absl::AsciiStrToLower(names->common_name)) == 0) {
    return Problem{"badCSR", "csr: the common name is not one of the order's identifiers", 400};
  }
  if (in_csr != ordered) {
    return Problem{"badCSR",
                   absl::StrCat("csr: the subjectAltNames must be exactly the order's identifiers (",
                                absl::StrJoin(ordered, ", "), ")"),
                   400};
  }
  *common_name = names->common_name;
  return std::nullopt;
}

}  // namespace

std::optional<Stored<OrderRecord>> AcmeService::LoadOrder(const std::string& id,
                                                          const AccountRecord& owner,
                                                          Problem* problem) {
  absl::StatusOr<std::optional<Stored<OrderRecord>>> order = store_->GetOrder(id);
  if (!order.ok()) {
    *problem = ServerProblem(order.status());
    return std::nullopt;
  }
  if (!order->has_value()) {
    *problem = {"malformed", "no such order", 404};
    return std::nullopt;
  }
  Stored<OrderRecord>& stored = **order;
  if (stored.record.account_id() != owner.id()) {
    *problem = Unauthorized("the order belongs to another account");
    return std::nullopt;
  }
  OrderRecord& record = stored.record;
  const std::string before = record.status();
  const bool open = record.status() == "pending" || record.status() == "ready";
  if (open && record.expires() < absl::ToUnixSeconds(absl::Now())) {
    record.set_status("invalid");
    record.set_error_type("malformed");
    record.set_error_detail("the order expired");
  } else if (record.status() == "pending") {
    bool all_valid = true;
    for (const std::string& authz_id : record.authorization_ids()) {
      absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> authz =
          store_->GetAuthorization(authz_id);
      if (!authz.ok()) {
        *problem = ServerProblem(authz.status());
        return std::nullopt;
      }
      const std::string status = authz->has_value() ? (*authz)->record.status() : "expired";
      if (status != "valid") all_valid = false;
      if (status == "invalid" || status == "deactivated" || status == "expired") {
        record.set_status("invalid");
        record.set_error_type("unauthorized");
        record.set_error_detail(absl::StrCat("an authorization is ", status));
        break;
      }
    }
    if (all_valid && record.status() == "pending") record.set_status("ready");
  }
  if (record.status() != before) {
    absl::Status s = store_->UpdateOrder(record, stored.revision);
    if (!s.ok()) {
      *problem = ServerProblem(s);
      return std::nullopt;
    }
    ++stored.revision;  // not used again for a compare-and-set without a re-read
    absl::StatusOr<std::optional<Stored<OrderRecord>>> again = store_->GetOrder(id);
    if (!again.ok() || !again->has_value()) {
      *problem = ServerProblem(again.ok() ? absl::AbortedError("") : again.status());
      return std::nullopt;
    }
    return **again;
  }
  return stored;
}

HttpResponse AcmeService::NewOrder(const Context& ctx, JwsRequest& jws) {
  if (jws.post_as_get) return ProblemResponse(Malformed("newOrder needs a JSON payload"));
  if (vault::Field(jws.payload, "notBefore") != nullptr ||
      vault::Field(jws.payload, "notAfter") != nullptr) {
    return ProblemResponse(Malformed("notBefore and notAfter are not supported; the role sets the validity"));
  }
  v1::GetRoleRequest get;
  get.set_name(ctx.role);
  absl::StatusOr<v1::Role> role = ca_->GetRole(get);
  if (!role.ok()) return ProblemResponse(CaProblem(role.status(), "malformed"));
  std::vector<IdentifierRecord> identifiers;
  if (std::optional<Problem> p =
          ReadIdentifiers(jws.payload, *role, options_.max_identifiers, &identifiers)) {
    return ProblemResponse(*p);
  }
  const AccountRecord& account = jws.account->record;
  absl::StatusOr<std::vector<std::string>> open =
      store_->ListOrders(account.id(), options_.max_orders_per_account);
  if (!open.ok()) return ProblemResponse(ServerProblem(open.status()));
  if (open->size() >= options_.max_orders_per_account) {
    return ProblemResponse(RateLimited(absl::StrCat(
        "the account has ", options_.max_orders_per_account, " unexpired orders")));
  }
  const int64_t expires = absl::ToUnixSeconds(absl::Now() + options_.order_lifetime);
  OrderRecord order;
  order.set_id(AcmeStore::NewId());
  order.set_account_id(account.id());
  order.set_role(ctx.role);
  order.set_status("pending");
  order.set_expires(expires);
  std::vector<AuthorizationRecord> authorizations;
  for (const IdentifierRecord& id : identifiers) {
    *order.add_identifiers() = id;
    AuthorizationRecord authz;
    authz.set_id(AcmeStore::NewId());
    authz.set_account_id(account.id());
    *authz.mutable_identifier() = id;
    authz.set_status("pending");
    authz.set_expires(expires);
    authz.set_order_id(order.id());
    for (const char* type : {"http-01", "tls-alpn-01", "dns-01"}) {
      if (id.type() == "ip" && absl::string_view(type) == "dns-01") continue;  // RFC 8738 7
      ChallengeRecord* challenge = authz.add_challenges();
      challenge->set_type(type);
      challenge->set_token(AcmeStore::NewId());
      challenge->set_status("pending");
    }
    order.add_authorization_ids(authz.id());
    authorizations.push_back(std::move(authz));
  }
  if (absl::Status s = store_->CreateOrder(order, authorizations); !s.ok()) {
    return ProblemResponse(ServerProblem(s));
  }
  HttpResponse response = vault::JsonResponse(201, OrderJson(order, ctx));
  response.headers.emplace_back("Location", absl::StrCat(ctx.base, "/order/", order.id()));
  response.audit_detail = absl::StrCat("order=", order.id(), " names=", absl::StrJoin(OrderNames(order), ","));
  return response;
}

HttpResponse AcmeService::Order(const HttpRequest& request, const Context& ctx, JwsRequest& jws) {
  if (!jws.post_as_get) return ProblemResponse(Malformed("fetch an order with POST-as-GET"));
  Problem problem;
  std::optional<Stored<OrderRecord>> order =
      LoadOrder(vault::PathParam(request, "id"), jws.account->record, &problem);
  if (!order) return ProblemResponse(problem);
  HttpResponse response = vault::JsonResponse(200, OrderJson(order->record, ctx));
  if (order->record.status() == "processing") response.headers.emplace_back("Retry-After", "1");
  return response;
}

HttpResponse AcmeService::Finalize(const HttpRequest& request, const Context& ctx,
                                   JwsRequest& jws) {
  if (jws.post_as_get) return ProblemResponse(Malformed("finalize needs a JSON payload with a csr"));
  Problem problem;
  std::optional<Stored<OrderRecord>> order =
      LoadOrder(vault::PathParam(request, "id"), jws.account->record, &problem);
  if (!order) return ProblemResponse(problem);
  if (order->record.status() != "ready") {
    return ProblemResponse({"orderNotReady",
                            absl::StrCat("the order is ", order->record.status(), ", not ready"),
                            403});
  }
  std::string csr_pem;
  std::string common_name;
  if (std::optional<Problem> p = ReadCsr(jws.payload, order->record, &csr_pem, &common_name)) {
    return ProblemResponse(*p);
  }
  // Claim the order, so that one finalize of a race signs.
  OrderRecord claimed = order->record;
  claimed.set_status("processing");
  if (absl::Status s = store_->UpdateOrder(claimed, order->revision); !s.ok()) {
    if (absl::IsAborted(s)) return ProblemResponse({"orderNotReady", "the order is being finalized", 403});
    return ProblemResponse(ServerProblem(s));
  }
  v1::SignCertificateRequest sign;
  sign.set_role(order->record.role());
  sign.set_csr_pem(csr_pem);
  sign.set_common_name(common_name);
  for (const IdentifierRecord& id : order->record.identifiers()) {
    (id.type() == "ip" ? sign.add_ip_sans() : sign.add_dns_sans())->assign(id.value());
  }
  absl::StatusOr<v1::SignedCertificate> cert =
      ca_->SignCertificate(sign, OrderRights(OrderNames(order->record)));
  absl::StatusOr<std::optional<Stored<OrderRecord>>> current = store_->GetOrder(claimed.id());
  if (!current.ok() || !current->has_value()) {
    return ProblemResponse(ServerProblem(current.ok() ? absl::AbortedError("") : current.status()));
  }
  OrderRecord done = claimed;
  absl::Status stored;
  if (!cert.ok()) {
    const Problem p = CaProblem(cert.status(), "badCSR");
    done.set_status("invalid");
    done.set_error_type(p.type);
    done.set_error_detail(p.detail);
    stored = store_->UpdateOrder(done, (*current)->revision);
    if (!stored.ok()) return ProblemResponse(ServerProblem(stored));
    return ProblemResponse(p);
  }
  done.set_status("valid");
  done.set_serial(cert->serial_number());
  CertificateRecord record;
  record.set_serial(cert->serial_number());
  record.set_account_id(done.account_id());
  record.set_order_id(done.id());
  std::string chain = cert->certificate_pem();
  if (!chain.empty() && chain.back() != '\n') chain += '\n';
  chain += cert->ca_chain_pem();
  record.set_certificate_pem(std::move(chain));
  stored = store_->FinishOrder(done, (*current)->revision, record);
  if (!stored.ok()) return ProblemResponse(ServerProblem(stored));
  HttpResponse response = vault::JsonResponse(200, OrderJson(done, ctx));
  response.headers.emplace_back("Location", absl::StrCat(ctx.base, "/order/", done.id()));
  response.audit_detail = absl::StrCat("names=", absl::StrJoin(OrderNames(done), ","),
                                       " serial=", done.serial());
  return response;
}

HttpResponse AcmeService::Authorization(const HttpRequest& request, const Context& ctx,
                                        JwsRequest& jws) {
  absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> authz =
      store_->GetAuthorization(vault::PathParam(request, "id"));
  if (!authz.ok()) return ProblemResponse(ServerProblem(authz.status()));
  if (!authz->has_value()) return ProblemResponse({"malformed", "no such authorization", 404});
  AuthorizationRecord& record = (*authz)->record;
  if (record.account_id() != jws.account->record.id()) {
    return ProblemResponse(Unauthorized("the authorization belongs to another account"));
  }
  if (!jws.post_as_get) {
    absl::StatusOr<const std::string*> status = vault::GetString(jws.payload, "status", "status");
    if (!status.ok() || *status == nullptr || **status != "deactivated") {
      return ProblemResponse(Malformed("status: only \"deactivated\" may be set"));
    }
    record.set_status("deactivated");
    if (absl::Status s = store_->UpdateAuthorization(record, (*authz)->revision); !s.ok()) {
      return ProblemResponse(ServerProblem(s));
    }
  }
  ResumeStale(&**authz);
  if ((record.status() == "pending" || record.status() == "valid") &&
      record.expires() < absl::ToUnixSeconds(absl::Now())) {
    record.set_status("expired");
  }
  vault::Json challenges = vault::Json::Array();
  bool processing = false;
  for (const ChallengeRecord& c : record.challenges()) {
    challenges.Push(ChallengeJson(record, c, ctx));
    processing = processing || c.status() == "processing";
  }
  HttpResponse response =
      vault::JsonResponse(200, vault::Json::Object()
                                   .Set("identifier", IdentifierJson(record.identifier()))
                                   .Set("status", record.status())
                                   .Set("expires", TimeText(record.expires()))
                                   .Set("challenges", std::move(challenges)));
  if (processing) response.headers.emplace_back("Retry-After", "1");
  return response;
}

void AcmeService::ResumeStale(Stored<AuthorizationRecord>* authz) {
  const absl::Time now = absl::Now();
  for (ChallengeRecord& c : *authz->record.mutable_challenges()) {
    if (!validations_->Stale(c, now)) continue;
    // Claim it by compare-and-set, so that of the nodes polled at once one queues it.
    c.set_processing_since(absl::ToUnixSeconds(now));
    if (!store_->UpdateAuthorization(authz->record, authz->revision).ok()) return;
    ++authz->revision;  // not used again for a compare-and-set without a re-read
    validations_->Submit(authz->record.id(), c.type());
    return;
  }
}

HttpResponse AcmeService::Challenge(const HttpRequest& request, const Context& ctx,
                                    JwsRequest& jws) {
  const std::string authz_id = vault::PathParam(request, "id");
  absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> authz =
      store_->GetAuthorization(authz_id);
  if (!authz.ok()) return ProblemResponse(ServerProblem(authz.status()));
  if (!authz->has_value()) return ProblemResponse({"malformed", "no such challenge", 404});
  AuthorizationRecord& record = (*authz)->record;
  if (record.account_id() != jws.account->record.id()) {
    return ProblemResponse(Unauthorized("the challenge belongs to another account"));
  }
  const std::string type = vault::PathParam(request, "type");
  auto it = std::find_if(record.mutable_challenges()->begin(), record.mutable_challenges()->end(),
                         [&](const ChallengeRecord& c) { return c.type() == type; });
  if (it == record.mutable_challenges()->end()) {
    return ProblemResponse({"malformed", "no such challenge", 404});
  }
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  // A POST with a payload ({}) asks for validation; POST-as-GET only reads. The challenge
  // goes to processing in storage (one request of a race wins the compare-and-set), then
  // to the validation queue; the client polls for the outcome.
  if (!jws.post_as_get && record.status() == "pending" && it->status() == "pending" &&
      record.expires() >= now) {
    it->set_status("processing");
    it->set_processing_since(now);
    absl::Status s = store_->UpdateAuthorization(record, (*authz)->revision);
    if (!s.ok() && !absl::IsAborted(s)) return ProblemResponse(ServerProblem(s));
    if (s.ok() && validations_->Submit(authz_id, type) == ValidationQueue::Submitted::kFull) {
      // Undo the claim so that the client can ask again; if that fails, a later poll finds
      // the challenge stale and queues it.
      absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> claimed =
          store_->GetAuthorization(authz_id);
      if (claimed.ok() && claimed->has_value()) {
        for (ChallengeRecord& c : *(*claimed)->record.mutable_challenges()) {
          if (c.type() != type || c.status() != "processing") continue;
          c.set_status("pending");
          c.clear_processing_since();
          (void)store_->UpdateAuthorization((*claimed)->record, (*claimed)->revision);
        }
      }
      return ProblemResponse(RateLimited(absl::StrCat(
          "the validation queue is full (", validations_->capacity(), "); retry later")));
    }
    if (absl::IsAborted(s)) {  // another request claimed it first: answer what it stored
      authz = store_->GetAuthorization(authz_id);
      if (!authz.ok() || !authz->has_value()) {
        return ProblemResponse(ServerProblem(authz.ok() ? absl::AbortedError("") : authz.status()));
      }
      it = std::find_if((*authz)->record.mutable_challenges()->begin(),
                        (*authz)->record.mutable_challenges()->end(),
                        [&](const ChallengeRecord& c) { return c.type() == type; });
    }
  } else {
    ResumeStale(&**authz);
  }
  const AuthorizationRecord& current = (*authz)->record;
  const ChallengeRecord& challenge = *it;
  HttpResponse response = vault::JsonResponse(200, ChallengeJson(current, challenge, ctx));
  if (challenge.status() == "processing") response.headers.emplace_back("Retry-After", "1");
  response.audit_detail =
      absl::StrCat("names=", current.identifier().value(), " challenge=", challenge.status());
  response.headers.emplace_back("Link",
                                absl::StrCat("<", ctx.base, "/authz/", authz_id, ">;rel=\"up\""));
  return response;
}

HttpResponse AcmeService::Certificate(const HttpRequest& request, const Context&,
                                      JwsRequest& jws) {
  absl::StatusOr<std::optional<CertificateRecord>> cert =
      store_->GetCertificate(vault::PathParam(request, "serial"));
  if (!cert.ok()) return ProblemResponse(ServerProblem(cert.status()));
  if (!cert->has_value()) return ProblemResponse({"malformed", "no such certificate", 404});
  if ((*cert)->account_id() != jws.account->record.id()) {
    return ProblemResponse(Unauthorized("the certificate was ordered by another account"));
  }
  HttpResponse response;
  response.content_type = "application/pem-certificate-chain";
  response.body = (*cert)->certificate_pem();
  return response;
}

HttpResponse AcmeService::RevokeCert(const Context&, JwsRequest& jws) {
  if (jws.post_as_get) return ProblemResponse(Malformed("revokeCert needs a JSON payload"));
  absl::StatusOr<const std::string*> encoded =
      vault::GetString(jws.payload, "certificate", "certificate");
  std::string der;
  if (!encoded.ok() || *encoded == nullptr || (*encoded)->size() > kMaxCertificateBytes * 2 ||
      !jose::Base64UrlDecode(**encoded, &der) || der.empty() ||
      der.size() > kMaxCertificateBytes) {
    return ProblemResponse(Malformed("certificate: expected base64url DER"));
  }
  // RFC 8555 7.6: an RFC 5280 CRLReason; pki::Ca refuses hold and removeFromCRL too.
  const Value* reason = vault::Field(jws.payload, "reason");
  const double code = reason == nullptr ? 0 : reason->number_value();
  if (reason != nullptr &&
      (!reason->has_number_value() || !(code >= 0 && code <= 10) ||
       code != static_cast<int>(code) ||
       !v1::RevocationReason_IsValid(static_cast<int>(code)) ||
       code == v1::REVOCATION_REASON_CERTIFICATE_HOLD ||
       code == v1::REVOCATION_REASON_REMOVE_FROM_CRL)) {
    return ProblemResponse({"badRevocationReason",
                            "reason: an RFC 5280 CRLReason code other than 6 (certificateHold) "
                            "and 8 (removeFromCRL)",
                            400});
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  hsm::X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x509 == nullptr) return ProblemResponse(Malformed("certificate: not a DER certificate"));
  const std::string serial = pki::SerialToHex(X509_get0_serialNumber(x509.get()));
  v1::GetCertificateRequest get;
  get.set_serial_number(serial);
  absl::StatusOr<v1::CertificateRecord> issued = ca_->GetCertificate(get);
  if (absl::IsNotFound(issued.status())) {
    return ProblemResponse(Unauthorized("the certificate was not issued here"));
  }
  if (!issued.ok()) return ProblemResponse(CaProblem(issued.status(), "malformed"));
  // The presented certificate must be the one issued, not one that shares its serial.
  hsm::BioPtr bio(BIO_new_mem_buf(issued->certificate_pem().data(),
                                  static_cast<int>(issued->certificate_pem().size())));
  hsm::X509Ptr stored(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (stored == nullptr || X509_cmp(stored.get(), x509.get()) != 0) {
    return ProblemResponse(Unauthorized("the certificate was not issued here"));
  }
  bool allowed = false;
  if (jws.account) {
    absl::StatusOr<std::optional<CertificateRecord>> ordered = store_->GetCertificate(serial);
    if (!ordered.ok()) return ProblemResponse(ServerProblem(ordered.status()));
    allowed = ordered->has_value() && (*ordered)->account_id() == jws.account->record.id();
  } else {
    absl::StatusOr<jose::PublicJwk> cert_key = jose::PublicJwk::FromEvpPkey(X509_get0_pubkey(x509.get()));
    allowed = cert_key.ok() && cert_key->SameKey(*jws.key);
  }
  if (!allowed) {
    return ProblemResponse(Unauthorized(
        "only the account that ordered the certificate, or its own key, may revoke it"));
  }
  if (issued->has_revocation_time()) {
    return ProblemResponse({"alreadyRevoked", "the certificate is already revoked", 400});
  }
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(serial);
  revoke.set_reason(static_cast<v1::RevocationReason>(static_cast<int>(code)));
  absl::StatusOr<v1::RevokeCertificateResponse> revoked = ca_->RevokeCertificate(revoke);
  if (!revoked.ok()) return ProblemResponse(CaProblem(revoked.status(), "malformed"));
  HttpResponse response;
  response.content_type = "application/json";
  response.audit_detail = absl::StrCat("revoked=", serial, " reason=", static_cast<int>(code));
  return response;
}

vault::Json AcmeService::OrderJson(const OrderRecord& order, const Context& ctx) const {
  vault::Json identifiers = vault::Json::Array();
  for (const IdentifierRecord& id : order.identifiers()) identifiers.Push(IdentifierJson(id));
  vault::Json authorizations = vault::Json::Array();
  for (const std::string& id : order.authorization_ids()) {
    authorizations.Push(absl::StrCat(ctx.base, "/authz/", id));
  }
  vault::Json json = vault::Json::Object()
                         .Set("status", order.status())
                         .Set("expires", TimeText(order.expires()))
                         .Set("identifiers", std::move(identifiers))
                         .Set("authorizations", std::move(authorizations))
                         .Set("finalize", absl::StrCat(ctx.base, "/order/", order.id(), "/finalize"));
  if (!order.serial().empty()) json.Set("certificate", absl::StrCat(ctx.base, "/cert/", order.serial()));
  if (!order.error_type().empty()) {
    json.Set("error", vault::Json::Object()
                          .Set("type", "urn:ietf:params:acme:error:" + order.error_type())
                          .Set("detail", order.error_detail()));
  }
  return json;
}

vault::Json AcmeService::ChallengeJson(const AuthorizationRecord& authz,
                                       const ChallengeRecord& challenge, const Context& ctx) const {
  vault::Json json =
      vault::Json::Object()
          .Set("type", challenge.type())
          .Set("url", absl::StrCat(ctx.base, "/challenge/", authz.id(), "/", challenge.type()))
          .Set("token", challenge.token())
          .Set("status", challenge.status());
  if (challenge.validated() != 0) json.Set("validated", TimeText(challenge.validated()));
  if (!challenge.error_type().empty()) {
    json.Set("error", vault::Json::Object()
                          .Set("type", "urn:ietf:params:acme:error:" + challenge.error_type())
                          .Set("detail", challenge.error_detail()));
  }
  return json;
}

}  // namespace strongroom::server::acme
