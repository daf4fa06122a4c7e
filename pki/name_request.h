// NameRequest: the subject names asked for in an issuance request (or read from a CSR).
#pragma once

#include <string>
#include <vector>

namespace strongroom::pki {

struct NameRequest {
  std::string common_name;            // may be empty if there is at least one SAN
  std::vector<std::string> dns_sans;  // host names, e.g. "www.example.com"
  std::vector<std::string> ip_sans;   // textual IPv4 or IPv6 addresses
  std::vector<std::string> uri_sans;  // e.g. "spiffe://prod.example/ns/web"

  bool empty() const {
    return common_name.empty() && dns_sans.empty() && ip_sans.empty() && uri_sans.empty();
  }
};

}  // namespace strongroom::pki
