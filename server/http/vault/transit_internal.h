// Pieces the transit files share (transit.cc keys, transit_crypt.cc, transit_sign.cc,
// transit_util.cc): the request prologue, key lookups answered in Vault's words, Vault's key
// type and hash names, and small batch helpers. Internal to the transit library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "kms/transit.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"
#include "strongroom/v1/transit.pb.h"

namespace strongroom::server::vault::transit_internal {

// Key versions are uint32 in the engine.
constexpr uint64_t kMaxVersion = UINT32_MAX;
// Whether the mount is one Vault reserves ("sys", "auth"): no transit route serves it, so a
// request there is answered 404 as Vault would.
bool ReservedMount(const HttpRequest& request);

// The request prologue of a handler that takes a body: the mount check and the parse.
// nullopt when the handler may go on with *body; else the answer to send.
std::optional<HttpResponse> Begin(const HttpRequest& request, Body* body);

// The key `name`; when it cannot be had, the answer to send: 400 `missing` (Vault's words for
// the route, e.g. "encryption key not found") if it does not exist, else the engine's error.
struct KeyOrAnswer {
  std::optional<v1::Key> key;
  HttpResponse answer;
};
KeyOrAnswer FindKey(kms::Transit* transit, const std::string& name, absl::string_view missing);

// Vault's key type names: the engine's, with "96" (the nonce bits) after AES-GCM's.
std::string VaultTypeName(v1::KeyType type);
std::optional<v1::KeyType> ParseVaultType(absl::string_view name);
bool IsAeadType(v1::KeyType type);
bool IsAsymmetricType(v1::KeyType type);
bool IsRsaType(v1::KeyType type);

// The key in Vault's read shape (+ Strongroom's "residency").
Json KeyData(const v1::Key& key);

// The hash algorithm a request names, Vault-style: the path segment `url_param` if the
// route has it, else the first body field of `fields` present, else sha2-256. Strongroom's
// engine signs and HMACs with SHA-2 256/384/512; Vault's other names are refused with 400.
absl::StatusOr<v1::HashAlgorithm> RequestHash(const HttpRequest& request,
                                              const google::protobuf::Struct& body,
                                              std::initializer_list<const char*> fields);

// A string field of a batch item or body, decoded from standard base64 into *out.
// Absent is empty. Errors are the item's, in Vault's words (never quoting the value).
absl::Status DecodeField(const google::protobuf::Struct& s, const std::string& name,
                         std::string* out);

// The batch_input array of `body`, or nullptr for the single form. INVALID_ARGUMENT if it
// is not an array of objects or is empty (its length was bounded by kMaxJsonItems when the body
// was parsed).
absl::StatusOr<const google::protobuf::ListValue*> BatchInput(const google::protobuf::Struct& body);

}  // namespace strongroom::server::vault::transit_internal
