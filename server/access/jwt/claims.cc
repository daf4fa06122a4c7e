#include "server/access/jwt/claims.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/access/policy.h"
#include "server/json_object.h"

namespace strongroom::server::access::jwt {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Member(const Struct& s, absl::string_view name) {
  auto it = s.fields().find(std::string(name));
  return it == s.fields().end() ? nullptr : &it->second;
}

// A NumericDate claim (RFC 7519 2): absent -> nullopt in *out; not a finite number -> error.
absl::Status TimeClaim(const Struct& claims, absl::string_view name, bool* present,
                       absl::Time* out) {
  const Value* v = Member(claims, name);
  *present = v != nullptr;
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Value::kNumberValue || !std::isfinite(v->number_value()) ||
      std::fabs(v->number_value()) > 1e11) {
    return absl::PermissionDeniedError(absl::StrCat("claim \"", name, "\" is not a NumericDate"));
  }
  *out = absl::FromUnixSeconds(static_cast<int64_t>(std::floor(v->number_value())));
  return absl::OkStatus();
}

// A scalar claim as the text bindings compare with; false for objects, nulls and lists.
bool ScalarText(const Value& v, std::string* out) {
  switch (v.kind_case()) {
    case Value::kStringValue: *out = v.string_value(); return true;
    case Value::kBoolValue: *out = v.bool_value() ? "true" : "false"; return true;
    case Value::kNumberValue: {
      double d = v.number_value();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
        *out = absl::StrCat(static_cast<int64_t>(d));
      } else {
        *out = absl::StrCat(d);
      }
      return true;
    }
    default: return false;
  }
}

bool ValueMatches(absl::string_view pattern, absl::string_view text) {
  return pattern.find('*') == absl::string_view::npos ? pattern == text
                                                      : GlobMatch(pattern, text);
}

// Whether `v` (a scalar, or a list with a scalar element) has a text for which match(text).
template <typename Match>
bool AnyScalar(const Value& v, const Match& match) {
  std::string text;
  if (v.kind_case() != Value::kListValue) return ScalarText(v, &text) && match(text);
  for (const Value& item : v.list_value().values()) {
    if (ScalarText(item, &text) && match(text)) return true;
  }
  return false;
}

bool ValidClaimName(absl::string_view path) {
  if (path.empty() || path.size() > 256) return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Struct> ParseClaims(absl::string_view payload) {
  Struct claims;
  if (absl::Status s = ParseJsonObject(payload, {kMaxClaimsDepth, kMaxClaimsItems}, "the JWT's claims", &claims);
      !s.ok()) {
    return s;
  }
  return claims;
}

std::string StringClaim(const Struct& claims, absl::string_view name) {
  const Value* v = Member(claims, name);
  return v != nullptr && v->kind_case() == Value::kStringValue ? v->string_value() : "";
}

absl::Status CheckTimes(const Struct& claims, absl::Time now, absl::Duration skew) {
  bool present = false;
  absl::Time t;
  if (absl::Status s = TimeClaim(claims, "exp", &present, &t); !s.ok()) return s;
  if (!present) return absl::PermissionDeniedError("the JWT has no \"exp\" claim");
  if (t <= now - skew) {
    return absl::PermissionDeniedError(
        absl::StrCat("the JWT expired ", absl::FormatDuration(absl::Trunc(now - t, absl::Seconds(1))),
                     " ago (\"exp\")"));
  }
  if (absl::Status s = TimeClaim(claims, "nbf", &present, &t); !s.ok()) return s;
  if (present && t > now + skew) {
    return absl::PermissionDeniedError("the JWT is not valid yet (\"nbf\" in the future)");
  }
  if (absl::Status s = TimeClaim(claims, "iat", &present, &t); !s.ok()) return s;
  if (present && t > now + skew) {
    return absl::PermissionDeniedError("the JWT was issued in the future (\"iat\")");
  }
  return absl::OkStatus();
}

absl::StatusOr<RoleRules> RoleRules::Compile(const v1::JwtRole& role, absl::string_view where) {
  RoleRules rules;
  if (role.bound_audiences().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".bound_audiences: at least one audience is required"));
  }
  for (const std::string& aud : role.bound_audiences()) {
    if (aud.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".bound_audiences: empty audience"));
    }
    rules.audiences_.push_back(aud);
  }
  rules.subjects_.assign(role.bound_subjects().begin(), role.bound_subjects().end());
  for (int i = 0; i < role.bound_claims_size(); ++i) {
    const v1::JwtClaimBinding& b = role.bound_claims(i);
    if (!ValidClaimName(b.claim())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".bound_claims[", i, "].claim: a path of members separated by '/'"));
    }
    if (b.values().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".bound_claims[", i, "].values: at least one value is required"));
    }
    Binding binding;
    binding.claim = b.claim();
    binding.path = absl::StrSplit(b.claim(), '/');
    binding.values.assign(b.values().begin(), b.values().end());
    rules.bindings_.push_back(std::move(binding));
  }
  return rules;
}

absl::Status RoleRules::Check(const Struct& claims) const {
  // "aud": a string or a list of strings (RFC 7519 4.1.3), compared exactly.
  const Value* aud = Member(claims, "aud");
  auto is_audience = [this](const std::string& text) {
    for (const std::string& a : audiences_) {
      if (a == text) return true;
    }
    return false;
  };
  if (aud == nullptr || aud->kind_case() == Value::kNumberValue ||
      aud->kind_case() == Value::kBoolValue || !AnyScalar(*aud, is_audience)) {
    return absl::PermissionDeniedError("\"aud\" names none of the role's bound_audiences");
  }
  if (!subjects_.empty()) {
    const Value* sub = Member(claims, "sub");
    bool ok = false;
    if (sub != nullptr && sub->kind_case() == Value::kStringValue) {
      for (const std::string& p : subjects_) ok = ok || GlobMatch(p, sub->string_value());
    }
    if (!ok) return absl::PermissionDeniedError("\"sub\" matches none of the role's bound_subjects");
  }
  for (const Binding& b : bindings_) {
    const Struct* object = &claims;
    const Value* v = nullptr;
    for (size_t i = 0; i < b.path.size(); ++i) {
      v = object == nullptr ? nullptr : Member(*object, b.path[i]);
      if (v == nullptr) break;
      object = v->kind_case() == Value::kStructValue ? &v->struct_value() : nullptr;
    }
    if (v == nullptr) {
      return absl::PermissionDeniedError(absl::StrCat("claim \"", b.claim, "\" is missing"));
    }
    auto matches = [&b](const std::string& text) {
      for (const std::string& p : b.values) {
        if (ValueMatches(p, text)) return true;
      }
      return false;
    };
    if (!AnyScalar(*v, matches)) {
      return absl::PermissionDeniedError(
          absl::StrCat("claim \"", b.claim, "\" matches none of the role's values"));
    }
  }
  return absl::OkStatus();
}

}  // namespace strongroom::server::access::jwt
