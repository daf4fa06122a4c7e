#include "tools/bench/common.h"

#include <cstdio>
#include <cstdlib>

#include "absl/status/statusor.h"

namespace strongroom::bench {

void Die(const std::string& what) {
  std::fprintf(stderr, "strongroom-bench: %s\n", what.c_str());
  std::exit(1);
}

int HttpCall(int port, bool tls, const std::string& request,
             std::unique_ptr<testing::HttpWire>* wire,
             const std::function<bool(const testing::WireResponse&)>& ok) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (*wire == nullptr) {
      auto connected = testing::HttpWire::Connect(port, tls);
      if (!connected.ok()) return 0;
      *wire = *std::move(connected);
    }
    absl::StatusOr<testing::WireResponse> response =
        (*wire)->Send(request).ok() ? (*wire)->Read()
                                    : absl::StatusOr<testing::WireResponse>(
                                          absl::UnavailableError("send"));
    if (!response.ok()) {
      wire->reset();
      continue;
    }
    if (response->close) wire->reset();
    return ok(*response) ? 1 : 0;
  }
  return 0;
}

void Print(const std::string& what, const Result& r, const char* unit) {
  // Whole numbers, except for slow rates (ACME orders/s) where the tenths matter.
  std::printf(r.ops_per_second < 100 ? "  %-52s %12.1f %s" : "  %-52s %12.0f %s", what.c_str(),
              r.ops_per_second, unit);
  if (r.p50_ms > 0) std::printf("   p50 %.3f ms  p99 %.3f ms", r.p50_ms, r.p99_ms);
  std::printf("\n");
}

void Ratio(const std::string& what, double ratio, double target) {
  std::printf("  %-52s %12.2f", what.c_str(), ratio);
  if (target > 0)
    std::printf("   (target >= %.2f: %s)", target, ratio >= target ? "met" : "MISSED");
  std::printf("\n");
}

}  // namespace strongroom::bench
