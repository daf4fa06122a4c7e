// PkiApi over the real CA (SoftHSM + SQLite + the HSM provider), called through an
// HttpRouter with no network. Each handler runs behind a stand-in for the access gate that
// does what the gate does before a handler (the route's resource from the path and the
// route's resource_params; the policy check) without its audit log, so the tests also show
// that the routes' operations and resources, and the caller-rights rule, hold over HTTP.
// Certificates are checked with the openssl CLI.
#include "server/http/vault/pki.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/sqlite_storage.h"
#include "server/http/vault/testing_hsm.h"
#include "server/access/http_gate.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "server/access/routes.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using hsm::testing::RunCommand;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  Struct json;

  Value At(const std::string& path) const {
    Value v;
    *v.mutable_struct_value() = json;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
      Value next;
      if (v.has_struct_value() && v.struct_value().fields().count(part)) {
        next = v.struct_value().fields().at(part);
      } else if (v.has_list_value() && !part.empty() && std::isdigit(part[0]) &&
                 std::stoi(part) < v.list_value().values_size()) {
        next = v.list_value().values(std::stoi(part));
      } else {
        return Value();
      }
      v = next;
      if (dot == std::string::npos) return v;
      start = dot + 1;
    }
  }
  std::string Str(const std::string& path) const { return At(path).string_value(); }
  double Num(const std::string& path) const { return At(path).number_value(); }
  std::vector<std::string> Strings(const std::string& path) const {
    std::vector<std::string> out;
    const Value list = At(path);
    for (const Value& v : list.list_value().values()) out.push_back(v.string_value());
    return out;
  }
};

void AddPolicy(v1::AuthConfig* config, const std::string& name,
               std::vector<std::pair<std::string, std::vector<std::string>>> rules) {
  v1::Policy* policy = config->add_policies();
  policy->set_name(name);
  for (auto& [resource, operations] : rules) {
    v1::PolicyRule* rule = policy->add_rules();
    rule->set_resource(resource);
    for (const std::string& op : operations) rule->add_operations(op);
  }
}

std::string Tmp(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string Write(const std::string& name, const std::string& content) {
  std::string path = Tmp(name);
  EXPECT_TRUE(hsm::testing::WriteFile(path, content, 0644).ok());
  return path;
}

// A PEM CSR made by openssl for `subject` (e.g. "/CN=api.example.com").
std::string OpensslCsr(const std::string& name, const std::string& subject,
                       const std::string& extra = "") {
  std::string key = Tmp(name + ".key"), csr = Tmp(name + ".csr");
  auto r = RunCommand(absl::StrCat("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                                   "-nodes -keyout ", key, " -out ", csr, " -subj ", subject, " ",
                                   extra, " 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return RunCommand(absl::StrCat("cat ", csr)).output;
}

class PkiApiTest : public testing::HsmStorageTest {
 protected:
  static void SetUpTestSuite() {
    if (provider_ != nullptr) return;
    ASSERT_NO_FATAL_FAILURE(SetUpHsm("pki-api"));
    auto provider = hsm::HsmProvider::Load(hsm_);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = provider->release();
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NewStorage("pki-"));
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    pki::CaOptions options;
    options.base_url = "https://ca.test:7401";
    ca_ = std::make_unique<pki::Ca>(hsm_, provider_, storage_.get(), barrier_.get(), options);

    v1::AuthConfig config;
    AddPolicy(&config, "admin", {{"*", {"*"}}});
    // May issue through role "web" and read roles, but holds no right on any issuer.
    AddPolicy(&config, "web-only", {{"pki/roles/web", {"pki.issue", "read"}},
                                    {"pki/roles", {"read"}}});
    AddPolicy(&config, "web-issuer", {{"pki/roles/web", {"pki.issue", "pki.sign"}},
                                      {"pki/issuers/default", {"pki.issue", "pki.sign"}}});
    AddPolicy(&config, "revoke-one", {{"pki/certs/01", {"pki.revoke"}}});
    auto policies = access::PolicySet::Compile(config, "");
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = *std::move(policies);

    api_ = std::make_unique<PkiApi>(ca_.get(), [this] { return policies_; });
    Serve(*api_, &router_);
    As({"admin"});
  }

  // Registers `api`'s routes on `router`, each behind the stand-in for the gate.
  void Serve(const PkiApi& api, HttpRouter* router) {
    for (VaultRoute& route : api.Routes()) {
      const access::Route* table =
          access::FindRoute(absl::StrCat(route.method, " ", api.TablePattern(route.pattern)));
      ASSERT_NE(table, nullptr) << route.method << " " << route.pattern;
      router->Handle(route.method, route.pattern,
                     [this, table, handler = route.handler,
                      body = route.resource_params](const HttpRequest& request) {
                       absl::StatusOr<std::map<std::string, std::string>> from_body =
                           body ? body(request) : std::map<std::string, std::string>();
                       if (!from_body.ok()) return JsonError(400, "bad body");
                       std::string resource =
                           access::ExpandResource(table->resource, [&](absl::string_view name) {
                             auto it = request.path_params.find(std::string(name));
                             if (it != request.path_params.end()) return it->second;
                             auto found = from_body->find(std::string(name));
                             return found == from_body->end() ? std::string() : found->second;
                           });
                       absl::Status allowed = policies_->Check(
                           caller_, table->operation, access::CanonicalResource(resource));
                       if (!allowed.ok()) return JsonError(403, "permission denied");
                       HttpRequest admitted = request;
                       admitted.path_params.insert(from_body->begin(), from_body->end());
                       admitted.principal = &caller_;
                       return handler(admitted);
                     });
    }
  }

  void As(std::vector<std::string> policies) {
    caller_.kind = access::Principal::Kind::kToken;
    caller_.identity = "token:test";
    caller_.policies = std::move(policies);
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    size_t q = path.find('?');
    request.path = path.substr(0, q);
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      size_t eq = query.find('=');
      request.params.emplace(query.substr(0, eq), query.substr(eq + 1));
    }
    request.body = body;
    HttpResponse response = router_.Route(request);
    Reply reply;
    reply.status = response.status;
    reply.content_type = response.content_type;
    reply.body = response.body;
    if (response.content_type == "application/json" && !response.body.empty()) {
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body, &reply.json).ok())
          << response.body;
    }
    return reply;
  }

  // The default issuer as a root, and role "web" for *.example.com.
  void RootAndRole() {
    Reply root = Call("POST", "/v1/pki/root/generate/internal",
                      R"({"common_name":"Test Root","key_type":"ec","ttl":"8760h"})");
    ASSERT_EQ(root.status, 200) << root.body;
    Reply role = Call("POST", "/v1/pki/roles/web",
                      R"({"allowed_domains":"example.com","allow_subdomains":true,)"
                      R"("key_type":"ec","max_ttl":"8760h"})");
    ASSERT_EQ(role.status, 200) << role.body;
  }

  // `openssl verify` of `cert_pem` against the chain `chain_pems` (root last).
  static std::string Verify(const std::string& cert_pem, const std::vector<std::string>& chain) {
    std::string root = Write("root.pem", chain.back());
    std::string untrusted;
    for (size_t i = 0; i + 1 < chain.size(); ++i) untrusted += chain[i];
    std::string args = absl::StrCat("-CAfile ", root);
    if (!untrusted.empty()) absl::StrAppend(&args, " -untrusted ", Write("mid.pem", untrusted));
    auto r = RunCommand(absl::StrCat("openssl verify ", args, " ", Write("leaf.pem", cert_pem),
                                     " 2>&1"));
    return r.exit_code == 0 ? "OK" : r.output;
  }

  static inline hsm::HsmProvider* provider_ = nullptr;
  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<pki::Ca> ca_;
  std::shared_ptr<const access::PolicySet> policies_;
  std::unique_ptr<PkiApi> api_;
  HttpRouter router_;
  access::Principal caller_;
};


TEST_F(PkiApiTest, GenerateRootThenDocumentsOfTheDefaultIssuer) {
  EXPECT_EQ(Call("GET", "/v1/pki/ca/pem").status, 404);
  Reply root = Call("PUT", "/v1/pki/root/generate/internal",
                    R"({"common_name":"Test Root","key_type":"rsa","key_bits":3072})");
  ASSERT_EQ(root.status, 200) << root.body;
  EXPECT_EQ(root.Str("data.issuer_name"), "default");
  EXPECT_EQ(root.Str("data.issuing_ca"), root.Str("data.certificate"));
  EXPECT_THAT(root.Str("data.serial_number"), ::testing::MatchesRegex("([0-9a-f]{2}:)*[0-9a-f]{2}"));
  EXPECT_GT(root.Num("data.expiration"), absl::ToUnixSeconds(absl::Now()));

  Reply pem = Call("GET", "/v1/pki/ca/pem");
  EXPECT_EQ(pem.status, 200);
  EXPECT_EQ(pem.body, root.Str("data.certificate"));
  // Vault's special serials: the same documents in cert/{serial}'s JSON shape.
  Reply cert_ca = Call("GET", "/v1/pki/cert/ca");
  ASSERT_EQ(cert_ca.status, 200) << cert_ca.body;
  EXPECT_EQ(cert_ca.Str("data.certificate"), pem.body);
  EXPECT_EQ(Call("GET", "/v1/pki/cert/ca_chain").Str("data.certificate"), pem.body);
  Reply cert_crl = Call("GET", "/v1/pki/cert/crl");
  ASSERT_EQ(cert_crl.status, 200) << cert_crl.body;
  EXPECT_EQ(cert_crl.Str("data.certificate"), Call("GET", "/v1/pki/crl/pem").body);
  EXPECT_THAT(cert_crl.Str("data.certificate"), HasSubstr("BEGIN X509 CRL"));
  auto text = RunCommand(absl::StrCat("openssl x509 -noout -text -in ", Write("ca.pem", pem.body)));
  EXPECT_THAT(text.output, HasSubstr("CN = Test Root"));
  EXPECT_THAT(text.output, HasSubstr("3072 bit"));
  Reply der = Call("GET", "/v1/pki/ca");
  EXPECT_EQ(der.content_type, "application/pkix-cert");
  auto from_der = RunCommand(absl::StrCat("openssl x509 -inform DER -noout -subject -in ",
                                          Write("ca.der", der.body)));
  EXPECT_THAT(from_der.output, HasSubstr("Test Root"));
  EXPECT_EQ(Call("GET", "/v1/pki/ca_chain").body, pem.body);
  Reply crl = Call("GET", "/v1/pki/crl/pem");
  EXPECT_EQ(crl.status, 200);
  auto crl_check = RunCommand(absl::StrCat("openssl crl -noout -CAfile ", Write("ca2.pem", pem.body),
                                           " -in ", Write("crl.pem", crl.body), " 2>&1"));
  EXPECT_THAT(crl_check.output, HasSubstr("verify OK"));
  Reply config = Call("GET", "/v1/pki/config/issuers");
  EXPECT_EQ(config.Str("data.default"), "default");

  // A second root under the same name is refused; an exported one always is.
  EXPECT_EQ(Call("POST", "/v1/pki/root/generate/internal", R"({"common_name":"Again"})").status, 400);
  Reply exported = Call("POST", "/v1/pki/root/generate/exported", R"({"common_name":"X"})");
  EXPECT_EQ(exported.status, 400);
  EXPECT_THAT(exported.body, HasSubstr("never leave"));
  EXPECT_EQ(Call("POST", "/v1/pki/root/generate/internal",
                 R"({"issuer_name":"other","common_name":"X","key_type":"any"})")
                .status,
            400);
}

TEST_F(PkiApiTest, RolesReadWriteListDeleteInVaultsFields) {
  ASSERT_NO_FATAL_FAILURE(RootAndRole());
  Reply role = Call("GET", "/v1/pki/roles/web");
  ASSERT_EQ(role.status, 200) << role.body;
  EXPECT_THAT(role.Strings("data.allowed_domains"), ElementsAre("example.com"));
  EXPECT_TRUE(role.At("data.allow_subdomains").bool_value());
  EXPECT_TRUE(role.At("data.allow_localhost").bool_value());  // Vault's default
  EXPECT_TRUE(role.At("data.server_flag").bool_value());
  EXPECT_EQ(role.Str("data.key_type"), "ec");
  EXPECT_EQ(role.Num("data.key_bits"), 256);
  EXPECT_EQ(role.Num("data.max_ttl"), 8760 * 3600);
  EXPECT_EQ(role.Str("data.issuer_ref"), "default");

  // Unknown or unsupported fields are refused by name, not ignored.
  Reply unknown = Call("POST", "/v1/pki/roles/api",
                       R"({"allowed_domains":["example.com"],"allow_any_name":true})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("allow_any_name"));
  EXPECT_EQ(Call("POST", "/v1/pki/roles/api", R"({"key_type":"ed25519"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/pki/roles/api", R"({"name":"other"})").status, 400);
  Reply missing = Call("POST", "/v1/pki/roles/api", R"({"issuer_ref":"missing"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_THAT(missing.body, HasSubstr("missing"));
  ASSERT_EQ(Call("PUT", "/v1/pki/roles/api", R"({"name":"api","allowed_domains":"api.example"})")
                .status,
            200);

  Reply list = Call("LIST", "/v1/pki/roles");
  EXPECT_THAT(list.Strings("data.keys"), ElementsAre("api", "web"));
  EXPECT_EQ(Call("GET", "/v1/pki/roles?list=true").Strings("data.keys"), list.Strings("data.keys"));
  EXPECT_EQ(Call("GET", "/v1/pki/roles").status, 405);
  // A caller sees only the roles it may read.
  As({"web-only"});
  EXPECT_THAT(Call("LIST", "/v1/pki/roles").Strings("data.keys"), ElementsAre("web"));
  As({"admin"});

  EXPECT_EQ(Call("DELETE", "/v1/pki/roles/api").status, 204);
  EXPECT_EQ(Call("GET", "/v1/pki/roles/api").status, 404);
}

TEST_F(PkiApiTest, IssueSignRevokeAndTheCrl) {
  ASSERT_NO_FATAL_FAILURE(RootAndRole());
  const std::string root_pem = Call("GET", "/v1/pki/ca/pem").body;

  Reply issued = Call("POST", "/v1/pki/issue/web",
                      R"({"common_name":"a.example.com","alt_names":"b.example.com",)"
                      R"("ip_sans":[],"ttl":"2h0m0s"})");
  ASSERT_EQ(issued.status, 200) << issued.body;
  EXPECT_THAT(issued.Str("data.private_key"), HasSubstr("PRIVATE KEY"));
  EXPECT_EQ(issued.Str("data.private_key_type"), "ec");
  EXPECT_EQ(issued.Str("data.issuing_ca"), root_pem);
  EXPECT_THAT(issued.Strings("data.ca_chain"), ElementsAre(root_pem));
  EXPECT_NEAR(issued.Num("data.expiration"), absl::ToUnixSeconds(absl::Now()) + 7200, 120);
  EXPECT_EQ(Verify(issued.Str("data.certificate"), {root_pem}), "OK");
  auto text = RunCommand(absl::StrCat("openssl x509 -noout -text -in ",
                                      Write("issued.pem", issued.Str("data.certificate"))));
  EXPECT_THAT(text.output, HasSubstr("DNS:b.example.com"));
  // pem_bundle: the key ahead of the certificate (the issuer is a self-signed root: no CA).
  Reply bundled = Call("POST", "/v1/pki/issue/web",
                       R"({"common_name":"c.example.com","format":"pem_bundle"})");
  ASSERT_EQ(bundled.status, 200) << bundled.body;
  const std::string bundle = bundled.Str("data.certificate");
  EXPECT_EQ(bundle.find(bundled.Str("data.private_key")), 0u) << bundle;
  EXPECT_THAT(bundle, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_EQ(bundle.find(root_pem), std::string::npos);
  EXPECT_EQ(Verify(bundle.substr(bundle.find("-----BEGIN CERTIFICATE")), {root_pem}), "OK");
  EXPECT_EQ(Call("POST", "/v1/pki/issue/web", R"({"common_name":"d.example.com","format":"der"})")
                .status,
            400);

  // cert-manager's request: a CSR, its names as comma-separated strings, a Go duration.
  const std::string csr = OpensslCsr("cm", "/CN=api.example.com");
  Struct sign_body;
  (*sign_body.mutable_fields())["csr"].set_string_value(csr);
  (*sign_body.mutable_fields())["common_name"].set_string_value("api.example.com");
  (*sign_body.mutable_fields())["alt_names"].set_string_value("api.example.com,www.example.com");
  (*sign_body.mutable_fields())["ip_sans"].set_string_value("");
  (*sign_body.mutable_fields())["uri_sans"].set_string_value("");
  (*sign_body.mutable_fields())["ttl"].set_string_value("2160h0m0s");
  (*sign_body.mutable_fields())["exclude_cn_from_sans"].set_string_value("true");
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(sign_body, &json).ok());
  Reply signed_cert = Call("POST", "/v1/pki/sign/web", json);
  ASSERT_EQ(signed_cert.status, 200) << signed_cert.body;
  EXPECT_EQ(Verify(signed_cert.Str("data.certificate"), {root_pem}), "OK");
  EXPECT_FALSE(signed_cert.At("data").struct_value().fields().count("private_key"));
  auto signed_text = RunCommand(absl::StrCat("openssl x509 -noout -text -in ",
                                             Write("signed.pem", signed_cert.Str("data.certificate"))));
  EXPECT_THAT(signed_text.output, HasSubstr("DNS:www.example.com"));
  EXPECT_EQ(Call("POST", "/v1/pki/sign/web", R"({"common_name":"x.example.com"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/pki/sign/web", R"({"csr":"x","other_sans":"1.2.3;UTF8:x"})").status,
            400);

  // Names outside the role are refused.
  EXPECT_EQ(Call("POST", "/v1/pki/issue/web", R"({"common_name":"evil.test"})").status, 403);

  const std::string serial = issued.Str("data.serial_number");
  Reply listed = Call("LIST", "/v1/pki/certs");
  EXPECT_THAT(listed.Strings("data.keys"), ::testing::Contains(serial));
  EXPECT_EQ(Call("GET", "/v1/pki/certs").status, 405);
  Reply read = Call("GET", absl::StrCat("/v1/pki/cert/", serial));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.Str("data.certificate"), issued.Str("data.certificate"));
  EXPECT_EQ(read.Num("data.revocation_time"), 0);

  Reply revoked = Call("POST", "/v1/pki/revoke", absl::StrCat(R"({"serial_number":")", serial, "\"}"));
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_NEAR(revoked.Num("data.revocation_time"), absl::ToUnixSeconds(absl::Now()), 60);
  EXPECT_GT(Call("GET", absl::StrCat("/v1/pki/cert/", serial)).Num("data.revocation_time"), 0);
  EXPECT_EQ(Call("POST", "/v1/pki/revoke", "{}").status, 400);

  const std::string crl = Call("GET", "/v1/pki/crl/pem").body;
  auto crl_text = RunCommand(absl::StrCat("openssl crl -noout -text -in ", Write("r.crl", crl)));
  std::string bare = serial;
  bare.erase(std::remove(bare.begin(), bare.end(), ':'), bare.end());
  EXPECT_THAT(absl::AsciiStrToLower(crl_text.output), HasSubstr(bare));
  auto verify_crl = RunCommand(absl::StrCat("openssl verify -crl_check -CAfile ",
                                            Write("root2.pem", root_pem), " -CRLfile ",
                                            Write("r2.crl", crl), " ",
                                            Write("issued2.pem", issued.Str("data.certificate")),
                                            " 2>&1"));
  EXPECT_NE(verify_crl.exit_code, 0);
  EXPECT_THAT(verify_crl.output, HasSubstr("revoked"));
}

TEST_F(PkiApiTest, IntermediateSignedByARootAndSetSigned) {
  Reply root = Call("POST", "/v1/pki/root/generate/internal",
                    R"({"issuer_name":"root","common_name":"Root CA","key_type":"ec"})");
  ASSERT_EQ(root.status, 200) << root.body;
  Reply mid = Call("POST", "/v1/pki/intermediate/generate/internal",
                   R"({"common_name":"Issuing CA","key_type":"ec","key_bits":384})");
  ASSERT_EQ(mid.status, 200) << mid.body;
  EXPECT_EQ(mid.Str("data.issuer_name"), "default");
  EXPECT_THAT(mid.Str("data.csr"), HasSubstr("CERTIFICATE REQUEST"));

  Struct body;
  (*body.mutable_fields())["csr"].set_string_value(mid.Str("data.csr"));
  (*body.mutable_fields())["common_name"].set_string_value("Issuing CA");
  (*body.mutable_fields())["issuer_ref"].set_string_value("root");
  (*body.mutable_fields())["max_path_length"].set_number_value(-1);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(body, &json).ok());
  // Without issuer_ref it is the default issuer, which has no certificate yet.
  EXPECT_EQ(Call("POST", "/v1/pki/root/sign-intermediate",
                 absl::StrCat(R"({"csr":)", absl::StrCat("\"", "x", "\""), "}"))
                .status,
            400);
  Reply wrong_cn = Call("POST", "/v1/pki/issuer/root/sign-intermediate",
                        absl::StrReplaceAll(json, {{"\"issuer_ref\":\"root\",", ""},
                                                   {"Issuing CA\"", "Other\""}}));
  EXPECT_EQ(wrong_cn.status, 400) << wrong_cn.body;
  Reply signed_mid = Call("POST", "/v1/pki/root/sign-intermediate", json);
  ASSERT_EQ(signed_mid.status, 200) << signed_mid.body;

  // hvac's set_signed_intermediate sends the certificate alone.
  Struct set;
  (*set.mutable_fields())["certificate"].set_string_value(signed_mid.Str("data.certificate"));
  json.clear();  // MessageToJsonString appends
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(set, &json).ok());
  Reply installed = Call("POST", "/v1/pki/intermediate/set-signed", json);
  ASSERT_EQ(installed.status, 200) << installed.body;
  EXPECT_THAT(installed.Strings("data.imported_issuers"), ElementsAre("default"));

  Reply issuers = Call("LIST", "/v1/pki/issuers");
  EXPECT_THAT(issuers.Strings("data.keys"), ElementsAre("default", "root"));
  EXPECT_TRUE(issuers.At("data.key_info.default.is_default").bool_value());
  Reply issuer = Call("GET", "/v1/pki/issuer/default");
  EXPECT_EQ(issuer.Num("data.key_bits"), 384);
  std::vector<std::string> chain = issuer.Strings("data.ca_chain");
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[1], root.Str("data.certificate"));
  EXPECT_EQ(Call("GET", "/v1/pki/issuer/none").status, 404);

  ASSERT_EQ(Call("POST", "/v1/pki/roles/web", R"({"allowed_domains":"example.com",)"
                                               R"("allow_subdomains":true,"key_type":"ec"})")
                .status,
            200);
  Reply leaf = Call("POST", "/v1/pki/issue/web", R"({"common_name":"a.example.com"})");
  ASSERT_EQ(leaf.status, 200) << leaf.body;
  EXPECT_EQ(leaf.Strings("data.ca_chain"), chain);
  EXPECT_EQ(Verify(leaf.Str("data.certificate"), chain), "OK");
  EXPECT_EQ(Call("GET", "/v1/pki/ca_chain").body, absl::StrJoin(chain, ""));
}

// Under another mount (pki.mount) the same routes answer there, each listed in routes.cc
// under its default-mount name.
TEST_F(PkiApiTest, AnotherMount) {
  PkiApi other(ca_.get(), [this] { return policies_; }, "pki-int");
  for (const VaultRoute& route : other.Routes()) {
    EXPECT_EQ(route.pattern.rfind("/v1/pki-int/", 0), 0u) << route.pattern;
  }
  HttpRouter router;
  ASSERT_NO_FATAL_FAILURE(Serve(other, &router));  // each found in routes.cc
  EXPECT_EQ(other.TablePattern("/v1/{mount}/keys/{key}"), "/v1/{mount}/keys/{key}");
  HttpRequest generate;
  generate.method = "POST";
  generate.path = "/v1/pki-int/root/generate/internal";
  generate.body = R"({"common_name":"Other Mount Root"})";
  EXPECT_EQ(router.Route(generate).status, 200);
  HttpRequest ca;
  ca.method = "GET";
  ca.path = "/v1/pki-int/ca/pem";
  HttpResponse pem = router.Route(ca);
  EXPECT_EQ(pem.status, 200);
  EXPECT_THAT(pem.body, HasSubstr("BEGIN CERTIFICATE"));
  ca.path = "/v1/pki/ca/pem";
  EXPECT_EQ(router.Route(ca).status, 404);
}

// The gate's check names the object the handler acts on, body-addressed ones included, and
// the caller-rights rule (rights on the role's issuer) holds over HTTP as over gRPC.
TEST_F(PkiApiTest, AuthorizationMatchesTheGrpcCalls) {
  ASSERT_NO_FATAL_FAILURE(RootAndRole());
  // pki.issue on the role but nothing on its issuer: refused by the caller-rights rule.
  As({"web-only"});
  Reply refused = Call("POST", "/v1/pki/issue/web", R"({"common_name":"a.example.com"})");
  EXPECT_EQ(refused.status, 403);
  EXPECT_THAT(refused.Strings("errors"), ElementsAre("permission denied"));
  As({"web-issuer"});
  Reply issued = Call("POST", "/v1/pki/issue/web", R"({"common_name":"a.example.com"})");
  ASSERT_EQ(issued.status, 200) << issued.body;
  EXPECT_EQ(Call("POST", "/v1/pki/roles/web", "{}").status, 403);
  EXPECT_EQ(Call("POST", "/v1/pki/root/generate/internal", R"({"common_name":"x"})").status, 403);
  // pki.revoke on serial 01 only: the body's serial is what the check names.
  As({"revoke-one"});
  const std::string serial = issued.Str("data.serial_number");
  EXPECT_EQ(Call("POST", "/v1/pki/revoke", absl::StrCat(R"({"serial_number":")", serial, "\"}"))
                .status,
            403);
  Reply unknown = Call("POST", "/v1/pki/revoke", R"({"serial_number":"00:01"})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;  // allowed, and no such certificate
  As({"admin"});
  EXPECT_EQ(Call("GET", absl::StrCat("/v1/pki/cert/", serial)).Num("data.revocation_time"), 0);
}

}  // namespace
}  // namespace strongroom::server::vault
