// CK_RV helpers: the CKR_ name of a PKCS#11 return value and its absl::StatusCode.
#pragma once

#include "absl/status/status.h"
#include "hsm/pkcs11.h"

namespace strongroom::hsm {

// "CKR_PIN_INCORRECT" for CKR_PIN_INCORRECT; "CKR_VENDOR_DEFINED"/"CKR_UNKNOWN" otherwise.
const char* CkRvName(CK_RV rv);

// UNAVAILABLE for faults of the token, its sessions or the library (including
// CKR_GENERAL_ERROR and CKR_FUNCTION_FAILED: a device error, never a verdict on data),
// PERMISSION_DENIED for PIN problems, INVALID_ARGUMENT for bad data, FAILED_PRECONDITION
// for a key or token that cannot do what was asked, NOT_FOUND for stale handles.
absl::StatusCode CkRvCode(CK_RV rv);

// True for return values that mean the token, the slot, the library or the session is
// gone or was reset: the caller should reconnect and log in again.
bool IsTokenFault(CK_RV rv);

}  // namespace strongroom::hsm
