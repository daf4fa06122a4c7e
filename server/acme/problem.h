// Problem: an ACME error (RFC 8555 section 6.7) as the handlers pass it around, and its
// wire form, an RFC 7807 problem document (application/problem+json) with the HTTP status
// RFC 8555 implies for its type. Details name what was wrong without quoting request bodies.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "server/http/router.h"

namespace strongroom::server::acme {

struct Problem {
  std::string type;    // the suffix after "urn:ietf:params:acme:error:", e.g. "badNonce"
  std::string detail;
  int status = 400;
};

Problem Malformed(std::string detail);
Problem Unauthorized(std::string detail);
Problem BadNonce();
Problem RateLimited(std::string detail);
// A failed internal call as a problem: storage or HSM unavailable -> serverInternal 503,
// anything else -> serverInternal 500 with a generic detail (the status is for the log).
Problem ServerProblem(const absl::Status& status);

// The problem document; RateLimited and 503s get Retry-After. Its audit detail names the type.
HttpResponse ProblemResponse(const Problem& problem);

}  // namespace strongroom::server::acme
