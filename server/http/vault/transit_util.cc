// random and hash: Vault's utility routes, which use no key.
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/struct.pb.h"
#include "hsm/secret_data.h"
#include "server/http/vault/transit.h"
#include "server/http/vault/transit_internal.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;

constexpr uint64_t kMaxRandomBytes = 128 * 1024;   // Vault's own bound
constexpr size_t kMaxHashInput = size_t{1} << 20;  // the engine's bound for sign/hmac input

// A format the caller asked for: "hex" or "base64".
absl::Status CheckFormat(const std::string& format) {
  if (format == "hex" || format == "base64") return absl::OkStatus();
  return absl::InvalidArgumentError("unsupported encoding format; must be \"hex\" or \"base64\"");
}

std::string Encode(absl::string_view bytes, const std::string& format) {
  return format == "hex" ? absl::BytesToHexString(bytes) : absl::Base64Escape(bytes);
}

bool IsSource(absl::string_view s) { return s == "platform" || s == "seal" || s == "all"; }

}  // namespace

HttpResponse TransitApi::Random(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  auto bytes = GetUint(body, "bytes", "bytes", UINT32_MAX);
  if (!bytes.ok()) return StatusError(bytes.status());
  uint64_t n = bytes->value_or(32);
  auto format_field = GetString(body, "format", "format");
  if (!format_field.ok()) return StatusError(format_field.status());
  std::string format = *format_field != nullptr ? **format_field : "base64";
  auto source_field = GetString(body, "source", "source");
  if (!source_field.ok()) return StatusError(source_field.status());
  std::string source = *source_field != nullptr ? **source_field : "platform";
  // The path may name the source, the byte count and the format, in that order (Vault's
  // random/{source}/{bytes}; the format is Strongroom's addition); they win over the body.
  for (const char* name : {"param1", "param2"}) {
    const std::string segment = PathParam(request, name);
    if (segment.empty()) continue;
    if (IsSource(segment)) {
      source = segment;
    } else if (segment == "hex" || segment == "base64") {
      format = segment;
    } else if (!absl::SimpleAtoi(segment, &n)) {
      return JsonErrors(400, {"error parsing url-set byte count: expected a number of bytes, a "
                          "source (platform, seal, all) or a format (hex, base64)"});
    }
  }
  if (n < 1) return JsonErrors(400, {"'bytes' cannot be less than 1"});
  if (n > kMaxRandomBytes) {
    return JsonErrors(400, {absl::StrCat("'bytes' should be less than ", kMaxRandomBytes)});
  }
  if (absl::Status s = CheckFormat(format); !s.ok()) return StatusError(s);
  if (!IsSource(source)) {
    return JsonErrors(400, {"unsupported entropy source; must be \"platform\", \"seal\" or \"all\""});
  }

  // platform: OpenSSL's DRBG (seeded by the OS); seal: the HSM's RNG; all: both, XORed.
  hsm::SecretData out(static_cast<size_t>(n));
  absl::Span<uint8_t> buffer = out.MutableSecret();
  if (source != "seal" && RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1) {
    return JsonErrors(500, {"random number generator failed"});
  }
  if (source != "platform") {
    hsm::SecretData device(static_cast<size_t>(n));
    if (absl::Status s = hsm_->GenerateRandom(device.MutableSecret()); !s.ok()) {
      return StatusError(s);
    }
    absl::Span<const uint8_t> d = device.RevealSecret();
    for (size_t i = 0; i < buffer.size(); ++i) {
      buffer[i] = source == "all" ? static_cast<uint8_t>(buffer[i] ^ d[i]) : d[i];
    }
  }
  return Envelope(200,
                  Json::Object().Set("random_bytes", Encode(out.RevealSecretAsString(), format)));
}

HttpResponse TransitApi::Hash(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  auto input_field = GetString(body, "input", "input");
  if (!input_field.ok()) return StatusError(input_field.status());
  if (*input_field == nullptr) return JsonErrors(400, {"input missing"});
  // Bounded before decoding (the base64 of the limit) and after.
  const std::string too_long =
      absl::StrCat("input: exceeds the limit of ", kMaxHashInput, " bytes");
  if ((*input_field)->size() > (kMaxHashInput + 2) / 3 * 4) return JsonErrors(400, {too_long});
  std::string input;
  absl::Cleanup cleanse = [&input] { hsm::CleanseString(&input); };  // it may be a secret
  if (!DecodeBase64(**input_field, &input)) {
    return JsonErrors(400, {"unable to decode input as base64"});
  }
  if (input.size() > kMaxHashInput) return JsonErrors(400, {too_long});

  auto format_field = GetString(body, "format", "format");
  if (!format_field.ok()) return StatusError(format_field.status());
  const std::string format = *format_field != nullptr ? **format_field : "hex";
  if (absl::Status s = CheckFormat(format); !s.ok()) return StatusError(s);

  std::string algorithm = PathParam(request, "algorithm");
  if (algorithm.empty()) {
    auto field = GetString(body, "algorithm", "algorithm");
    if (!field.ok()) return StatusError(field.status());
    algorithm = *field != nullptr ? **field : "sha2-256";
  }
  static const std::pair<const char*, const char*> kDigests[] = {
      {"sha2-224", "SHA224"},   {"sha2-256", "SHA256"},   {"sha2-384", "SHA384"},
      {"sha2-512", "SHA512"},   {"sha3-224", "SHA3-224"}, {"sha3-256", "SHA3-256"},
      {"sha3-384", "SHA3-384"}, {"sha3-512", "SHA3-512"}};
  const EVP_MD* md = nullptr;
  for (const auto& [vault_name, openssl_name] : kDigests) {
    if (algorithm == vault_name) md = EVP_get_digestbyname(openssl_name);
  }
  if (md == nullptr) {
    return JsonErrors(400, {"unsupported algorithm; must be one of sha2-224, sha2-256, sha2-384, "
                        "sha2-512, sha3-224, sha3-256, sha3-384, sha3-512"});
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &length, md, nullptr) != 1) {
    return JsonErrors(500, {"hash computation failed"});
  }
  return Envelope(
      200, Json::Object().Set(
               "sum", Encode(absl::string_view(reinterpret_cast<char*>(digest), length), format)));
}

}  // namespace strongroom::server::vault
