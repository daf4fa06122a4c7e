#include "server/transit_service.h"

#include "server/grpc_status.h"

namespace strongroom::server {

// Every RPC is the same adapter: call the engine, copy the reply or map the error.
#define STRONGROOM_TRANSIT_RPC(Method, Request, Response)                               \
  grpc::Status TransitService::Method(grpc::ServerContext*, const v1::Request* request, \
                                      v1::Response* response) {                         \
    absl::StatusOr<v1::Response> result = transit_->Method(*request);                   \
    if (!result.ok()) return ToGrpcStatus(result.status());                             \
    *response = *std::move(result);                                                     \
    return grpc::Status::OK;                                                            \
  }
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

}  // namespace strongroom::server
