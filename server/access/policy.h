// PolicySet: the config's policies and identity bindings, compiled once per load.
//
// A caller may perform an operation on a resource when one of its policies has an allow
// rule matching both and none of its policies has a matching deny rule; everything else is
// denied. Certificate principals hold the policies of every identity binding whose pattern
// matches their identity; token principals hold the policies stored with the token. Two
// built-in policies cannot be defined in the config: "root" (everything; only the
// bootstrap root token holds it) and "@kms-plugin" (encrypt, decrypt and read on the
// Kubernetes KMS plugin's key; only the plugin's unix socket holds it).
//
// Patterns: '*' matches any run of characters ('/' included); the rest matches itself.
// A PolicySet is immutable: reloading compiles a new one, so checks need no lock.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/access/operations.h"
#include "server/access/principal.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::access {

inline constexpr char kKmsPluginPolicy[] = "@kms-plugin";

// Whether `text` matches `pattern` ('*' = any run of characters).
bool GlobMatch(absl::string_view pattern, absl::string_view text);

class PolicySet {
 public:
  // Compiles config.policies and config.identities; `kms_plugin_key` (may be empty) is
  // the key the built-in "@kms-plugin" policy covers. INVALID_ARGUMENT naming the policy,
  // rule or binding at fault, e.g. `auth.policies[app].rules[2]: unknown operation "encrpyt"`.
  static absl::StatusOr<std::shared_ptr<const PolicySet>> Compile(
      const v1::AuthConfig& config, absl::string_view kms_plugin_key);

  // Whether a policy of this name can be held (config-defined or "root").
  bool Exists(absl::string_view policy) const;
  // The policies `principal` holds: its token's, or its identity bindings'.
  std::vector<std::string> PoliciesOf(const Principal& principal) const;
  // OK when `principal` may perform `op` on `resource`; else PERMISSION_DENIED naming the
  // identity, operation and resource (and the policy, when an explicit deny decided).
  // kPublic is always allowed and kAuthenticated for any authenticated principal.
  absl::Status Check(const Principal& principal, Operation op, absl::string_view resource) const;

 private:
  struct Rule {
    uint32_t operations;  // OperationBit set
    std::string pattern;
    bool deny;
  };
  struct Binding {
    std::string pattern;
    std::vector<std::string> policies;
  };
  enum class Verdict { kNone, kAllow, kDeny };

  PolicySet() = default;
  // The verdict of one policy on (op, resource).
  Verdict Evaluate(absl::string_view policy, Operation op, absl::string_view resource) const;

  absl::flat_hash_map<std::string, std::vector<Rule>> policies_;
  std::vector<Binding> bindings_;
};

}  // namespace strongroom::server::access
