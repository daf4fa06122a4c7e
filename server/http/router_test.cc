// HttpRouter: exact routes, "{name}" and "{name...}" patterns, 404 and 405, the unrouted
// handler.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/router.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;

HttpHandler Echo(const std::string& tag) {
  return [tag](const HttpRequest& request) {
    HttpResponse response;
    response.body = tag;
    for (const auto& [k, v] : request.path_params) response.body += " " + k + "=" + v;
    return response;
  };
}

HttpResponse Call(const HttpRouter& router, const std::string& method, const std::string& path) {
  HttpRequest request;
  request.method = method;
  request.path = path;
  return router.Route(request);
}

class HttpRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Handle("GET", "/metrics", Echo("metrics"));
    router_.Handle("GET", "/v1/pki/{issuer}/ca", Echo("ca"));
    router_.Handle("POST", "/v1/pki/{issuer}/ocsp", Echo("ocsp-post"));
    router_.Handle("GET", "/v1/pki/{issuer}/ocsp/{request...}", Echo("ocsp-get"));
    router_.Handle("GET", "/v1/pki/special/ca", Echo("exact"));
  }
  HttpRouter router_;
};

TEST_F(HttpRouterTest, ExactRoute) {
  HttpResponse r = Call(router_, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "metrics");
}

TEST_F(HttpRouterTest, SegmentParameter) {
  HttpResponse r = Call(router_, "GET", "/v1/pki/root/ca");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ca issuer=root");
}

TEST_F(HttpRouterTest, ExactWinsOverPattern) {
  EXPECT_EQ(Call(router_, "GET", "/v1/pki/special/ca").body, "exact");
}

TEST_F(HttpRouterTest, RestParameterKeepsSlashes) {
  HttpResponse r = Call(router_, "GET", "/v1/pki/root/ocsp/MEMw/QTA+/PzA9==");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ocsp-get issuer=root request=MEMw/QTA+/PzA9==");
}

TEST_F(HttpRouterTest, EmptySegmentsDoNotMatch) {
  EXPECT_EQ(Call(router_, "GET", "/v1/pki//ca").status, 404);
  EXPECT_EQ(Call(router_, "GET", "/v1/pki/root/ocsp/").status, 404);
  EXPECT_EQ(Call(router_, "GET", "/v1/pki/root/ca/extra").status, 404);
  EXPECT_EQ(Call(router_, "GET", "/v1/pki/root").status, 404);
}

TEST_F(HttpRouterTest, WrongMethodOnPatternIs405) {
  HttpResponse r = Call(router_, "GET", "/v1/pki/root/ocsp");
  EXPECT_EQ(r.status, 405);
  EXPECT_THAT(r.body, HasSubstr("POST"));
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_THAT(r.headers[0].second, HasSubstr("POST"));
  EXPECT_EQ(Call(router_, "DELETE", "/metrics").status, 405);
}

TEST_F(HttpRouterTest, UnroutedAnswersAreVaultJsonErrors) {
  HttpResponse missing = Call(router_, "GET", "/nowhere");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.content_type, "application/json");
  EXPECT_EQ(missing.body, "{\"errors\":[\"unsupported path\"]}\n");
  HttpResponse wrong = Call(router_, "FROB", "/metrics");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.content_type, "application/json");
  EXPECT_EQ(wrong.body, "{\"errors\":[\"unsupported operation; allowed: GET\"]}\n");
  ASSERT_EQ(wrong.headers.size(), 1u);
  EXPECT_EQ(wrong.headers[0], std::make_pair(std::string("Allow"), std::string("GET")));
  // Nothing of the request is echoed.
  HttpResponse odd = Call(router_, "X" + std::string(500, 'Y'), "/\"" + std::string(500, 'Z'));
  EXPECT_EQ(odd.status, 404);
  EXPECT_EQ(odd.body, missing.body);
}

TEST(JsonErrors, OneMessageOrManyEscapedAsJson) {
  HttpResponse one = JsonError(400, "bad \"field\"\n");
  EXPECT_EQ(one.status, 400);
  EXPECT_EQ(one.content_type, "application/json");
  EXPECT_EQ(one.body, "{\"errors\":[\"bad \\\"field\\\"\\n\"]}\n");
  EXPECT_EQ(JsonErrors(404, {}).body, "{\"errors\":[]}\n");
  EXPECT_EQ(JsonErrors(400, {"a", "b"}).body, "{\"errors\":[\"a\",\"b\"]}\n");
}

TEST_F(HttpRouterTest, UnroutedRequestsGoThroughTheUnroutedHandler) {
  std::vector<std::string> seen;
  router_.HandleUnrouted([&seen](const HttpRequest& request, HttpResponse answer) {
    seen.push_back(
        absl::StrCat(request.method, " ", request.path_params.at("path"), " ", answer.status));
    answer.body = "seen";
    return answer;
  });
  EXPECT_EQ(Call(router_, "GET", "/nowhere").body, "seen");
  EXPECT_EQ(Call(router_, "DELETE", "/metrics").status, 405);
  EXPECT_EQ(Call(router_, "GET", "/" + std::string(1000, 'x')).status, 404);
  EXPECT_EQ(Call(router_, "GET", "/metrics").body, "metrics");  // routed: not seen
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "GET /nowhere 404");
  EXPECT_EQ(seen[1], "DELETE /metrics 405");
  EXPECT_EQ(seen[2], absl::StrCat("GET /", std::string(255, 'x'), " 404"));  // cut at 256
}

TEST_F(HttpRouterTest, ReplacesPatternHandler) {
  router_.Handle("GET", "/v1/pki/{issuer}/ca", Echo("ca2"));
  EXPECT_EQ(Call(router_, "GET", "/v1/pki/x/ca").body, "ca2 issuer=x");
}

TEST(HttpRouterPrecedence, LiteralSegmentBeatsVariableWhateverTheOrder) {
  HttpRouter router;
  router.Handle("POST", "/v1/{mount}/sign/{key}", Echo("transit"));
  router.Handle("POST", "/v1/pki/sign/{role}", Echo("pki"));
  router.Handle("POST", "/v1/{mount}/{rest...}", Echo("rest"));
  EXPECT_EQ(Call(router, "POST", "/v1/pki/sign/web").body, "pki role=web");
  EXPECT_EQ(Call(router, "POST", "/v1/transit/sign/k").body, "transit key=k mount=transit");
  EXPECT_EQ(Call(router, "POST", "/v1/transit/other/x").body, "rest mount=transit rest=other/x");
}

TEST(HttpRouterPrecedence, LeftmostLiteralDecidesThenRegistrationOrder) {
  HttpRouter router;
  router.Handle("GET", "/v1/{m}/b", Echo("var-first"));
  router.Handle("GET", "/v1/a/{x}", Echo("literal-first"));
  router.Handle("GET", "/v2/{x}", Echo("one"));
  router.Handle("GET", "/v2/{y}", Echo("two"));
  EXPECT_EQ(Call(router, "GET", "/v1/a/b").body, "literal-first x=b");
  EXPECT_EQ(Call(router, "GET", "/v2/z").body, "one x=z");
}

TEST(HttpRouterMethods, ListIsRoutedAndUnknownMethodsGet405WithAllow) {
  HttpRouter router;
  router.Handle("LIST", "/v1/{mount}/keys", Echo("list"));
  router.Handle("GET", "/v1/{mount}/keys", Echo("get"));
  EXPECT_EQ(Call(router, "LIST", "/v1/transit/keys").body, "list mount=transit");
  HttpResponse r = Call(router, "FROB", "/v1/transit/keys");
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].second, "GET, LIST");
  std::string route;
  HttpRequest request;
  request.method = "LIST";
  request.path = "/v1/transit/keys";
  router.Route(request, &route);
  EXPECT_EQ(route, "/v1/{mount}/keys");
  request.path = "/nowhere";
  router.Route(request, &route);
  EXPECT_EQ(route, HttpRouter::kUnrouted);
}


// The server's way of routing: Find, then Run, without waiting for the reply.
void RouteAsync(const HttpRouter& router, HttpRequest request, HttpRouter::Done done) {
  HttpRouter::Found found = router.Find(request);
  router.Run(std::move(found), std::move(request), std::move(done));
}

TEST(HttpRouterAsync, AsyncHandlerOwnsTheRequestAndRepliesFromAnotherThread) {
  HttpRouter router;
  router.HandleAsync("POST", "/v1/{mount}/encrypt/{name}",
                     [](HttpRequest request, HttpReply reply) {
                       // The handler may fill the request it owns in place.
                       request.path_params["extra"] = "x";
                       std::thread([request = std::move(request), reply = std::move(reply)]() mutable {
                         HttpResponse response;
                         response.body = request.body + " " + request.path_params["name"] + " " +
                                         request.path_params["extra"];
                         reply(std::move(response));
                       }).detach();
                     });
  HttpRequest request;
  request.method = "POST";
  request.path = "/v1/transit/encrypt/k1";
  request.body = "payload";
  std::string route;
  EXPECT_EQ(router.Route(request, &route).body, "payload k1 x");
  EXPECT_EQ(route, "/v1/{mount}/encrypt/{name}");

  absl::Notification done;
  std::string async_route, async_body;
  RouteAsync(router, request, [&](absl::string_view taken, HttpResponse response) {
    async_route = std::string(taken);
    async_body = response.body;
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(async_route, "/v1/{mount}/encrypt/{name}");
  EXPECT_EQ(async_body, "payload k1 x");
}

TEST(HttpRouterAsync, SynchronousHandlersAndUnroutedRequestsReplyDuringTheCall) {
  HttpRouter router;
  router.Handle("GET", "/v1/sys/health", Echo("health"));
  bool replied = false;
  std::string route;
  HttpRequest request;
  request.method = "GET";
  request.path = "/v1/sys/health";
  RouteAsync(router, request, [&](absl::string_view taken, HttpResponse response) {
    replied = true;
    route = std::string(taken);
    EXPECT_EQ(response.body, "health");
  });
  EXPECT_TRUE(replied);
  EXPECT_EQ(route, "/v1/sys/health");
  replied = false;
  request.path = "/v1/sys/nothing";
  RouteAsync(router, request, [&](absl::string_view taken, HttpResponse response) {
    replied = true;
    route = std::string(taken);
    EXPECT_EQ(response.status, 404);
  });
  EXPECT_TRUE(replied);
  EXPECT_EQ(route, HttpRouter::kUnrouted);
}

TEST(HttpStatusOf, MapsEveryFailureTheVaultWay) {
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kResourceExhausted), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnauthenticated), 403);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInternal), 500);
}

}  // namespace
}  // namespace strongroom::server
