#include "server/kms_plugin_service.h"

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hsm/cleanse_message.h"
#include "server/access/grpc_gate.h"

namespace strongroom::server {
namespace {

// kube-apiserver refuses ciphertexts and key ids of 1 kB or more, and annotations of 32 kB.
constexpr size_t kMaxCiphertextBytes = 1023;
constexpr size_t kMaxKeyIdBytes = 1023;
constexpr size_t kMaxAnnotationBytes = 32 * 1024 - 1;
// A plaintext this long still gives a ciphertext under 1 kB (DEKs are 32 bytes).
constexpr size_t kMaxPlaintextBytes = 700;

absl::Status ItemStatus(const v1::ItemError& error) {
  return absl::Status(static_cast<absl::StatusCode>(error.code()), error.message());
}

}  // namespace

std::string KmsPluginService::KeyId(uint32_t version) const {
  return absl::StrCat("strongroom/", key_name_, "/v", version);
}

template <typename Response, typename Handler>
grpc::ServerUnaryReactor* KmsPluginService::Serve(grpc::CallbackServerContext* context,
                                                  const char* method, Response* response,
                                                  Handler handler) {
  access::Credentials credentials;
  credentials.peer = context->peer();
  credentials.local_socket = true;
  const access::Route& route = access::RouteOrDie(method);
  return gate_->Serve(
      context, credentials, route, absl::StrCat("transit/keys/", key_name_), response,
      [handler = std::move(handler)](const access::Gate::Call&) mutable { return handler(); });
}

grpc::ServerUnaryReactor* KmsPluginService::Status(grpc::CallbackServerContext* context,
                                                   const ::v2::StatusRequest*,
                                                   ::v2::StatusResponse* response) {
  return Serve(context, "/v2.KeyManagementService/Status", response,
               [this] { return CheckStatus(); });
}

grpc::ServerUnaryReactor* KmsPluginService::Encrypt(grpc::CallbackServerContext* context,
                                                    const ::v2::EncryptRequest* request,
                                                    ::v2::EncryptResponse* response) {
  return Serve(context, "/v2.KeyManagementService/Encrypt", response,
               [this, request] { return DoEncrypt(*request); });
}

grpc::ServerUnaryReactor* KmsPluginService::Decrypt(grpc::CallbackServerContext* context,
                                                    const ::v2::DecryptRequest* request,
                                                    ::v2::DecryptResponse* response) {
  return Serve(context, "/v2.KeyManagementService/Decrypt", response,
               [this, request] { return DoDecrypt(*request); });
}

absl::StatusOr<::v2::StatusResponse> KmsPluginService::CheckStatus() {
  ::v2::StatusResponse response;
  response.set_version("v2");
  v1::EncryptRequest probe;
  probe.set_key_name(key_name_);
  probe.add_items()->set_plaintext("kms-v2-healthz");
  absl::StatusOr<v1::EncryptResponse> encrypted = transit_->Encrypt(probe);
  if (!encrypted.ok() || encrypted->results(0).has_error()) {
    response.set_healthz(absl::StrCat(
        "key '", key_name_, "' cannot encrypt: ",
        encrypted.ok() ? encrypted->results(0).error().message() : encrypted.status().message()));
    return response;
  }
  v1::DecryptRequest check;
  check.set_key_name(key_name_);
  check.add_items()->set_ciphertext(encrypted->results(0).ciphertext());
  absl::StatusOr<v1::DecryptResponse> decrypted = transit_->Decrypt(check);
  if (!decrypted.ok() || decrypted->results(0).has_error() ||
      decrypted->results(0).plaintext() != "kms-v2-healthz") {
    response.set_healthz(absl::StrCat("key '", key_name_, "' cannot decrypt"));
    return response;
  }
  response.set_healthz("ok");
  response.set_key_id(KeyId(encrypted->results(0).key_version()));
  return response;
}

absl::StatusOr<::v2::EncryptResponse> KmsPluginService::DoEncrypt(
    const ::v2::EncryptRequest& request) {
  if (request.plaintext().size() > kMaxPlaintextBytes) {
    return absl::InvalidArgumentError(absl::StrCat("plaintext: ", request.plaintext().size(),
                                                   " bytes is more than ", kMaxPlaintextBytes,
                                                   " (the ciphertext must stay under 1 kB)"));
  }
  // The one copy of the DEK the engine's request needs, cleansed when done.
  v1::EncryptRequest encrypt;
  absl::Cleanup cleanse = [&encrypt] { hsm::CleanseMessage(&encrypt); };
  encrypt.set_key_name(key_name_);
  encrypt.add_items()->set_plaintext(request.plaintext());
  absl::StatusOr<v1::EncryptResponse> result = transit_->Encrypt(encrypt);
  if (!result.ok()) return result.status();
  const v1::EncryptResponse::Result& item = result->results(0);
  if (item.has_error()) return ItemStatus(item.error());
  if (item.ciphertext().size() > kMaxCiphertextBytes) {  // Unreachable given the check above.
    return absl::InternalError("ciphertext would exceed 1 kB");
  }
  ::v2::EncryptResponse response;
  response.set_ciphertext(item.ciphertext());
  response.set_key_id(KeyId(item.key_version()));
  return response;
}

absl::StatusOr<::v2::DecryptResponse> KmsPluginService::DoDecrypt(
    const ::v2::DecryptRequest& request) {
  if (request.ciphertext().size() > kMaxCiphertextBytes) {
    return absl::InvalidArgumentError("ciphertext: 1 kB or more");
  }
  if (request.key_id().size() > kMaxKeyIdBytes ||
      !absl::StartsWith(request.key_id(), absl::StrCat("strongroom/", key_name_, "/v"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_id: not a key id of transit key '", key_name_, "'"));
  }
  size_t annotation_bytes = 0;
  for (const auto& [k, v] : request.annotations()) annotation_bytes += k.size() + v.size();
  if (annotation_bytes > kMaxAnnotationBytes) {
    return absl::InvalidArgumentError("annotations: 32 kB or more");
  }
  v1::DecryptRequest decrypt;
  decrypt.set_key_name(key_name_);
  decrypt.add_items()->set_ciphertext(request.ciphertext());
  absl::StatusOr<v1::DecryptResponse> result = transit_->Decrypt(decrypt);
  if (!result.ok()) return result.status();
  v1::DecryptResponse::Result* item = result->mutable_results(0);
  if (item->has_error()) return ItemStatus(item->error());
  ::v2::DecryptResponse response;
  response.mutable_plaintext()->swap(*item->mutable_plaintext());  // moved, not copied
  return response;
}

}  // namespace strongroom::server
