#include "server/http/router.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "server/json_string.h"

namespace strongroom::server {
namespace {

bool IsPattern(absl::string_view path) { return path.find('{') != absl::string_view::npos; }

bool IsParam(absl::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Matches `path` (split on '/') against a pattern's segments. On a match, fills *params
// and *rank with one entry per pattern segment: 2 literal, 1 "{name}", 0 "{name...}".
bool MatchPattern(const std::vector<std::string>& want, const std::vector<absl::string_view>& have,
                  std::map<std::string, std::string>* params, std::vector<int>* rank) {
  params->clear();
  rank->clear();
  for (size_t i = 0; i < want.size(); ++i) {
    absl::string_view w = want[i];
    const bool param = IsParam(w);
    if (param && i + 1 == want.size() && absl::EndsWith(w, "...}")) {
      if (i >= have.size()) return false;
      std::string rest = absl::StrJoin(have.begin() + i, have.end(), "/");
      if (rest.empty()) return false;
      (*params)[std::string(w.substr(1, w.size() - 5))] = std::move(rest);
      rank->push_back(0);
      return true;
    }
    if (i >= have.size()) return false;
    if (param) {
      if (have[i].empty()) return false;
      (*params)[std::string(w.substr(1, w.size() - 2))] = std::string(have[i]);
      rank->push_back(1);
    } else if (w != have[i]) {
      return false;
    } else {
      rank->push_back(2);
    }
  }
  return want.size() == have.size();
}

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kResourceExhausted:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 403;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

HttpResponse JsonErrors(int status, const std::vector<std::string>& errors) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = "{\"errors\":[";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) response.body.push_back(',');
    AppendJsonString(errors[i], &response.body);
  }
  response.body += "]}\n";
  return response;
}

HttpResponse JsonError(int status, absl::string_view message) {
  return JsonErrors(status, {std::string(message)});
}

void HttpRouter::Handle(const std::string& method, const std::string& path, HttpHandler handler) {
  HandleAsync(method, path, [handler = std::move(handler)](HttpRequest request, HttpReply reply) {
    reply(handler(request));
  });
}

void HttpRouter::HandleAsync(const std::string& method, const std::string& path,
                             AsyncHttpHandler handler, HandlerRuns runs) {
  Entry entry{std::move(handler), runs};
  if (!IsPattern(path)) {
    routes_[{path, method}] = std::move(entry);
    return;
  }
  for (Pattern& p : patterns_) {
    if (p.pattern == path && p.method == method) {
      p.entry = std::move(entry);
      return;
    }
  }
  patterns_.push_back({path, method, std::move(entry), absl::StrSplit(path, '/')});
}

HttpResponse HttpRouter::Route(HttpRequest request, std::string* route) const {
  absl::Notification replied;
  HttpResponse response;
  Found found = Find(request);
  Run(std::move(found), std::move(request), [&](absl::string_view taken, HttpResponse answer) {
    if (route != nullptr) *route = std::string(taken);
    response = std::move(answer);
    replied.Notify();
  });
  replied.WaitForNotification();
  return response;
}

HttpRouter::Found HttpRouter::Find(HttpRequest& request) const {
  Found found;
  auto it = routes_.find({request.path, request.method});
  if (it != routes_.end()) {
    found.route = it->first.first;
    found.handler = &it->second.handler;
    found.runs = it->second.runs;
    return found;
  }
  std::set<std::string> allowed;
  for (auto r = routes_.lower_bound({request.path, ""});
       r != routes_.end() && r->first.first == request.path; ++r) {
    allowed.insert(r->first.second);
  }
  const std::vector<absl::string_view> have = absl::StrSplit(request.path, '/');
  const Pattern* best = nullptr;
  std::vector<int> best_rank, rank;
  std::map<std::string, std::string> best_params, params;
  for (const Pattern& p : patterns_) {
    if (!MatchPattern(p.segments, have, &params, &rank)) continue;
    if (p.method != request.method) {
      allowed.insert(p.method);
      continue;
    }
    // Strictly greater: an equally specific pattern registered earlier keeps the request.
    if (best == nullptr || rank > best_rank) {
      best = &p;
      best_rank.swap(rank);
      best_params.swap(params);
    }
  }
  if (best != nullptr) {
    request.path_params = std::move(best_params);
    found.route = best->pattern;
    found.handler = &best->entry.handler;
    found.runs = best->entry.runs;
    return found;
  }
  // Vault's messages; nothing of the request is echoed.
  found.route = kUnrouted;
  if (allowed.empty()) {
    found.answer = JsonError(404, "unsupported path");
  } else {
    const std::string allow = absl::StrJoin(allowed, ", ");
    found.answer = JsonError(405, absl::StrCat("unsupported operation; allowed: ", allow));
    found.answer.headers.emplace_back("Allow", allow);
  }
  return found;
}

void HttpRouter::Run(Found found, HttpRequest request, Done done) const {
  if (found.handler == nullptr) {
    return done(kUnrouted, Refuse(std::move(request), std::move(found.answer)));
  }
  (*found.handler)(std::move(request), [taken = found.route, done = std::move(done)](
                                           HttpResponse response) mutable {
    done(taken, std::move(response));
  });
}

HttpResponse HttpRouter::Refuse(HttpRequest request, HttpResponse answer) const {
  if (!unrouted_) return answer;
  constexpr size_t kMaxPath = 256;
  request.path_params = {{"path", request.path.substr(0, kMaxPath)}};
  return unrouted_(request, std::move(answer));
}

}  // namespace strongroom::server
