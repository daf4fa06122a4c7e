#include "server/access/routes.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pki/serial.h"

namespace strongroom::server::access {
namespace {

using Op = Operation;

constexpr Route kRoutes[] = {
    // strongroom.v1.Transit
    {"/strongroom.v1.Transit/CreateKey", Op::kCreate, "transit/keys/{name}"},
    {"/strongroom.v1.Transit/GetKey", Op::kRead, "transit/keys/{name}"},
    {"/strongroom.v1.Transit/ListKeys", Op::kRead, "transit/keys"},
    {"/strongroom.v1.Transit/RotateKey", Op::kRotate, "transit/keys/{name}"},
    {"/strongroom.v1.Transit/UpdateKeyConfig", Op::kConfigure, "transit/keys/{name}"},
    {"/strongroom.v1.Transit/DeleteKey", Op::kDelete, "transit/keys/{name}"},
    {"/strongroom.v1.Transit/TrimKey", Op::kConfigure, "transit/keys/{name}"},
    {"/strongroom.v1.Transit/Encrypt", Op::kEncrypt, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/Decrypt", Op::kDecrypt, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/Rewrap", Op::kRewrap, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/GenerateDataKey", Op::kDatakey, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/Sign", Op::kSign, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/Verify", Op::kVerify, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/Hmac", Op::kHmac, "transit/keys/{key_name}"},
    {"/strongroom.v1.Transit/VerifyHmac", Op::kVerify, "transit/keys/{key_name}"},
    // strongroom.v1.Pki
    {"/strongroom.v1.Pki/CreateRootIssuer", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"/strongroom.v1.Pki/CreateIntermediateIssuer", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"/strongroom.v1.Pki/SignIntermediate", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"/strongroom.v1.Pki/ImportIssuerCertificate", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"/strongroom.v1.Pki/GetIssuer", Op::kRead, "pki/issuers/{issuer_name}"},
    {"/strongroom.v1.Pki/ListIssuers", Op::kRead, "pki/issuers"},
    {"/strongroom.v1.Pki/PutRole", Op::kPkiAdmin, "pki/roles/{name}"},
    {"/strongroom.v1.Pki/GetRole", Op::kRead, "pki/roles/{name}"},
    {"/strongroom.v1.Pki/ListRoles", Op::kRead, "pki/roles"},
    {"/strongroom.v1.Pki/DeleteRole", Op::kPkiAdmin, "pki/roles/{name}"},
    {"/strongroom.v1.Pki/IssueCertificate", Op::kPkiIssue, "pki/roles/{role}"},
    {"/strongroom.v1.Pki/SignCertificate", Op::kPkiSign, "pki/roles/{role}"},
    {"/strongroom.v1.Pki/RevokeCertificate", Op::kPkiRevoke, "pki/certs/{serial_number}"},
    {"/strongroom.v1.Pki/GetCertificate", Op::kRead, "pki/certs/{serial_number}"},
    {"/strongroom.v1.Pki/ListCertificates", Op::kRead, "pki/certs"},
    {"/strongroom.v1.Pki/GetCrl", Op::kRead, "pki/issuers/{issuer_name}"},
    // strongroom.v1.System
    {"/strongroom.v1.System/GetStatus", Op::kRead, "sys/status"},
    {"/strongroom.v1.System/Seal", Op::kSysSeal, "sys/seal"},
    {"/strongroom.v1.System/Unseal", Op::kSysSeal, "sys/seal"},
    {"/strongroom.v1.System/RotateRootKey", Op::kSysAdmin, "sys/root-key"},
    // strongroom.v1.Auth
    {"/strongroom.v1.Auth/CreateToken", Op::kTokenCreate, "auth/tokens"},
    {"/strongroom.v1.Auth/WhoAmI", Op::kAuthenticated, "auth/self"},
    {"/strongroom.v1.Auth/LookupSelf", Op::kAuthenticated, "auth/self"},
    {"/strongroom.v1.Auth/RenewSelf", Op::kAuthenticated, "auth/self"},
    {"/strongroom.v1.Auth/RevokeSelf", Op::kAuthenticated, "auth/self"},
    {"/strongroom.v1.Auth/LookupToken", Op::kRead, "auth/tokens/{accessor}"},
    {"/strongroom.v1.Auth/RevokeToken", Op::kDelete, "auth/tokens/{accessor}"},
    {"/strongroom.v1.Auth/ListTokens", Op::kRead, "auth/tokens"},
    // Workload identity (server/access/jwt/login.h): the JWT in the request is the credential,
    // checked by the login; the audit identity is then the JWT's issuer and subject.
    {"/strongroom.v1.Auth/Login", Op::kPublic, "auth/jwt/roles/{role}"},
    // Kubernetes KMS v2, on the unix socket only; the socket's permissions admit the
    // caller, which holds the built-in "@kms-plugin" policy. {key} is kms_plugin.key_name.
    {"/v2.KeyManagementService/Status", Op::kRead, "transit/keys/{key}"},
    {"/v2.KeyManagementService/Encrypt", Op::kEncrypt, "transit/keys/{key}"},
    {"/v2.KeyManagementService/Decrypt", Op::kDecrypt, "transit/keys/{key}"},
    // Served by gRPC itself: health for load balancers; reflection describes the public
    // API (the .proto files), which holds nothing secret.
    {"/grpc.health.v1.Health/Check", Op::kPublic, "sys/health", kWhenWritten},
    {"/grpc.health.v1.Health/Watch", Op::kPublic, "sys/health"},
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Op::kPublic, "sys/api"},
    // Any other gRPC method: anyone may call it and be told UNIMPLEMENTED (on record).
    {kUnknownGrpcMethod, Op::kPublic, "grpc{method}"},
    // HTTP: the Vault-compatible transit API, server/http/vault/transit*.cc (writes answer
    // POST and PUT, as Vault does). Operations are those of the gRPC methods they mirror;
    // random and hash use no key and are "read" on their own resources. export, backup and
    // restore always answer 400 (keys never leave the HSM boundary).
    {"POST /v1/{mount}/encrypt/{key}", Op::kEncrypt, "transit/keys/{key}"},
    {"PUT /v1/{mount}/encrypt/{key}", Op::kEncrypt, "transit/keys/{key}"},
    {"POST /v1/{mount}/decrypt/{key}", Op::kDecrypt, "transit/keys/{key}"},
    {"PUT /v1/{mount}/decrypt/{key}", Op::kDecrypt, "transit/keys/{key}"},
    {"POST /v1/{mount}/rewrap/{key}", Op::kRewrap, "transit/keys/{key}"},
    {"PUT /v1/{mount}/rewrap/{key}", Op::kRewrap, "transit/keys/{key}"},
    {"POST /v1/{mount}/datakey/{type}/{key}", Op::kDatakey, "transit/keys/{key}"},
    {"PUT /v1/{mount}/datakey/{type}/{key}", Op::kDatakey, "transit/keys/{key}"},
    {"GET /v1/{mount}/keys/{key}", Op::kRead, "transit/keys/{key}"},
    {"POST /v1/{mount}/keys/{key}", Op::kCreate, "transit/keys/{key}"},
    {"PUT /v1/{mount}/keys/{key}", Op::kCreate, "transit/keys/{key}"},
    {"DELETE /v1/{mount}/keys/{key}", Op::kDelete, "transit/keys/{key}"},
    {"LIST /v1/{mount}/keys", Op::kRead, "transit/keys"},
    {"GET /v1/{mount}/keys", Op::kRead, "transit/keys"},
    {"POST /v1/{mount}/keys/{key}/config", Op::kConfigure, "transit/keys/{key}"},
    {"PUT /v1/{mount}/keys/{key}/config", Op::kConfigure, "transit/keys/{key}"},
    {"POST /v1/{mount}/keys/{key}/rotate", Op::kRotate, "transit/keys/{key}"},
    {"PUT /v1/{mount}/keys/{key}/rotate", Op::kRotate, "transit/keys/{key}"},
    {"POST /v1/{mount}/keys/{key}/trim", Op::kConfigure, "transit/keys/{key}"},
    {"PUT /v1/{mount}/keys/{key}/trim", Op::kConfigure, "transit/keys/{key}"},
    {"GET /v1/{mount}/export/{type}/{key}", Op::kRead, "transit/keys/{key}"},
    {"GET /v1/{mount}/export/{type}/{key}/{version}", Op::kRead, "transit/keys/{key}"},
    {"GET /v1/{mount}/backup/{key}", Op::kRead, "transit/keys/{key}"},
    {"POST /v1/{mount}/restore", Op::kCreate, "transit/keys"},
    {"PUT /v1/{mount}/restore", Op::kCreate, "transit/keys"},
    {"POST /v1/{mount}/restore/{key}", Op::kCreate, "transit/keys/{key}"},
    {"PUT /v1/{mount}/restore/{key}", Op::kCreate, "transit/keys/{key}"},
    {"POST /v1/{mount}/sign/{key}", Op::kSign, "transit/keys/{key}"},
    {"PUT /v1/{mount}/sign/{key}", Op::kSign, "transit/keys/{key}"},
    {"POST /v1/{mount}/sign/{key}/{algorithm}", Op::kSign, "transit/keys/{key}"},
    {"PUT /v1/{mount}/sign/{key}/{algorithm}", Op::kSign, "transit/keys/{key}"},
    {"POST /v1/{mount}/verify/{key}", Op::kVerify, "transit/keys/{key}"},
    {"PUT /v1/{mount}/verify/{key}", Op::kVerify, "transit/keys/{key}"},
    {"POST /v1/{mount}/verify/{key}/{algorithm}", Op::kVerify, "transit/keys/{key}"},
    {"PUT /v1/{mount}/verify/{key}/{algorithm}", Op::kVerify, "transit/keys/{key}"},
    {"POST /v1/{mount}/hmac/{key}", Op::kHmac, "transit/keys/{key}"},
    {"PUT /v1/{mount}/hmac/{key}", Op::kHmac, "transit/keys/{key}"},
    {"POST /v1/{mount}/hmac/{key}/{algorithm}", Op::kHmac, "transit/keys/{key}"},
    {"PUT /v1/{mount}/hmac/{key}/{algorithm}", Op::kHmac, "transit/keys/{key}"},
    {"POST /v1/{mount}/random", Op::kRead, "transit/random"},
    {"PUT /v1/{mount}/random", Op::kRead, "transit/random"},
    {"POST /v1/{mount}/random/{param1}", Op::kRead, "transit/random"},
    {"PUT /v1/{mount}/random/{param1}", Op::kRead, "transit/random"},
    {"POST /v1/{mount}/random/{param1}/{param2}", Op::kRead, "transit/random"},
    {"PUT /v1/{mount}/random/{param1}/{param2}", Op::kRead, "transit/random"},
    {"POST /v1/{mount}/hash", Op::kRead, "transit/hash"},
    {"PUT /v1/{mount}/hash", Op::kRead, "transit/hash"},
    {"POST /v1/{mount}/hash/{algorithm}", Op::kRead, "transit/hash"},
    {"PUT /v1/{mount}/hash/{algorithm}", Op::kRead, "transit/hash"},
    // HTTP: Vault's token and sys routes (server/http/vault/token.h, sys.h), with the
    // operations of the matching gRPC calls. {accessor} comes from the body (the token's,
    // or the accessor named); renewing another token is `configure` on it.
    {"POST /v1/auth/token/create", Op::kTokenCreate, "auth/tokens"},
    {"PUT /v1/auth/token/create", Op::kTokenCreate, "auth/tokens"},
    {"POST /v1/auth/token/create-orphan", Op::kTokenCreate, "auth/tokens"},
    {"PUT /v1/auth/token/create-orphan", Op::kTokenCreate, "auth/tokens"},
    {"POST /v1/auth/token/lookup", Op::kRead, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/lookup", Op::kRead, "auth/tokens/{accessor}"},
    // HTTP: transit BYOK import (server/http/vault/transit_import.h). The wrapping key is
    // public; importing key material is an operation of its own.
    {"GET /v1/{mount}/wrapping_key", Op::kRead, "transit/wrapping_key"},
    {"POST /v1/{mount}/keys/{key}/import", Op::kTransitImport, "transit/keys/{key}"},
    {"PUT /v1/{mount}/keys/{key}/import", Op::kTransitImport, "transit/keys/{key}"},
    {"POST /v1/{mount}/keys/{key}/import_version", Op::kTransitImport, "transit/keys/{key}"},
    {"PUT /v1/{mount}/keys/{key}/import_version", Op::kTransitImport, "transit/keys/{key}"},
    {"GET /v1/auth/token/lookup-self", Op::kAuthenticated, "auth/self"},
    {"POST /v1/auth/token/lookup-accessor", Op::kRead, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/lookup-accessor", Op::kRead, "auth/tokens/{accessor}"},
    {"POST /v1/auth/token/renew", Op::kConfigure, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/renew", Op::kConfigure, "auth/tokens/{accessor}"},
    {"POST /v1/auth/token/renew-self", Op::kAuthenticated, "auth/self"},
    {"PUT /v1/auth/token/renew-self", Op::kAuthenticated, "auth/self"},
    {"POST /v1/auth/token/renew-accessor", Op::kConfigure, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/renew-accessor", Op::kConfigure, "auth/tokens/{accessor}"},
    {"POST /v1/auth/token/revoke", Op::kDelete, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/revoke", Op::kDelete, "auth/tokens/{accessor}"},
    {"POST /v1/auth/token/revoke-self", Op::kAuthenticated, "auth/self"},
    {"PUT /v1/auth/token/revoke-self", Op::kAuthenticated, "auth/self"},
    {"POST /v1/auth/token/revoke-accessor", Op::kDelete, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/revoke-accessor", Op::kDelete, "auth/tokens/{accessor}"},
    {"POST /v1/auth/token/revoke-orphan", Op::kDelete, "auth/tokens/{accessor}"},
    {"PUT /v1/auth/token/revoke-orphan", Op::kDelete, "auth/tokens/{accessor}"},
    {"LIST /v1/auth/token/accessors", Op::kRead, "auth/tokens"},
    // HTTP: Vault's JWT and Kubernetes logins (server/http/vault/jwt_login.h), as Auth.Login;
    // {role} comes from the body.
    {"POST /v1/auth/jwt/login", Op::kPublic, "auth/jwt/roles/{role}"},
    {"PUT /v1/auth/jwt/login", Op::kPublic, "auth/jwt/roles/{role}"},
    {"POST /v1/auth/kubernetes/login", Op::kPublic, "auth/jwt/roles/{role}"},
    {"PUT /v1/auth/kubernetes/login", Op::kPublic, "auth/jwt/roles/{role}"},
    {"GET /v1/sys/health", Op::kPublic, "sys/health", kWhenWritten, kNeverBlocks},
    {"GET /v1/sys/seal-status", Op::kPublic, "sys/seal", kWhenWritten, kNeverBlocks},
    {"POST /v1/sys/seal", Op::kSysSeal, "sys/seal"},
    {"PUT /v1/sys/seal", Op::kSysSeal, "sys/seal"},
    {"POST /v1/sys/unseal", Op::kSysSeal, "sys/seal"},
    {"PUT /v1/sys/unseal", Op::kSysSeal, "sys/seal"},
    {"GET /v1/sys/mounts", Op::kRead, "sys/mounts"},
    {"POST /v1/sys/mounts/{path...}", Op::kSysAdmin, "sys/mounts"},
    {"PUT /v1/sys/mounts/{path...}", Op::kSysAdmin, "sys/mounts"},
    {"DELETE /v1/sys/mounts/{path...}", Op::kSysAdmin, "sys/mounts"},
    {"POST /v1/sys/remount", Op::kSysAdmin, "sys/mounts"},
    {"PUT /v1/sys/remount", Op::kSysAdmin, "sys/mounts"},
    // HTTP: Vault's PKI engine (server/http/vault/pki.h), with the operations and resources
    // of the matching strongroom.v1.Pki calls. {serial_number}, {issuer_name} and {issuer_ref}
    // without a path segment are the body's fields (issuers default to "default"; pki.cc).
    {"POST /v1/pki/issue/{role}", Op::kPkiIssue, "pki/roles/{role}"},
    {"PUT /v1/pki/issue/{role}", Op::kPkiIssue, "pki/roles/{role}"},
    {"POST /v1/pki/sign/{role}", Op::kPkiSign, "pki/roles/{role}"},
    {"PUT /v1/pki/sign/{role}", Op::kPkiSign, "pki/roles/{role}"},
    {"POST /v1/pki/revoke", Op::kPkiRevoke, "pki/certs/{serial_number}"},
    {"PUT /v1/pki/revoke", Op::kPkiRevoke, "pki/certs/{serial_number}"},
    {"GET /v1/pki/cert/{serial}", Op::kRead, "pki/certs/{serial}"},
    {"GET /v1/pki/cert/ca", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"GET /v1/pki/cert/ca_chain", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"GET /v1/pki/cert/crl", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"LIST /v1/pki/certs", Op::kRead, "pki/certs"},
    {"GET /v1/pki/certs", Op::kRead, "pki/certs"},
    {"GET /v1/pki/ca", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"GET /v1/pki/ca/pem", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"GET /v1/pki/ca_chain", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"GET /v1/pki/crl", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"GET /v1/pki/crl/pem", Op::kPublic, "pki/issuers/default", kWhenWritten},
    {"POST /v1/pki/ocsp", Op::kPublic, "pki/issuers/default", kWhenPresigned},
    {"GET /v1/pki/ocsp/{request...}", Op::kPublic, "pki/issuers/default", kWhenPresigned},
    {"GET /v1/pki/roles/{name}", Op::kRead, "pki/roles/{name}"},
    {"POST /v1/pki/roles/{name}", Op::kPkiAdmin, "pki/roles/{name}"},
    {"PUT /v1/pki/roles/{name}", Op::kPkiAdmin, "pki/roles/{name}"},
    {"DELETE /v1/pki/roles/{name}", Op::kPkiAdmin, "pki/roles/{name}"},
    {"LIST /v1/pki/roles", Op::kRead, "pki/roles"},
    {"GET /v1/pki/roles", Op::kRead, "pki/roles"},
    {"LIST /v1/pki/issuers", Op::kRead, "pki/issuers"},
    {"GET /v1/pki/issuers", Op::kRead, "pki/issuers"},
    {"GET /v1/pki/issuer/{issuer}", Op::kRead, "pki/issuers/{issuer}"},
    {"GET /v1/pki/config/issuers", Op::kRead, "pki/issuers/default"},
    {"POST /v1/pki/root/generate/internal", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/root/generate/internal", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"POST /v1/pki/intermediate/generate/internal", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/intermediate/generate/internal", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"POST /v1/pki/root/sign-intermediate", Op::kPkiAdmin, "pki/issuers/{issuer_ref}"},
    {"PUT /v1/pki/root/sign-intermediate", Op::kPkiAdmin, "pki/issuers/{issuer_ref}"},
    {"POST /v1/pki/issuer/{issuer}/sign-intermediate", Op::kPkiAdmin, "pki/issuers/{issuer}"},
    {"PUT /v1/pki/issuer/{issuer}/sign-intermediate", Op::kPkiAdmin, "pki/issuers/{issuer}"},
    {"POST /v1/pki/intermediate/set-signed", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/intermediate/set-signed", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    // Refused (CA keys never leave the HSM), after the same check as their .../internal forms.
    {"POST /v1/pki/root/generate/exported", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/root/generate/exported", Op::kPkiAdmin, "pki/issuers/{issuer_name}"},
    {"POST /v1/pki/intermediate/generate/exported", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/intermediate/generate/exported", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"POST /v1/pki/issuers/generate/root/exported", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/issuers/generate/root/exported", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"POST /v1/pki/issuers/generate/intermediate/exported", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    {"PUT /v1/pki/issuers/generate/intermediate/exported", Op::kPkiAdmin,
     "pki/issuers/{issuer_name}"},
    // HTTP: what relying parties fetch without credentials (RFC 5280 AIA/CDP, RFC 6960).
    {"GET /v1/pki/{issuer}/ca", Op::kPublic, "pki/issuers/{issuer}", kWhenWritten},
    {"GET /v1/pki/{issuer}/crl", Op::kPublic, "pki/issuers/{issuer}", kWhenWritten},
    {"POST /v1/pki/{issuer}/ocsp", Op::kPublic, "pki/issuers/{issuer}", kWhenPresigned},
    {"GET /v1/pki/{issuer}/ocsp/{request...}", Op::kPublic, "pki/issuers/{issuer}", kWhenPresigned},
    // HTTP: ACME (RFC 8555, server/acme/acme_service.h), open to anyone: the JWS of an account
    // key authenticates, not a token. Per role, and the default directory (pki.acme).
    {"GET /v1/pki/roles/{role}/acme/directory", Op::kPublic, "pki/roles/{role}/acme"},
    {"HEAD /v1/pki/roles/{role}/acme/new-nonce", Op::kPublic, "pki/roles/{role}/acme"},
    {"GET /v1/pki/roles/{role}/acme/new-nonce", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/new-account", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/account/{id}", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/account/{id}/orders", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/key-change", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/new-order", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/order/{id}", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/order/{id}/finalize", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/authz/{id}", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/challenge/{id}/{type}", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/cert/{serial}", Op::kPublic, "pki/roles/{role}/acme"},
    {"POST /v1/pki/roles/{role}/acme/revoke-cert", Op::kPublic, "pki/roles/{role}/acme"},
    // Making an external account binding key for a role's directory needs a token.
    {"POST /v1/pki/roles/{role}/acme/new-eab", Op::kPkiAcmeEab, "pki/roles/{role}"},
    {"GET /v1/pki/acme/directory", Op::kPublic, "pki/acme"},
    {"HEAD /v1/pki/acme/new-nonce", Op::kPublic, "pki/acme"},
    {"GET /v1/pki/acme/new-nonce", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/new-account", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/account/{id}", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/account/{id}/orders", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/key-change", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/new-order", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/order/{id}", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/order/{id}/finalize", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/authz/{id}", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/challenge/{id}/{type}", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/cert/{serial}", Op::kPublic, "pki/acme"},
    {"POST /v1/pki/acme/revoke-cert", Op::kPublic, "pki/acme"},
    // Prometheus scrapes: the metrics name every key and issuer, so an identity is needed
    // unless the config opens them.
    {"GET /metrics", Op::kRead, "sys/metrics"},
    {kOpenMetrics, Op::kPublic, "sys/metrics"},
    // Any other path or method: anyone may ask and be told 404 or 405 (on record).
    {kUnroutedHttp, Op::kPublic, "http{path}"},
};

}  // namespace

const Route* FindRoute(absl::string_view name) {
  for (const Route& route : kRoutes) {
    if (route.name == name) return &route;
  }
  return nullptr;
}

absl::Span<const Route> AllRoutes() { return kRoutes; }

audit::Durability ReplyDurability(const Route& route, bool presigned) {
  switch (route.reply_after) {
    case ReplyAfter::kWritten:
      return audit::Durability::kWritten;
    case ReplyAfter::kWrittenIfPresigned:
      return presigned ? audit::Durability::kWritten : audit::Durability::kDurable;
    case ReplyAfter::kDurable:
      break;
  }
  return audit::Durability::kDurable;
}

std::string CanonicalResource(std::string resource) {
  constexpr absl::string_view kCerts = "pki/certs/";
  if (!absl::StartsWith(resource, kCerts)) return resource;
  absl::StatusOr<std::string> serial =
      pki::CanonicalSerial(absl::string_view(resource).substr(kCerts.size()));
  if (!serial.ok()) return resource;
  return absl::StrCat(kCerts, *serial);
}

}  // namespace strongroom::server::access
