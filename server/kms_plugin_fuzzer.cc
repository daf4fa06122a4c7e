// Fuzzes the Kubernetes KMS v2 plugin's requests: the protobuf parse of EncryptRequest (into
// the service's cleansing message allocator, as gRPC does) or DecryptRequest, then what the
// service does with the fields (size limits, key id, annotations, the envelope) over the
// real transit engine (FuzzTransit, key "aes"). The first byte picks Encrypt (even) or Decrypt (odd); the
// rest is the serialized message. Every successful Encrypt must decrypt to its plaintext
// under the key id it answered, within the API server's 1 kB limits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "kubernetes/kms/v2/kms.pb.h"
#include "server/kms_plugin_service.h"
#include "server/testing/fuzz_transit.h"
#include "server/cleansing_allocator.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "kms plugin: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using strongroom::server::KmsPluginService;
  if (size == 0) return 0;
  // The gate is only used by the gRPC methods, which the fuzzer does not call.
  static KmsPluginService service(&strongroom::server::testing::FuzzTransit(), "aes",
                                  /*gate=*/nullptr);
  const uint8_t* message = data + 1;
  const int message_size = static_cast<int>(size - 1);
  if (data[0] % 2 == 1) {
    ::v2::DecryptRequest request;
    if (!request.ParseFromArray(message, message_size)) return 0;
    (void)service.DoDecrypt(request);
    return 0;
  }
  static strongroom::server::CleansingMessageAllocator<::v2::EncryptRequest, ::v2::EncryptResponse>
      allocator;
  auto* holder = allocator.AllocateMessages();
  ::v2::EncryptRequest* request = holder->request();
  if (request->ParseFromArray(message, message_size)) {
    absl::StatusOr<::v2::EncryptResponse> encrypted = service.DoEncrypt(*request);
    if (encrypted.ok()) {
      if (encrypted->ciphertext().size() >= 1024) Fail("ciphertext of 1 kB or more");
      if (!absl::StartsWith(encrypted->key_id(), "strongroom/aes/v")) Fail("bad key id");
      ::v2::DecryptRequest decrypt;
      decrypt.set_ciphertext(encrypted->ciphertext());
      decrypt.set_key_id(encrypted->key_id());
      absl::StatusOr<::v2::DecryptResponse> decrypted = service.DoDecrypt(decrypt);
      if (!decrypted.ok() || decrypted->plaintext() != request->plaintext()) {
        Fail("an Encrypt result does not decrypt to its plaintext");
      }
    }
  }
  holder->Release();
  return 0;
}
