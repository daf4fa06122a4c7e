#include "kms/ciphertext.h"

#include <openssl/evp.h>

#include <array>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace strongroom::kms {
namespace {

constexpr absl::string_view kPrefix = "vault:v";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeBase64Values() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}
constexpr std::array<uint8_t, 256> kBase64Values = MakeBase64Values();

}  // namespace

void AppendEnvelope(uint32_t version, absl::string_view payload, std::string* out) {
  // One allocation: prefix, up to 10 version digits, ':' and the base64.
  out->reserve(out->size() + kPrefix.size() + 11 + 4 * ((payload.size() + 2) / 3));
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
  // Strict standard base64: only the alphabet, '=' only as the last one or two characters,
  // and no bits set in the padding (so every payload has exactly one encoding).
  size_t pad = b64.back() == '=' ? (b64[b64.size() - 2] == '=' ? 2 : 1) : 0;
  Envelope env{version, std::string(b64.size() / 4 * 3 - pad, '\0')};
  char* out = env.payload.data();
  const unsigned char* in = reinterpret_cast<const unsigned char*>(b64.data());
  const size_t quads = b64.size() / 4;
  for (size_t q = 0; q < quads; ++q, in += 4) {
    const bool last = q + 1 == quads;
    uint8_t v[4];
    for (int i = 0; i < 4; ++i) {
      if (last && i >= 4 - static_cast<int>(pad)) {
        v[i] = 0;
        continue;
      }
      v[i] = kBase64Values[in[i]];
      if (v[i] == kInvalid) return malformed("invalid base64");
    }
    uint32_t bits = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    if (last && pad > 0 && (bits & (pad == 1 ? 0xff : 0xffff)) != 0) {
      return malformed("invalid base64");
    }
    *out++ = static_cast<char>(bits >> 16);
    if (!last || pad < 2) *out++ = static_cast<char>(bits >> 8);
    if (!last || pad < 1) *out++ = static_cast<char>(bits);
  }
  return env;
}

}  // namespace strongroom::kms
