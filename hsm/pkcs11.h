// The one place that includes the standard PKCS#11 header (p11-kit's copy, spec names).
#pragma once

#include <p11-kit-1/p11-kit/pkcs11.h>
