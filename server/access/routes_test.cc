// Every method of every gRPC service strongroomd serves is in the route table, and every
// gRPC route in the table names a real method. (HTTP routes are registered only through
// Strongroomd::Protect, which refuses to start with a route missing from the table; the
// Vault API's routes are checked here too.)
#include "server/access/routes.h"

#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "kubernetes/kms/v2/kms.pb.h"
#include "server/access/http_gate.h"
#include "server/http/vault/vault_api.h"
#include "strongroom/v1/auth.pb.h"
#include "strongroom/v1/pki.pb.h"
#include "strongroom/v1/system.pb.h"
#include "strongroom/v1/transit.pb.h"

namespace strongroom::server::access {
namespace {

// The services strongroomd registers (kept honest by linking their generated code).
const google::protobuf::ServiceDescriptor* Service(const google::protobuf::Descriptor* message,
                                                   const char* name) {
  const google::protobuf::ServiceDescriptor* service = message->file()->FindServiceByName(name);
  if (service == nullptr) std::abort();
  return service;
}
const google::protobuf::ServiceDescriptor* const kKmsPlugin =
    Service(::v2::StatusRequest::descriptor(), "KeyManagementService");
const google::protobuf::ServiceDescriptor* const kServices[] = {
    Service(v1::EncryptRequest::descriptor(), "Transit"),
    Service(v1::Role::descriptor(), "Pki"),
    Service(v1::SealRequest::descriptor(), "System"),
    Service(v1::WhoAmIRequest::descriptor(), "Auth"),
    kKmsPlugin,
};
// Served by gRPC's own health and reflection services.
const char* const kBuiltInMethods[] = {
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
};

TEST(RoutesTest, EveryServedMethodIsMapped) {
  int methods = 0;
  for (const auto* service : kServices) {
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string name =
          absl::StrCat("/", service->full_name(), "/", service->method(i)->name());
      EXPECT_NE(FindRoute(name), nullptr) << name << " is not in server/access/routes.cc";
      ++methods;
    }
  }
  EXPECT_GT(methods, 40);
  for (const char* name : kBuiltInMethods) EXPECT_NE(FindRoute(name), nullptr) << name;
}

TEST(RoutesTest, EveryGrpcRouteIsARealMethod) {
  std::set<std::string> real(std::begin(kBuiltInMethods), std::end(kBuiltInMethods));
  for (const auto* service : kServices) {
    for (int i = 0; i < service->method_count(); ++i) {
      real.insert(absl::StrCat("/", service->full_name(), "/", service->method(i)->name()));
    }
  }
  std::set<std::string> seen;
  for (const Route& route : AllRoutes()) {
    EXPECT_TRUE(seen.insert(std::string(route.name)).second) << "duplicate " << route.name;
    if (route.name == kUnknownGrpcMethod || route.name == kUnroutedHttp) {
      // The catch-alls: UnknownGrpcMethods, HttpRouter::HandleUnrouted.
    } else if (absl::StartsWith(route.name, "/")) {
      EXPECT_TRUE(real.count(std::string(route.name))) << route.name << " is not a served method";
    } else {
      EXPECT_TRUE(absl::StartsWith(route.name, "GET /") || absl::StartsWith(route.name, "POST /") ||
                  absl::StartsWith(route.name, "PUT /") ||
                  absl::StartsWith(route.name, "DELETE /") ||
                  absl::StartsWith(route.name, "LIST /") ||
                  absl::StartsWith(route.name, "HEAD /"))
          << route.name;
    }
    EXPECT_FALSE(route.resource.empty()) << route.name;
  }
}

TEST(RoutesTest, EveryVaultRouteIsMapped) {
  vault::VaultApi api(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  std::vector<vault::VaultRoute> routes = api.Routes();
  EXPECT_GT(routes.size(), 10u);
  for (const vault::VaultRoute& route : routes) {
    const std::string name = api.RouteName(route);
    EXPECT_NE(FindRoute(name), nullptr) << name << " is not in server/access/routes.cc";
  }
}

// A route that never blocks runs on the HTTP server's I/O thread: each is a public HTTP
// route (the gate examines no credentials) answered once written; the list is deliberate.
TEST(RoutesTest, OnlyHealthAndSealStatusNeverBlock) {
  std::set<std::string> never_blocks;
  for (const Route& route : AllRoutes()) {
    if (!route.never_blocks) continue;
    never_blocks.insert(std::string(route.name));
    EXPECT_EQ(route.operation, Operation::kPublic) << route.name;
    EXPECT_EQ(route.reply_after, ReplyAfter::kWritten) << route.name;
  }
  EXPECT_EQ(never_blocks,
            (std::set<std::string>{"GET /v1/sys/health", "GET /v1/sys/seal-status"}));
}

// Marked or not, a route that takes credentials or resource params runs on a worker: the
// gate's token check and the params may block.
TEST(RoutesTest, OnlyPublicRoutesWithoutParamsRunInline) {
  const Route& health = *FindRoute("GET /v1/sys/health");
  EXPECT_EQ(RunsOf(health), HandlerRuns::kInline);
  EXPECT_EQ(RunsOf(health, [](const HttpRequest&) {
              return std::map<std::string, std::string>();
            }),
            HandlerRuns::kWorker);
  Route gated = *FindRoute("POST /v1/{mount}/encrypt/{key}");
  EXPECT_EQ(RunsOf(gated), HandlerRuns::kWorker);
  gated.never_blocks = true;
  EXPECT_EQ(RunsOf(gated), HandlerRuns::kWorker);
  Route public_route = *FindRoute("GET /v1/pki/ca");
  EXPECT_EQ(RunsOf(public_route), HandlerRuns::kWorker);
}

// A reply may leave before its audit line is durable only on a public route (one that signs
// nothing for the request, touches no key, token or state and reveals nothing secret); OCSP
// answers so only when its answer was pre-signed, and waits for durable when it signed.
TEST(RoutesTest, OnlyPublicRoutesReplyBeforeDurable) {
  int early = 0;
  for (const Route& route : AllRoutes()) {
    if (route.reply_after == ReplyAfter::kDurable) {
      EXPECT_EQ(ReplyDurability(route, false), audit::Durability::kDurable) << route.name;
      EXPECT_EQ(ReplyDurability(route, true), audit::Durability::kDurable) << route.name;
      continue;
    }
    ++early;
    EXPECT_EQ(route.operation, Operation::kPublic) << route.name;
  }
  EXPECT_GT(early, 10);
  for (const char* name :
       {"POST /v1/pki/ocsp", "GET /v1/pki/ocsp/{request...}", "POST /v1/pki/{issuer}/ocsp",
        "GET /v1/pki/{issuer}/ocsp/{request...}"}) {
    const Route* route = FindRoute(name);
    ASSERT_NE(route, nullptr) << name;
    EXPECT_EQ(ReplyDurability(*route, /*presigned=*/true), audit::Durability::kWritten) << name;
    EXPECT_EQ(ReplyDurability(*route, /*presigned=*/false), audit::Durability::kDurable) << name;
  }
  const Route* health = FindRoute("GET /v1/sys/health");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(ReplyDurability(*health, false), audit::Durability::kWritten);
  const Route* sign = FindRoute("POST /v1/pki/sign/{role}");
  ASSERT_NE(sign, nullptr);
  EXPECT_EQ(ReplyDurability(*sign, true), audit::Durability::kDurable);
}

TEST(RoutesTest, ResourceFieldsExistInRequests) {
  for (const auto* service : kServices) {
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* method = service->method(i);
      const Route* route = FindRoute(absl::StrCat("/", service->full_name(), "/", method->name()));
      if (route == nullptr || service == kKmsPlugin) continue;
      ExpandResource(route->resource, [&](absl::string_view field) {
        EXPECT_NE(method->input_type()->FindFieldByName(std::string(field)), nullptr)
            << route->name << ": request has no field " << field;
        return std::string();
      });
    }
  }
}


// A policy sees the object the engine will act on: serials in every spelling the PKI engine
// takes become its one stored form; names the engines take only verbatim stay verbatim.
TEST(CanonicalResourceTest, SerialsTakeTheEnginesForm) {
  EXPECT_EQ(CanonicalResource("pki/certs/4370DC9A"), "pki/certs/4370dc9a");
  EXPECT_EQ(CanonicalResource("pki/certs/43:70:dc:9A"), "pki/certs/4370dc9a");
  EXPECT_EQ(CanonicalResource("pki/certs/00-43-70"), "pki/certs/4370");
  EXPECT_EQ(CanonicalResource("pki/certs/4370dc9a"), "pki/certs/4370dc9a");
  // Not a serial: the engine refuses it, so it stays as sent (and matches no serial rule).
  EXPECT_EQ(CanonicalResource("pki/certs/xyz"), "pki/certs/xyz");
  EXPECT_EQ(CanonicalResource("pki/certs/"), "pki/certs/");
  EXPECT_EQ(CanonicalResource("pki/certs"), "pki/certs");
  for (const char* verbatim : {"transit/keys/Payments-Cards", "pki/roles/Web", "pki/issuers/CA",
                               "auth/tokens/ABCDEF", "sys/seal", "http/v1/PKI/certs/AB"}) {
    EXPECT_EQ(CanonicalResource(verbatim), verbatim);
  }
}

// Every resource a route names is of a kind whose engine form CanonicalResource knows: a new
// kind must be added there (and here) deliberately.
TEST(CanonicalResourceTest, EveryRouteResourceIsAKnownKind) {
  const std::set<std::string> kinds = {
      "transit/keys/{",  // keyring: names as given, [A-Za-z0-9._-], case-sensitive
      "pki/roles/{",     // pki::Ca: names as given, case-sensitive
      "pki/issuers/{",   // pki::Ca: names as given, case-sensitive
      "pki/certs/{",     // pki::Ca: CanonicalSerial
      "auth/tokens/{",   // TokenStore: accessors only as 32 lowercase hex digits
      "auth/jwt/roles/{",  // JwtLogin: role names only as [A-Za-z0-9._-], case-sensitive
      "grpc{",           // unknown methods, refused
      "http{",           // unrouted HTTP requests, refused
  };
  for (const Route& route : AllRoutes()) {
    const size_t brace = route.resource.find('{');
    if (brace == absl::string_view::npos) continue;  // a fixed resource
    EXPECT_TRUE(kinds.count(std::string(route.resource.substr(0, brace + 1))))
        << route.name << ": " << route.resource;
  }
}

}  // namespace
}  // namespace strongroom::server::access
