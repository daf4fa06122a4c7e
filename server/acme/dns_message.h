// DNS messages (RFC 1035) for the validators' own stub resolver: one question out, the
// records answering it back. The parser takes untrusted bytes from the network.
//
// ParseDnsResponse accepts at most kMaxDnsMessage bytes and 64 answer records, decompresses
// names with backward pointers only (so no loops) and at most 255 bytes per name, and
// follows CNAMEs within the answer for at most 8 hops. It returns the record data of the
// asked type for the asked name: for TXT the record's character-strings concatenated
// (RFC 7208 style), for A and AAAA the 4 or 16 address bytes. Errors: NOT_FOUND for
// NXDOMAIN or no such records, UNAVAILABLE for a truncated answer or a resolver failure
// (SERVFAIL, REFUSED, ...), INVALID_ARGUMENT for anything malformed or not an answer to the
// question (id, question, flags); the message names the problem without quoting the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strongroom::server::acme {

// The largest DNS message accepted (and the EDNS0 UDP payload size queries announce).
constexpr size_t kMaxDnsMessage = 1232;

enum DnsType : uint16_t { kDnsA = 1, kDnsCname = 5, kDnsTxt = 16, kDnsAaaa = 28 };

// BuildDnsQuery encodes a recursive query for (name, type, IN) with an EDNS0 OPT record.
// `name` is a host name without the final dot: labels of 1 to 63 letters, digits, '-' or
// '_', at most 253 bytes. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> BuildDnsQuery(uint16_t id, absl::string_view name, DnsType type);

absl::StatusOr<std::vector<std::string>> ParseDnsResponse(absl::string_view message,
                                                          uint16_t id, absl::string_view name,
                                                          DnsType type);

}  // namespace strongroom::server::acme
