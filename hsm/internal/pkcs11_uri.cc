#include "hsm/internal/pkcs11_uri.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace strongroom::hsm::internal {
namespace {

constexpr absl::string_view kScheme = "pkcs11:";

// Attributes RFC 7512 defines that Strongroom does not address keys by.
const absl::flat_hash_set<absl::string_view>& UnsupportedAttributes() {
  static const auto* names = new absl::flat_hash_set<absl::string_view>{
      "id",        "library-manufacturer", "library-description", "library-version",
      "slot-id",   "slot-description",     "slot-manufacturer",   "pin-source",
      "pin-value", "module-name",          "module-path"};
  return *names;
}

// Characters allowed unencoded in an attribute value (RFC 3986 pchar without ';' and '%',
// plus the extra characters RFC 7512 allows in values).
bool IsValueChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("-._~:[]@!$'()*+,=&/?|").find(c) != absl::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view name, absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '%') {
      int hi = i + 2 < value.size() ? HexValue(value[i + 1]) : -1;
      int lo = i + 2 < value.size() ? HexValue(value[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("pkcs11 URI: bad percent-encoding in attribute '", name, "'"));
      }
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') {
        return absl::InvalidArgumentError(
            absl::StrCat("pkcs11 URI: attribute '", name, "' contains a NUL byte"));
      }
      out.push_back(decoded);
      i += 2;
    } else if (IsValueChar(c)) {
      out.push_back(c);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "pkcs11 URI: attribute '", name, "' contains a character that must be percent-encoded"));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Pkcs11Uri> ParsePkcs11Uri(absl::string_view uri) {
  if (uri.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(uri.substr(0, kScheme.size()), kScheme)) {
    return absl::InvalidArgumentError("key URI must start with 'pkcs11:' (RFC 7512)");
  }
  absl::string_view rest = uri.substr(kScheme.size());
  absl::string_view path = rest, query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    path = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  if (!query.empty()) {
    // None is supported; name the first without echoing its value (it may be a PIN).
    absl::string_view first = query.substr(0, query.find_first_of("&="));
    return absl::InvalidArgumentError(
        absl::StrCat("pkcs11 URI: unsupported query attribute '", first,
                     "' (Strongroom takes the module and PIN from its HSM configuration)"));
  }

  Pkcs11Uri out;
  absl::flat_hash_set<std::string> seen;
  std::vector<absl::string_view> attributes;
  if (!path.empty()) attributes = absl::StrSplit(path, ';');
  for (absl::string_view attr : attributes) {
    size_t eq = attr.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          "pkcs11 URI: every path attribute must be name=value, separated by ';'");
    }
    absl::string_view name = attr.substr(0, eq);
    for (char c : name) {
      if (!absl::ascii_islower(static_cast<unsigned char>(c)) && c != '-') {
        return absl::InvalidArgumentError("pkcs11 URI: malformed attribute name");
      }
    }
    if (!seen.insert(std::string(name)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI: attribute '", name, "' appears more than once"));
    }
    absl::StatusOr<std::string> value = PercentDecode(name, attr.substr(eq + 1));
    if (!value.ok()) return value.status();
    if (name == "object") {
      out.object = *std::move(value);
    } else if (name == "token") {
      out.token = *std::move(value);
    } else if (name == "manufacturer") {
      out.manufacturer = *std::move(value);
    } else if (name == "model") {
      out.model = *std::move(value);
    } else if (name == "serial") {
      out.serial = *std::move(value);
    } else if (name == "type") {
      if (*value != "private") {
        return absl::InvalidArgumentError(
            "pkcs11 URI: unsupported value of attribute 'type' (only type=private)");
      }
    } else if (UnsupportedAttributes().contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pkcs11 URI: unsupported attribute '", name,
                       "' (keys are addressed by token and object label)"));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("pkcs11 URI: unknown attribute '", name, "'"));
    }
  }
  if (out.object.empty()) {
    return absl::InvalidArgumentError("pkcs11 URI: attribute 'object' (the key label) is required");
  }
  return out;
}

}  // namespace strongroom::hsm::internal
