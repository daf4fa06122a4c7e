// CanonicalSerial: a certificate serial number in the one form Strongroom stores, looks up,
// checks policies against and audits.
//
// The form is SerialToHex's (certificate_builder.h): lowercase hex, no separators, no
// leading zero bytes (each byte two digits; zero is "0"). Input may be in any case and may
// separate bytes with ':' or '-' (as `openssl x509 -text` and Vault print serials), so every
// spelling of a number has the same canonical form. INVALID_ARGUMENT if there are no digits,
// more than 64, or a character other than hex digits and separators.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strongroom::pki {

absl::StatusOr<std::string> CanonicalSerial(absl::string_view serial);

}  // namespace strongroom::pki
