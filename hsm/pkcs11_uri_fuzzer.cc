// Fuzzes ParsePkcs11Uri, which reads the `pkcs11:` key URIs of the configuration and of
// issuer records. Besides memory safety it checks that what parses survives a round trip:
// the fields, written back with every byte percent-encoded, parse to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "hsm/internal/pkcs11_uri.h"

namespace {

using strongroom::hsm::internal::ParsePkcs11Uri;
using strongroom::hsm::internal::Pkcs11Uri;

void AppendAttribute(const char* name, const std::optional<std::string>& value,
                     std::string* out) {
  if (!value.has_value()) return;
  absl::StrAppend(out, out->size() > 7 ? ";" : "", name, "=");
  for (unsigned char c : *value) absl::StrAppend(out, absl::StrFormat("%%%02X", c));
}

bool Same(const Pkcs11Uri& a, const Pkcs11Uri& b) {
  return a.object == b.object && a.token == b.token && a.manufacturer == b.manufacturer &&
         a.model == b.model && a.serial == b.serial;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<Pkcs11Uri> uri =
      ParsePkcs11Uri(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!uri.ok()) {
    if (!absl::IsInvalidArgument(uri.status())) std::abort();
    return 0;
  }
  std::string again = "pkcs11:";
  AppendAttribute("object", uri->object, &again);
  AppendAttribute("token", uri->token, &again);
  AppendAttribute("manufacturer", uri->manufacturer, &again);
  AppendAttribute("model", uri->model, &again);
  AppendAttribute("serial", uri->serial, &again);
  absl::StatusOr<Pkcs11Uri> reparsed = ParsePkcs11Uri(again);
  if (!reparsed.ok() || !Same(*uri, *reparsed)) {
    std::fprintf(stderr, "round trip failed for %s\n", again.c_str());
    std::abort();
  }
  return 0;
}
