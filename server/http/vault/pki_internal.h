// Pieces shared by the PKI engine's handler files (pki.cc, pki_issue.cc, pki_admin.cc);
// internal to server/http/vault/pki*.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"
#include "server/http/vault/listing.h"

namespace strongroom::server::vault::pki_internal {

// Parses the request's body into `body` (Vault's shape: a JSON object, empty is {}), and
// refuses any top-level field not in `known` with a 400 naming it and `what` ("role").
absl::Status ParseFields(const HttpRequest& request, std::initializer_list<absl::string_view> known,
                         absl::string_view what, Body* body);

// A list of strings from a JSON array of strings or a comma-separated string (Vault takes
// both: alt_names="a.example,b.example"); entries trimmed, empty ones dropped.
absl::StatusOr<std::vector<std::string>> GetList(const google::protobuf::Struct& s,
                                                 const std::string& name);

// Vault's spelling of a serial: lowercase hex bytes separated by ':'.
std::string VaultSerial(absl::string_view canonical_hex);

// The PEM blocks of a bundle, each ending in a newline.
std::vector<std::string> SplitPem(absl::string_view pem);

// What Vault's replies say about a certificate: notAfter (Unix seconds) and the key type of
// its public key ("rsa", "ec"; "" for others). INVALID_ARGUMENT if `pem` does not parse.
struct CertificateFacts {
  int64_t not_after = 0;
  std::string key_type;
};
absl::StatusOr<CertificateFacts> FactsOf(absl::string_view pem);

// Vault's data for a signed certificate: certificate, issuing_ca (the first of
// `chain_pem`), ca_chain, serial_number (Vault's spelling), expiration. `key_type`, if not
// null, gets the certificate's key type.
absl::StatusOr<Json> CertificateData(const std::string& certificate_pem,
                                     const std::string& chain_pem, const std::string& serial,
                                     std::string* key_type);

// The value of `field`, a string naming the object the request acts on, as the access gate
// resolved it into path_params (from the body, or its fallback); INVALID_ARGUMENT if the
// body has the field with another type (the gate then used the fallback).
absl::StatusOr<std::string> GateResolved(const HttpRequest& request,
                                         const google::protobuf::Struct& body,
                                         const std::string& field);

// Whether the request is a listing: the LIST verb, or GET with ?list=true.
bool IsList(const HttpRequest& request);
// Vault's answer to a GET on a list-only path without ?list=true.
HttpResponse ListOnly();

// Listings: VisibleNames, ListReply and EnginePages (listing.h).

// The principal the gate admitted (never null behind the gate).
absl::StatusOr<const access::Principal*> Caller(const HttpRequest& request);

}  // namespace strongroom::server::vault::pki_internal
