#include "server/acme/acme_server.h"

namespace strongroom::server::acme {
namespace {

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

AcmeStoreOptions StoreOptions(const v1::AcmeConfig& c) {
  AcmeStoreOptions o;
  o.nonce_lifetime = ToDuration(c.nonce_lifetime());
  o.max_nonces = c.max_nonces();
  return o;
}

ValidatorOptions ValidationOptions(const v1::AcmeConfig& c) {
  ValidatorOptions o;
  o.timeout = ToDuration(c.validation_timeout());
  o.http01_port = static_cast<int>(c.http01_port());
  o.tls_alpn01_port = static_cast<int>(c.tls_alpn01_port());
  o.dns_resolver = c.dns_resolver();
  o.overrides.insert(c.validation_overrides().begin(), c.validation_overrides().end());
  return o;
}

AcmeServiceOptions ServiceOptions(const v1::PkiConfig& pki) {
  const v1::AcmeConfig& c = pki.acme();
  AcmeServiceOptions o;
  o.mount = pki.mount();
  o.external_url = c.external_url();
  o.external_account_required.assign(c.external_account_required().begin(),
                                     c.external_account_required().end());
  o.default_role = c.default_role();
  o.terms_of_service = c.terms_of_service();
  o.order_lifetime = ToDuration(c.order_lifetime());
  o.max_identifiers = c.max_identifiers();
  o.max_orders_per_account = c.max_orders_per_account();
  o.account_requests_per_second = c.account_requests_per_second();
  o.source_requests_per_second = c.source_requests_per_second();
  return o;
}

}  // namespace

AcmeServer::AcmeServer(const v1::PkiConfig& pki, pki::Ca* ca, kms::Storage* storage,
                       kms::Barrier* barrier)
    : store_(storage, StoreOptions(pki.acme())),
      validator_(ValidationOptions(pki.acme())),
      validations_(&store_, &validator_, static_cast<int>(pki.acme().validation_workers()),
                   pki.acme().validation_queue(), ToDuration(pki.acme().validation_timeout())),
      external_accounts_(&store_, barrier, ToDuration(pki.acme().eab_key_lifetime())),
      service_(ca, &store_, &validations_, &external_accounts_, ServiceOptions(pki)) {}

}  // namespace strongroom::server::acme
