// Test helpers for access-control unit tests: a PolicySet built from one-rule policies, and
// the Principal the gate makes of a token. Test-only; failures are gtest failures.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::access::testing {

// Adds to `config` a rule on `resource` for `operations` (with `effect` "deny" a deny rule),
// to the policy `name`, which is created if it is not there yet.
inline void AddRule(v1::AuthConfig* config, const std::string& name, const std::string& resource,
                    std::initializer_list<const char*> operations, const std::string& effect = "") {
  v1::Policy* policy = nullptr;
  for (v1::Policy& p : *config->mutable_policies()) {
    if (p.name() == name) policy = &p;
  }
  if (policy == nullptr) {
    policy = config->add_policies();
    policy->set_name(name);
  }
  v1::PolicyRule* rule = policy->add_rules();
  rule->set_resource(resource);
  for (const char* op : operations) rule->add_operations(op);
  if (!effect.empty()) rule->set_effect(effect);
}

// Binds the client-certificate identity pattern `identity` to `policies`.
inline void AddIdentity(v1::AuthConfig* config, const std::string& identity,
                        std::initializer_list<const char*> policies) {
  v1::IdentityBinding* binding = config->add_identities();
  binding->set_identity(identity);
  for (const char* p : policies) binding->add_policies(p);
}

// `config` compiled (no KMS plugin key); null, with a test failure, if it does not compile.
inline std::shared_ptr<const PolicySet> Compile(const v1::AuthConfig& config) {
  auto set = PolicySet::Compile(config, "");
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : nullptr;
}

// A token's principal holding `policies`.
inline Principal TokenPrincipal(std::vector<std::string> policies,
                                const std::string& accessor = "0123456789abcdef0123456789abcdef") {
  Principal p;
  p.kind = Principal::Kind::kToken;
  p.identity = "token:" + accessor;
  p.token_accessor = accessor;
  p.policies = std::move(policies);
  return p;
}

}  // namespace strongroom::server::access::testing
