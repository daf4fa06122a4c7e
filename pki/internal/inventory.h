// Inventory: the records of issued certificates ("pki/certs/<serial>").
//
// Add commits in groups (kms/group_commit.h): a burst of issuances shares one durable
// commit, each caller returns only once its record is durable, and a failed commit fails
// every issuance in it. Reads go to the Storage directly. Serials given to Find are
// canonical (pki/serial.h); Get canonicalises the request's. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/group_commit.h"
#include "kms/storage.h"
#include "pki/records.pb.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki::internal {

class Inventory {
 public:
  // `storage` is not owned and outlives this object.
  explicit Inventory(kms::Storage* storage) : storage_(storage), group_(storage) {}

  // Stores the record of a new certificate (issued by `issuer_name`, under `role` if not
  // empty); returns once it is durable.
  absl::Status Add(const std::string& serial_number, const std::string& certificate_der,
                   absl::Time not_after, const std::string& issuer_name, const std::string& role);
  struct Found {
    CertificateRecord record;
    int64_t revision = 0;
  };
  // The record of `serial` (canonical), or nullopt; DATA_LOSS if it does not parse.
  absl::StatusOr<std::optional<Found>> Find(absl::string_view serial);
  // NOT_FOUND for an unknown serial; INVALID_ARGUMENT for a malformed one.
  absl::StatusOr<v1::CertificateRecord> Get(const v1::GetCertificateRequest& request);
  absl::StatusOr<v1::ListCertificatesResponse> List(const v1::ListCertificatesRequest& request);
  // Records queued for their group commit, for metrics.
  size_t queued() const { return group_.queued(); }

 private:
  kms::Storage* const storage_;
  kms::GroupCommit group_;
};

}  // namespace strongroom::pki::internal
