#include "tools/cli/testing/tls_server.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::cli::testing {
namespace {

using hsm::BioPtr;
using hsm::EvpPkeyPtr;
using hsm::X509Ptr;

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, len);
}

}  // namespace

Identity SelfSigned(const std::string& cn, const std::string& san) {
  Identity out;
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (key == nullptr || cert == nullptr) {
    ADD_FAILURE() << "OpenSSL key or certificate allocation failed";
    return out;
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [ext_name, value] : {std::pair<const char*, std::string>{"subjectAltName", san},
                                        {"basicConstraints", "critical,CA:FALSE"},
                                        {"keyUsage", "critical,digitalSignature"},
                                        {"extendedKeyUsage", "serverAuth,clientAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf(nullptr, &ctx, ext_name, value.c_str());
    EXPECT_NE(ext, nullptr) << ext_name;
    if (ext != nullptr) {
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_X509(cert_bio.get(), cert.get()), 1);
  EXPECT_EQ(
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  out.cert_pem = BioContents(cert_bio.get());
  out.key_pem = BioContents(key_bio.get());
  return out;
}

Identity LocalhostIdentity() {
  return SelfSigned("localhost", "DNS:localhost,IP:127.0.0.1,IP:::1");
}

std::string WriteTestFile(const std::string& name, const std::string& contents) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  file.close();
  EXPECT_TRUE(file.good()) << "cannot write " << path;
  return path;
}

TlsTestServer::TlsTestServer(const Identity& identity, grpc::Service* service,
                             const std::string& client_ca, int max_receive_bytes) {
  grpc::SslServerCredentialsOptions ssl(
      client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = client_ca;
  ssl.pem_key_cert_pairs.push_back({identity.key_pem, identity.cert_pem});
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port_);
  builder.RegisterService(service);
  if (max_receive_bytes > 0) builder.SetMaxReceiveMessageSize(max_receive_bytes);
  server_ = builder.BuildAndStart();
}

TlsTestServer::~TlsTestServer() {
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now()));
}

std::string TlsTestServer::addr() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace strongroom::cli::testing
