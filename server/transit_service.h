// TransitService: strongroom.v1.Transit over gRPC — a thin adapter onto kms::Transit,
// which validates, runs the operation and reports errors. Thread-safe.
#pragma once

#include "kms/transit.h"
#include "strongroom/v1/transit.grpc.pb.h"

namespace strongroom::server {

class TransitService final : public v1::Transit::Service {
 public:
  explicit TransitService(kms::Transit* transit) : transit_(transit) {}

#define STRONGROOM_TRANSIT_RPC(Method, Request, Response)                                       \
  grpc::Status Method(grpc::ServerContext*, const v1::Request* request, v1::Response* response) \
      override;
  STRONGROOM_TRANSIT_RPC(CreateKey, CreateKeyRequest, Key)
  STRONGROOM_TRANSIT_RPC(GetKey, GetKeyRequest, Key)
  STRONGROOM_TRANSIT_RPC(ListKeys, ListKeysRequest, ListKeysResponse)
  STRONGROOM_TRANSIT_RPC(RotateKey, RotateKeyRequest, Key)
  STRONGROOM_TRANSIT_RPC(UpdateKeyConfig, UpdateKeyConfigRequest, Key)
  STRONGROOM_TRANSIT_RPC(DeleteKey, DeleteKeyRequest, DeleteKeyResponse)
  STRONGROOM_TRANSIT_RPC(TrimKey, TrimKeyRequest, Key)
  STRONGROOM_TRANSIT_RPC(Encrypt, EncryptRequest, EncryptResponse)
  STRONGROOM_TRANSIT_RPC(Decrypt, DecryptRequest, DecryptResponse)
  STRONGROOM_TRANSIT_RPC(Rewrap, RewrapRequest, RewrapResponse)
  STRONGROOM_TRANSIT_RPC(GenerateDataKey, GenerateDataKeyRequest, GenerateDataKeyResponse)
  STRONGROOM_TRANSIT_RPC(Sign, SignRequest, SignResponse)
  STRONGROOM_TRANSIT_RPC(Verify, VerifyRequest, VerifyResponse)
  STRONGROOM_TRANSIT_RPC(Hmac, HmacRequest, HmacResponse)
  STRONGROOM_TRANSIT_RPC(VerifyHmac, VerifyHmacRequest, VerifyResponse)
#undef STRONGROOM_TRANSIT_RPC

 private:
  kms::Transit* const transit_;
};

}  // namespace strongroom::server
