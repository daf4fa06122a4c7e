// EnsureSelfSignedCertificate: the first-run TLS identity for a server with none configured.
//
// If neither file exists, creates an EC P-256 key (mode 0600) and a self-signed
// certificate for localhost (DNS:localhost, IP:127.0.0.1, IP:::1; serverAuth; one year),
// creating parent folders with mode 0700, and sets *created. If both exist, leaves them.
// If only one exists, FAILED_PRECONDITION naming it. Clients trust the certificate
// itself (strongroom --ca-file <cert>).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace strongroom::server {

absl::Status EnsureSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                         bool* created);

}  // namespace strongroom::server
