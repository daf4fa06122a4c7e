#include "tests/testing/strongroomd.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace strongroom::testing {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int PortAfter(const std::string& text, const std::string& marker) {
  size_t at = text.find(marker);
  if (at == std::string::npos) return 0;
  at += marker.size();
  size_t end = text.find_first_not_of("0123456789", at);
  int port = 0;
  return absl::SimpleAtoi(text.substr(at, end - at), &port) ? port : 0;
}

int WaitForPort(Process& server, const std::string& marker) {
  if (!server.WaitForOutput(marker)) return 0;
  return PortAfter(server.output(), marker);
}

StrongroomdPorts StartStrongroomd(Process& server, const std::string& config, bool http) {
  StrongroomdPorts ports;
  if (!server.Start({Runfile("server/strongroomd"), "--config", config})) return ports;
  ports.grpc = WaitForPort(server, kGrpcListening);
  if (http) ports.http = WaitForPort(server, kHttpListening);
  return ports;
}

std::string ServerCert(const std::string& state_dir) { return state_dir + "/tls/server.crt"; }

std::string RootToken(const std::string& state_dir) {
  return std::string(absl::StripTrailingAsciiWhitespace(ReadAll(state_dir + "/root-token")));
}

std::shared_ptr<grpc::Channel> ServerChannel(const std::string& state_dir, int port,
                                             const std::string& token,
                                             const std::string& client_cert_pem,
                                             const std::string& client_key_pem) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(ServerCert(state_dir));
  ssl.pem_cert_chain = client_cert_pem;
  ssl.pem_private_key = client_key_pem;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (!token.empty()) {
    creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(token));
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), creds, args);
}

}  // namespace strongroom::testing
