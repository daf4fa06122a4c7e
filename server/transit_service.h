// TransitService: strongroom.v1.Transit over gRPC — a thin adapter, through the
// access gate (authentication, policy, audit), onto kms::Transit,
// which validates, runs the operation and reports errors. Thread-safe.
#pragma once

#include "kms/transit.h"
#include "server/access/grpc_gate.h"
#include "server/cleansing_allocator.h"
#include "strongroom/v1/transit.grpc.pb.h"

namespace strongroom::server {

// Every Transit RPC as X(Method, Request, Response).
#define STRONGROOM_TRANSIT_RPCS(X)                                    \
  X(CreateKey, CreateKeyRequest, Key)                                 \
  X(GetKey, GetKeyRequest, Key)                                       \
  X(ListKeys, ListKeysRequest, ListKeysResponse)                      \
  X(RotateKey, RotateKeyRequest, Key)                                 \
  X(UpdateKeyConfig, UpdateKeyConfigRequest, Key)                     \
  X(DeleteKey, DeleteKeyRequest, DeleteKeyResponse)                   \
  X(TrimKey, TrimKeyRequest, Key)                                     \
  X(Encrypt, EncryptRequest, EncryptResponse)                         \
  X(Decrypt, DecryptRequest, DecryptResponse)                         \
  X(Rewrap, RewrapRequest, RewrapResponse)                            \
  X(GenerateDataKey, GenerateDataKeyRequest, GenerateDataKeyResponse) \
  X(Sign, SignRequest, SignResponse)                                  \
  X(Verify, VerifyRequest, VerifyResponse)                            \
  X(Hmac, HmacRequest, HmacResponse)                                  \
  X(VerifyHmac, VerifyHmacRequest, VerifyResponse)

class TransitService final : public v1::Transit::CallbackService {
 public:
  // Every request and response is cleansed when its call is done
  // (server/cleansing_allocator.h).
  TransitService(kms::Transit* transit, access::GrpcGate* gate);

#define STRONGROOM_DECLARE_RPC(Method, Request, Response)                                    \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext*, const v1::Request* request, \
                                   v1::Response* response) override;
  STRONGROOM_TRANSIT_RPCS(STRONGROOM_DECLARE_RPC)
#undef STRONGROOM_DECLARE_RPC

 private:
  // The engine's `method` for an admitted call; listings show only what the caller may
  // read (access/visible_page.h).
  template <typename Request, typename Method>
  auto Run(const access::Gate::Call&, const Request& request, Method method) {
    return (transit_->*method)(request);
  }
  absl::StatusOr<v1::ListKeysResponse> Run(
      const access::Gate::Call& call, const v1::ListKeysRequest& request,
      absl::StatusOr<v1::ListKeysResponse> (kms::Transit::*)(const v1::ListKeysRequest&));

  kms::Transit* const transit_;
  access::GrpcGate* const gate_;
#define STRONGROOM_DECLARE_ALLOCATOR(Method, Request, Response) \
  CleansingMessageAllocator<v1::Request, v1::Response> Method##_messages_;
  STRONGROOM_TRANSIT_RPCS(STRONGROOM_DECLARE_ALLOCATOR)
#undef STRONGROOM_DECLARE_ALLOCATOR
};

}  // namespace strongroom::server
