// ParsePkcs11Uri: the subset of RFC 7512 `pkcs11:` URIs that names a private key by token
// and object label, e.g. "pkcs11:token=prod;object=issuing%20ca;type=private".
//
// Values are percent-decoded. Supported path attributes: object (required), token,
// manufacturer, model, serial, and type (only "private"). Any other attribute, including
// every query attribute (pin-value, pin-source, module-path, ...), is INVALID_ARGUMENT naming
// the attribute, never its value. Malformed input (no "pkcs11:" scheme, an attribute without
// '=', a repeated attribute, bad percent-encoding, characters that must be encoded) is
// INVALID_ARGUMENT too.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strongroom::hsm::internal {

struct Pkcs11Uri {
  std::string object;
  std::optional<std::string> token;
  std::optional<std::string> manufacturer;
  std::optional<std::string> model;
  std::optional<std::string> serial;
};

absl::StatusOr<Pkcs11Uri> ParsePkcs11Uri(absl::string_view uri);

}  // namespace strongroom::hsm::internal
