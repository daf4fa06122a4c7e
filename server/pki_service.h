// PkiService: strongroom.v1.Pki over gRPC — a thin adapter, through the
// access gate (authentication, policy, audit), onto pki::Ca, which validates,
// runs the operation and reports errors. Thread-safe.
#pragma once

#include "pki/ca.h"
#include "server/access/grpc_gate.h"
#include "strongroom/v1/pki.grpc.pb.h"

namespace strongroom::server {

// Every Pki RPC as X(Method, Request, Response).
#define STRONGROOM_PKI_RPCS(X)                                                                   \
  X(CreateRootIssuer, CreateRootIssuerRequest, Issuer)                                           \
  X(CreateIntermediateIssuer, CreateIntermediateIssuerRequest, CreateIntermediateIssuerResponse) \
  X(SignIntermediate, SignIntermediateRequest, SignedCertificate)                                \
  X(ImportIssuerCertificate, ImportIssuerCertificateRequest, Issuer)                             \
  X(GetIssuer, GetIssuerRequest, Issuer)                                                         \
  X(ListIssuers, ListIssuersRequest, ListIssuersResponse)                                        \
  X(PutRole, Role, Role)                                                                         \
  X(GetRole, GetRoleRequest, Role)                                                               \
  X(ListRoles, ListRolesRequest, ListRolesResponse)                                              \
  X(DeleteRole, DeleteRoleRequest, DeleteRoleResponse)                                           \
  X(IssueCertificate, IssueCertificateRequest, IssuedCertificate)                                \
  X(SignCertificate, SignCertificateRequest, SignedCertificate)                                  \
  X(RevokeCertificate, RevokeCertificateRequest, RevokeCertificateResponse)                      \
  X(GetCertificate, GetCertificateRequest, CertificateRecord)                                    \
  X(ListCertificates, ListCertificatesRequest, ListCertificatesResponse)                         \
  X(GetCrl, GetCrlRequest, Crl)

class PkiService final : public v1::Pki::CallbackService {
 public:
  PkiService(pki::Ca* ca, access::GrpcGate* gate) : ca_(ca), gate_(gate) {}

#define STRONGROOM_DECLARE_RPC(Method, Request, Response)                                    \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext*, const v1::Request* request, \
                                   v1::Response* response) override;
  STRONGROOM_PKI_RPCS(STRONGROOM_DECLARE_RPC)
#undef STRONGROOM_DECLARE_RPC

 private:
  // The engine's `method` for an admitted call; listings show only what the caller may
  // read (access/visible_page.h).
  // Engine methods that take the caller's rights (role writes and issuance,
  // pki/caller_rights.h) get them from the call's principal and policy set.
  template <typename Request, typename Method>
  auto Run(const access::Gate::Call& call, const Request& request, Method method);
  template <typename Request, typename Response>
  using Lister = absl::StatusOr<Response> (pki::Ca::*)(const Request&);
  absl::StatusOr<v1::ListIssuersResponse> Run(
      const access::Gate::Call& call, const v1::ListIssuersRequest& request,
      Lister<v1::ListIssuersRequest, v1::ListIssuersResponse> method);
  absl::StatusOr<v1::ListRolesResponse> Run(
      const access::Gate::Call& call, const v1::ListRolesRequest& request,
      Lister<v1::ListRolesRequest, v1::ListRolesResponse> method);
  absl::StatusOr<v1::ListCertificatesResponse> Run(
      const access::Gate::Call& call, const v1::ListCertificatesRequest& request,
      Lister<v1::ListCertificatesRequest, v1::ListCertificatesResponse> method);
  // One page of `method`'s listing, the names in (Response::*names)() filtered by `read` on
  // `resource_prefix` + name.
  template <typename Request, typename Response>
  absl::StatusOr<Response> ListVisible(
      const access::Gate::Call& call, const Request& request, Lister<Request, Response> method,
      absl::string_view resource_prefix,
      google::protobuf::RepeatedPtrField<std::string>* (Response::*names)());

  pki::Ca* const ca_;
  access::GrpcGate* const gate_;
};

}  // namespace strongroom::server
