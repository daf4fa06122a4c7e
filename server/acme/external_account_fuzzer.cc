// Fuzzes ParseEabBinding with the JSON a newAccount payload's "externalAccountBinding" may
// hold: it must return the parts or malformed, never crash or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/acme/external_account.h"
#include "server/acme/jws_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strongroom::server::acme;
  google::protobuf::Value binding;
  if (ParsePayload(absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz",
                   binding.mutable_struct_value())
          .has_value()) {
    return 0;
  }
  (void)ParseEabBinding(binding);
  return 0;
}
