#include "server/acme/problem.h"

#include "server/http/vault/json.h"

namespace strongroom::server::acme {

Problem Malformed(std::string detail) { return {"malformed", std::move(detail), 400}; }
Problem Unauthorized(std::string detail) { return {"unauthorized", std::move(detail), 403}; }
Problem BadNonce() { return {"badNonce", "the nonce is unknown, used or expired", 400}; }
Problem RateLimited(std::string detail) { return {"rateLimited", std::move(detail), 429}; }

Problem ServerProblem(const absl::Status& status) {
  if (absl::IsUnavailable(status)) {
    return {"serverInternal", "the server is unavailable; try again later", 503};
  }
  if (absl::IsAborted(status)) {
    return {"serverInternal", "a concurrent request changed this object; try again", 409};
  }
  return {"serverInternal", "internal error", 500};
}

HttpResponse ProblemResponse(const Problem& problem) {
  HttpResponse response = vault::JsonResponse(
      problem.status, vault::Json::Object()
                          .Set("type", "urn:ietf:params:acme:error:" + problem.type)
                          .Set("detail", problem.detail)
                          .Set("status", problem.status));
  response.content_type = "application/problem+json";
  if (problem.status == 429 || problem.status == 503) response.headers.emplace_back("Retry-After", "1");
  response.audit_detail = "problem=" + problem.type;
  return response;
}

}  // namespace strongroom::server::acme
