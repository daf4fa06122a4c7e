#include "server/acme/challenge_validator.h"

#include <utility>

namespace strongroom::server::acme {

ChallengeValidator::ChallengeValidator(ValidatorOptions options) : options_(std::move(options)) {}

ValidationOutcome ChallengeValidator::Validate(const ValidationRequest& request) const {
  (void)request;
  return {false, "serverInternal", "challenge validation is not implemented yet"};
}

}  // namespace strongroom::server::acme
