#include "pki/role_policy.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace strongroom::pki {
namespace {

std::string DomainRules(const v1::Role& role) {
  std::string rules = absl::StrCat(
      "allowed_domains: ",
      role.allowed_domains().empty() ? "(none)" : absl::StrJoin(role.allowed_domains(), ", "));
  if (role.allow_bare_domains()) absl::StrAppend(&rules, "; allow_bare_domains");
  if (role.allow_subdomains()) absl::StrAppend(&rules, "; allow_subdomains");
  if (role.allow_glob_domains()) absl::StrAppend(&rules, "; allow_glob_domains");
  if (role.allow_localhost()) absl::StrAppend(&rules, "; allow_localhost");
  return rules;
}

bool IsLocalhost(absl::string_view name) {
  return name == "localhost" || name == "localhost.localdomain";
}

// Whether the (lowercase, valid) host name is allowed by the role's domain rules.
bool HostnameAllowed(const v1::Role& role, const std::string& name) {
  if (IsLocalhost(name) && role.allow_localhost()) return true;
  for (const std::string& allowed_raw : role.allowed_domains()) {
    std::string allowed = absl::AsciiStrToLower(allowed_raw);
    if (allowed.empty()) continue;
    if (absl::StrContains(allowed, '*')) {
      if (role.allow_glob_domains() && GlobMatch(allowed, name, /*within_label=*/true)) {
        return true;
      }
      continue;
    }
    if (role.allow_bare_domains() && name == allowed) return true;
    if (role.allow_subdomains() && name.size() > allowed.size() + 1 &&
        absl::EndsWith(name, absl::StrCat(".", allowed))) {
      return true;
    }
  }
  return false;
}

absl::Status CheckHostname(const v1::Role& role, absl::string_view field, const std::string& raw) {
  if (absl::StrContains(raw, '*')) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", raw,
                                                   "\" is a wildcard name; wildcard "
                                                   "certificates are not issued"));
  }
  if (!IsValidHostname(raw)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", raw,
                     "\" is not a valid host name (letters, digits, '-' and '.'; labels of "
                     "1-63 characters; at most 253 characters)"));
  }
  std::string name = absl::AsciiStrToLower(raw);
  if (HostnameAllowed(role, name)) return absl::OkStatus();
  std::string rules = DomainRules(role);
  if (IsLocalhost(name) && !role.allow_localhost()) {
    rules = absl::StrCat("allow_localhost is false; ", rules);
  }
  return absl::PermissionDeniedError(absl::StrCat(
      field, ": \"", raw, "\" is not allowed by role \"", role.name(), "\" (", rules, ")"));
}

// Iterative glob match with backtracking to the last '*', which matches at least
// `star_min` (0 or 1) characters.
bool StarMatch(absl::string_view p, absl::string_view t, int star_min) {
  size_t pi = 0, ti = 0, star = absl::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      ++pi;
      ti += star_min;
      star = pi;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi;
      ++ti;
    } else if (star != absl::string_view::npos) {
      pi = star;
      ti = ++mark;
    } else {
      return false;
    }
  }
  if (ti > t.size()) return false;
  while (star_min == 0 && pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// The 4 or 16 bytes of a textual IPv4 or IPv6 address; empty if it is not one.
std::string IpBytes(absl::string_view ip) {
  const std::string text(ip);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(buf, buf + 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return std::string(buf, buf + 16);
  return "";
}

absl::Status CheckIp(const v1::Role& role, absl::string_view field, const std::string& ip) {
  if (!IsValidIpAddress(ip)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", ip, "\" is not an IPv4 or IPv6 address"));
  }
  if (!role.allow_ip_sans()) {
    return absl::PermissionDeniedError(absl::StrCat(field, ": \"", ip,
                                                    "\" is not allowed by role \"", role.name(),
                                                    "\" (allow_ip_sans is false)"));
  }
  return absl::OkStatus();
}

}  // namespace

NameRequest CertificateNames(const v1::Role& role, NameRequest requested,
                             bool exclude_cn_from_sans) {
  const std::string& cn = requested.common_name;
  if (cn.empty() || exclude_cn_from_sans || role.exclude_cn_from_sans()) return requested;
  if (const std::string address = IpBytes(cn); !address.empty()) {
    for (const std::string& ip : requested.ip_sans) {
      if (IpBytes(ip) == address) return requested;
    }
    requested.ip_sans.push_back(cn);
    return requested;
  }
  for (const std::string& dns : requested.dns_sans) {
    if (absl::EqualsIgnoreCase(dns, cn)) return requested;
  }
  requested.dns_sans.push_back(cn);
  return requested;
}

bool GlobMatch(absl::string_view pattern, absl::string_view text, bool within_label) {
  if (within_label) {
    std::vector<absl::string_view> p = absl::StrSplit(pattern, '.');
    std::vector<absl::string_view> t = absl::StrSplit(text, '.');
    if (p.size() != t.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!StarMatch(p[i], t[i], /*star_min=*/1)) return false;
    }
    return true;
  }
  return StarMatch(pattern, text, /*star_min=*/0);
}

bool IsValidHostname(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

bool IsValidIpAddress(absl::string_view ip) {
  std::string s(ip);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

absl::Status CheckNames(const v1::Role& role, const NameRequest& names) {
  if (names.empty()) {
    return absl::InvalidArgumentError(
        "common_name: empty, and no dns_sans, ip_sans or uri_sans requested");
  }
  if (role.server_flag() && names.dns_sans.empty() && names.ip_sans.empty() &&
      names.uri_sans.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "common_name: a certificate of server role \"", role.name(),
        "\" needs a name in its subjectAltName, which TLS clients read instead of the common "
        "name; request dns_sans or ip_sans, or drop exclude_cn_from_sans"));
  }
  if (!names.common_name.empty()) {
    absl::Status s = IsValidIpAddress(names.common_name)
                         ? CheckIp(role, "common_name", names.common_name)
                         : CheckHostname(role, "common_name", names.common_name);
    if (!s.ok()) return s;
  }
  for (const std::string& dns : names.dns_sans) {
    if (absl::Status s = CheckHostname(role, "dns_sans", dns); !s.ok()) return s;
  }
  for (const std::string& ip : names.ip_sans) {
    if (absl::Status s = CheckIp(role, "ip_sans", ip); !s.ok()) return s;
  }
  for (const std::string& uri : names.uri_sans) {
    if (uri.empty() || !absl::StrContains(uri, ':')) {
      return absl::InvalidArgumentError(absl::StrCat("uri_sans: \"", uri, "\" is not a URI"));
    }
    bool allowed = false;
    for (const std::string& pattern : role.allowed_uri_sans()) {
      if (GlobMatch(pattern, uri, /*within_label=*/false)) {
        allowed = true;
        break;
      }
    }
    if (!allowed) {
      return absl::PermissionDeniedError(absl::StrCat(
          "uri_sans: \"", uri, "\" is not allowed by role \"", role.name(),
          "\" (allowed_uri_sans: ",
          role.allowed_uri_sans().empty() ? "(none)" : absl::StrJoin(role.allowed_uri_sans(), ", "),
          ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> GrantTtl(const v1::Role& role, absl::Duration requested_ttl,
                                        absl::Time issuer_not_after, absl::Time now) {
  if (requested_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl: ", absl::FormatDuration(requested_ttl), " is negative"));
  }
  const absl::Duration role_ttl =
      absl::Seconds(role.ttl().seconds()) + absl::Nanoseconds(role.ttl().nanos());
  const absl::Duration max_ttl =
      absl::Seconds(role.max_ttl().seconds()) + absl::Nanoseconds(role.max_ttl().nanos());
  const bool has_max = max_ttl > absl::ZeroDuration();
  absl::Duration ttl = requested_ttl;
  if (ttl == absl::ZeroDuration()) {
    ttl = role_ttl > absl::ZeroDuration() ? role_ttl : kDefaultLeafTtl;
    if (has_max) ttl = std::min(ttl, max_ttl);
  } else if (has_max && ttl > max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl: ", absl::FormatDuration(requested_ttl), " exceeds max_ttl ",
                     absl::FormatDuration(max_ttl), " of role \"", role.name(), "\""));
  }
  if (issuer_not_after <= now) {
    return absl::FailedPreconditionError(absl::StrCat(
        "issuer of role \"", role.name(), "\" expired at ", absl::FormatTime(issuer_not_after)));
  }
  return std::min(ttl, issuer_not_after - now);
}

absl::Status CheckRequest(const v1::Role& role, const NameRequest& names,
                          absl::Duration requested_ttl, absl::Time issuer_not_after, absl::Time now,
                          absl::Duration* granted_ttl) {
  if (absl::Status s = CheckNames(role, names); !s.ok()) return s;
  absl::StatusOr<absl::Duration> ttl = GrantTtl(role, requested_ttl, issuer_not_after, now);
  if (!ttl.ok()) return ttl.status();
  *granted_ttl = *ttl;
  return absl::OkStatus();
}

absl::Status CheckCsrKey(const v1::Role& role, EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("csr: no public key");
  const int bits = EVP_PKEY_get_bits(key);
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
      return absl::InvalidArgumentError("csr: EC key without a named curve");
    }
    std::string curve(group, len);
    if (curve == "prime256v1" || curve == "secp384r1") return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("csr: EC curve ", curve,
                                                   " is not allowed by role \"", role.name(),
                                                   "\" (EC keys must be P-256 or P-384)"));
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int min_bits = std::max<int>(kMinimumRsaBits, static_cast<int>(role.key_bits()));
    if (bits < min_bits) {
      return absl::InvalidArgumentError(
          absl::StrCat("csr: RSA key of ", bits, " bits is below the minimum of ", min_bits,
                       " bits of role \"", role.name(), "\" (key_bits; never less than 2048)"));
    }
    if (bits > 8192) {
      return absl::InvalidArgumentError(
          absl::StrCat("csr: RSA key of ", bits, " bits is above the maximum of 8192 bits"));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("csr: key type ", EVP_PKEY_get0_type_name(key),
                   " is not allowed (EC P-256, P-384 or RSA >= 2048 bits)"));
}

}  // namespace strongroom::pki
