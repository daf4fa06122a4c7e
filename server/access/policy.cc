#include "server/access/policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace strongroom::server::access {
namespace {

bool ValidPolicyName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  // Iterative wildcard match with backtracking to the last '*': O(|pattern| * |text|)
  // worst case, no recursion.
  size_t p = 0, t = 0, star = absl::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<std::shared_ptr<const PolicySet>> PolicySet::Compile(
    const v1::AuthConfig& config, absl::string_view kms_plugin_key) {
  std::shared_ptr<PolicySet> set(new PolicySet());
  for (const v1::Policy& policy : config.policies()) {
    const std::string where = absl::StrCat("auth.policies[", policy.name(), "]");
    if (!ValidPolicyName(policy.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": name must be 1-128 letters, digits, '-', '_' or '.'"));
    }
    if (policy.name() == kRootPolicy) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"root\" is built in"));
    }
    if (set->policies_.contains(policy.name())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": defined twice"));
    }
    if (policy.rules().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": has no rules"));
    }
    std::vector<Rule>& rules = set->policies_[policy.name()];
    for (int i = 0; i < policy.rules_size(); ++i) {
      const v1::PolicyRule& r = policy.rules(i);
      const std::string rule_where = absl::StrCat(where, ".rules[", i + 1, "]");
      Rule rule{0, r.resource(), false};
      if (r.resource().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(rule_where, ": resource is required"));
      }
      if (r.effect() == "deny") {
        rule.deny = true;
      } else if (!r.effect().empty() && r.effect() != "allow") {
        return absl::InvalidArgumentError(
            absl::StrCat(rule_where, ": effect must be allow or deny, not \"", r.effect(), "\""));
      }
      if (r.operations().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(rule_where, ": operations is required"));
      }
      for (const std::string& name : r.operations()) {
        if (name == "*") {
          rule.operations |= kGrantableOperations;
          continue;
        }
        std::optional<Operation> op = ParseGrantableOperation(name);
        if (!op.has_value()) {
          return absl::InvalidArgumentError(
              absl::StrCat(rule_where, ": unknown operation \"", name, "\""));
        }
        rule.operations |= OperationBit(*op);
      }
      rules.push_back(std::move(rule));
    }
  }
  if (!kms_plugin_key.empty()) {
    set->policies_[kKmsPluginPolicy].push_back(
        {OperationBit(Operation::kEncrypt) | OperationBit(Operation::kDecrypt) |
             OperationBit(Operation::kRead),
         absl::StrCat("transit/keys/", kms_plugin_key), false});
  }
  for (int i = 0; i < config.identities_size(); ++i) {
    const v1::IdentityBinding& b = config.identities(i);
    const std::string where = absl::StrCat("auth.identities[", i + 1, "]");
    if (b.identity().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": identity is required"));
    }
    for (const std::string& policy : b.policies()) {
      if (policy == kRootPolicy || !set->policies_.contains(policy) ||
          policy == kKmsPluginPolicy) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " (", b.identity(), "): unknown policy \"", policy, "\""));
      }
    }
    set->bindings_.push_back({b.identity(), {b.policies().begin(), b.policies().end()}});
  }
  return std::shared_ptr<const PolicySet>(std::move(set));
}

bool PolicySet::Exists(absl::string_view policy) const {
  return policy == kRootPolicy || (policy != kKmsPluginPolicy && policies_.contains(policy));
}

std::vector<std::string> PolicySet::PoliciesOf(const Principal& principal) const {
  switch (principal.kind) {
    case Principal::Kind::kToken:
      return principal.policies;
    case Principal::Kind::kLocalSocket:
      return {kKmsPluginPolicy};
    case Principal::Kind::kCertificate: {
      std::vector<std::string> out;
      for (const Binding& b : bindings_) {
        if (!GlobMatch(b.pattern, principal.identity)) continue;
        for (const std::string& p : b.policies) {
          if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
        }
      }
      return out;
    }
    case Principal::Kind::kNone:
      break;
  }
  return {};
}

PolicySet::Verdict PolicySet::Evaluate(absl::string_view policy, Operation op,
                                       absl::string_view resource) const {
  if (policy == kRootPolicy) return Verdict::kAllow;
  auto it = policies_.find(policy);
  if (it == policies_.end()) return Verdict::kNone;
  Verdict verdict = Verdict::kNone;
  for (const Rule& rule : it->second) {
    if ((rule.operations & OperationBit(op)) == 0 || !GlobMatch(rule.pattern, resource)) continue;
    if (rule.deny) return Verdict::kDeny;
    verdict = Verdict::kAllow;
  }
  return verdict;
}

absl::Status PolicySet::Check(const Principal& principal, Operation op,
                              absl::string_view resource) const {
  if (op == Operation::kPublic) return absl::OkStatus();
  if (principal.kind == Principal::Kind::kNone) {
    return absl::UnauthenticatedError("no credentials: present a client certificate or a token");
  }
  if (op == Operation::kAuthenticated) return absl::OkStatus();
  bool allowed = false;
  auto consider = [&](absl::string_view policy) {
    switch (Evaluate(policy, op, resource)) {
      case Verdict::kDeny:
        return absl::PermissionDeniedError(absl::StrCat(principal.identity, " may not ",
                                                        OperationName(op), " ", resource,
                                                        ": denied by policy ", policy));
      case Verdict::kAllow:
        allowed = true;
        break;
      case Verdict::kNone:
        break;
    }
    return absl::OkStatus();
  };
  switch (principal.kind) {
    case Principal::Kind::kToken:
      for (const std::string& p : principal.policies) {
        if (absl::Status s = consider(p); !s.ok()) return s;
      }
      break;
    case Principal::Kind::kLocalSocket:
      if (absl::Status s = consider(kKmsPluginPolicy); !s.ok()) return s;
      break;
    case Principal::Kind::kCertificate:
      for (const Binding& b : bindings_) {
        if (!GlobMatch(b.pattern, principal.identity)) continue;
        for (const std::string& p : b.policies) {
          if (absl::Status s = consider(p); !s.ok()) return s;
        }
      }
      break;
    case Principal::Kind::kNone:
      break;
  }
  if (allowed) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(principal.identity, " may not ",
                                                  OperationName(op), " ", resource,
                                                  ": no policy grants it"));
}

}  // namespace strongroom::server::access
