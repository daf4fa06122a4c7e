#include "pki/serial.h"

#include "absl/strings/ascii.h"

namespace strongroom::pki {

absl::StatusOr<std::string> CanonicalSerial(absl::string_view serial) {
  constexpr size_t kMaxDigits = 64;
  std::string digits;
  digits.reserve(serial.size());
  for (char c : serial) {
    if (c == ':' || c == '-') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || digits.size() == kMaxDigits) {
      digits.clear();
      break;
    }
    digits += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  if (digits.empty()) {
    return absl::InvalidArgumentError(
        "serial_number: must be 1 to 64 hex digits (bytes may be separated by ':' or '-')");
  }
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return std::string("0");
  digits.erase(0, first);
  if (digits.size() % 2 == 1) digits.insert(digits.begin(), '0');
  return digits;
}

}  // namespace strongroom::pki
