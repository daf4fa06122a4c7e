// Operation: what a request does, as policies name it.
//
// Every gRPC method and HTTP route maps to exactly one operation on one resource
// (routes.h). The grantable operations are the names policies use; kAuthenticated and
// kPublic are not grantable: kAuthenticated routes serve any authenticated caller about
// itself (whoami, token self-service), kPublic routes serve anyone (health, CA
// certificates, CRLs, OCSP, and metrics if the config opens them).
#pragma once

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace strongroom::server::access {

#define STRONGROOM_OPERATIONS(X)      \
  X(kEncrypt, "encrypt")              \
  X(kDecrypt, "decrypt")              \
  X(kRewrap, "rewrap")                \
  X(kDatakey, "datakey")              \
  X(kSign, "sign")                    \
  X(kVerify, "verify")                \
  X(kHmac, "hmac")                    \
  X(kRead, "read")                    \
  X(kCreate, "create")                \
  X(kRotate, "rotate")                \
  X(kConfigure, "configure")          \
  X(kDelete, "delete")                \
  X(kPkiIssue, "pki.issue")           \
  X(kPkiSign, "pki.sign")             \
  X(kPkiRevoke, "pki.revoke")         \
  X(kPkiAdmin, "pki.admin")           \
  X(kPkiAcmeEab, "pki.acme.eab")      \
  X(kSysSeal, "sys.seal")             \
  X(kSysAdmin, "sys.admin")           \
  X(kTokenCreate, "token.create")     \
  X(kTokenPeriodic, "token.periodic") \
  X(kTransitImport, "transit.import") \
  X(kAuthenticated, "authenticated")  \
  X(kPublic, "public")

enum class Operation : uint8_t {
#define STRONGROOM_OPERATION_ENUM(id, name) id,
  STRONGROOM_OPERATIONS(STRONGROOM_OPERATION_ENUM)
#undef STRONGROOM_OPERATION_ENUM
};

// Bit of `op` in a set of operations.
constexpr uint32_t OperationBit(Operation op) { return uint32_t{1} << static_cast<uint8_t>(op); }
// Every operation a policy may grant (all but kAuthenticated and kPublic).
constexpr uint32_t kGrantableOperations = OperationBit(Operation::kAuthenticated) - 1;

absl::string_view OperationName(Operation op);
// The grantable operation called `name`; nullopt for unknown names, "authenticated" and
// "public".
std::optional<Operation> ParseGrantableOperation(absl::string_view name);

}  // namespace strongroom::server::access
