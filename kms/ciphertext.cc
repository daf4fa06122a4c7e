#include "kms/ciphertext.h"

#include <openssl/evp.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace strongroom::kms {
namespace {

constexpr absl::string_view kPrefix = "vault:v";

}  // namespace

void AppendEnvelope(uint32_t version, absl::string_view payload, std::string* out) {
  absl::StrAppend(out, kPrefix, version, ":");
  size_t at = out->size();
  out->resize(at + 4 * ((payload.size() + 2) / 3));
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&(*out)[at]),
                          reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  out->resize(at + n);
}

std::string FormatEnvelope(uint32_t version, absl::string_view payload) {
  std::string out;
  AppendEnvelope(version, payload, &out);
  return out;
}

absl::StatusOr<Envelope> ParseEnvelope(absl::string_view text, absl::string_view field) {
  auto malformed = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", why, " (expected vault:v<N>:<base64>)"));
  };
  if (!absl::ConsumePrefix(&text, kPrefix)) return malformed("missing the vault:v prefix");
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return malformed("missing ':' after the version");
  absl::string_view digits = text.substr(0, colon);
  uint32_t version = 0;
  if (digits.empty() || digits.size() > 10 || digits[0] == '0' ||
      digits.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(digits, &version)) {
    return malformed("the version is not a positive decimal number");
  }
  absl::string_view b64 = text.substr(colon + 1);
  if (b64.empty() || b64.size() % 4 != 0) return malformed("invalid base64");
  // EVP_DecodeBlock ignores surrounding whitespace and counts padding as zeros: check the
  // alphabet and the padding ourselves.
  size_t pad = 0;
  for (size_t i = 0; i < b64.size(); ++i) {
    char c = b64[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/';
    if (c == '=' && i >= b64.size() - 2) {
      ++pad;
    } else if (!alpha || pad > 0) {
      return malformed("invalid base64");
    }
  }
  Envelope env{version, std::string(b64.size() / 4 * 3, '\0')};
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(env.payload.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), b64.size());
  if (n < 0) return malformed("invalid base64");
  env.payload.resize(n - pad);
  return env;
}

}  // namespace strongroom::kms
