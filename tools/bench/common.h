// Helpers strongroom-bench's phases share: ending the run on a failed step, one HTTP request
// on a kept-alive connection, and the report's rows. Not thread-safe for printing (the
// phases print from one thread); HttpCall is safe on distinct `wire`s.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "tests/testing/http_wire.h"
#include "tools/bench/load.h"

namespace strongroom::bench {

// Prints "strongroom-bench: <what>" to stderr and exits 1: the figures would be void.
[[noreturn]] void Die(const std::string& what);

// One request on a kept-alive HTTP(S) connection (opened, or reopened after the server
// closed it, as a client library does); 1 if `ok` accepts the response, else 0.
int HttpCall(int port, bool tls, const std::string& request,
             std::unique_ptr<testing::HttpWire>* wire,
             const std::function<bool(const testing::WireResponse&)>& ok);

// A rate row: `what`, ops/s in `unit`, and p50/p99 when measured.
void Print(const std::string& what, const Result& r, const char* unit);
// A ratio row, and whether it meets `target` when there is one (target > 0).
void Ratio(const std::string& what, double ratio, double target = 0);

}  // namespace strongroom::bench
