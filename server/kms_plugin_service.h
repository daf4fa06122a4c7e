// KmsPluginService: the Kubernetes KMS v2 plugin API over one transit key, so that
// kube-apiserver's etcd encryption keys are wrapped by a key the HSM guards.
//
// Encrypt wraps the API server's DEK with the key's latest version and answers key_id
// "strongroom/<key>/v<N>", which changes when the key rotates; Decrypt takes any available
// version (the envelope names it). Status is "ok" only after a real encrypt/decrypt round
// trip succeeds, so it fails while sealed, while the HSM is away or if the key is unusable.
// Sizes follow the API server's limits: ciphertext and key_id under 1 kB, annotations
// under 32 kB. Callers are admitted by the socket's file mode and hold the built-in
// "@kms-plugin" policy; every call is audited. Thread-safe.
#pragma once

#include <string>
#include <utility>

#include "kms/transit.h"
#include "kubernetes/kms/v2/kms.grpc.pb.h"
#include "server/access/grpc_gate.h"
#include "server/cleansing_allocator.h"

namespace strongroom::server {

class KmsPluginService final : public ::v2::KeyManagementService::CallbackService {
 public:
  // Encrypt requests and Decrypt responses (the API server's plaintext DEK) are cleansed
  // when the call is done (server/cleansing_allocator.h).
  KmsPluginService(kms::Transit* transit, std::string key_name, access::GrpcGate* gate)
      : transit_(transit), key_name_(std::move(key_name)), gate_(gate) {
    SetMessageAllocatorFor_Encrypt(&encrypt_messages_);
    SetMessageAllocatorFor_Decrypt(&decrypt_messages_);
  }

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext*, const ::v2::StatusRequest*,
                                   ::v2::StatusResponse* response) override;
  grpc::ServerUnaryReactor* Encrypt(grpc::CallbackServerContext*,
                                    const ::v2::EncryptRequest* request,
                                    ::v2::EncryptResponse* response) override;
  grpc::ServerUnaryReactor* Decrypt(grpc::CallbackServerContext*,
                                    const ::v2::DecryptRequest* request,
                                    ::v2::DecryptResponse* response) override;

  // "strongroom/<key>/v<version>".
  std::string KeyId(uint32_t version) const;

  // What Encrypt and Decrypt do once the gate has let the call in (public for the fuzzer).
  absl::StatusOr<::v2::EncryptResponse> DoEncrypt(const ::v2::EncryptRequest& request);
  absl::StatusOr<::v2::DecryptResponse> DoDecrypt(const ::v2::DecryptRequest& request);

 private:
  // Through the gate as the local socket principal, on "transit/keys/<key_name>".
  template <typename Response, typename Handler>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const char* method,
                                  Response* response, Handler handler);
  absl::StatusOr<::v2::StatusResponse> CheckStatus();

  kms::Transit* const transit_;
  const std::string key_name_;
  access::GrpcGate* const gate_;
  CleansingMessageAllocator<::v2::EncryptRequest, ::v2::EncryptResponse> encrypt_messages_;
  CleansingMessageAllocator<::v2::DecryptRequest, ::v2::DecryptResponse> decrypt_messages_;
};

}  // namespace strongroom::server
