#include "server/access/operations.h"

namespace strongroom::server::access {

absl::string_view OperationName(Operation op) {
  switch (op) {
#define STRONGROOM_OPERATION_NAME(id, name) \
  case Operation::id:                       \
    return name;
    STRONGROOM_OPERATIONS(STRONGROOM_OPERATION_NAME)
#undef STRONGROOM_OPERATION_NAME
  }
  return "unknown";
}

std::optional<Operation> ParseGrantableOperation(absl::string_view name) {
#define STRONGROOM_OPERATION_PARSE(id, text)                                          \
  if (name == text && (OperationBit(Operation::id) & kGrantableOperations) != 0) { \
    return Operation::id;                                                             \
  }
  STRONGROOM_OPERATIONS(STRONGROOM_OPERATION_PARSE)
#undef STRONGROOM_OPERATION_PARSE
  return std::nullopt;
}

}  // namespace strongroom::server::access
