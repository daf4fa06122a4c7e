// Fuzzes the configuration file: LoadConfig reads it from disk, YamlToProto turns the YAML
// (yaml-cpp, Debian's build, uninstrumented) into a ServerConfig strictly, and the defaults
// and semantic checks run over the result. Errors must be INVALID_ARGUMENT naming the file
// (never an exception, crash or other code).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "server/config.h"

namespace {

// A file of our own to write each input to (under $TEST_TMPDIR, or /tmp).
const std::string& ConfigPath() {
  static const std::string* const path = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/config_fuzzer.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) std::abort();
    return new std::string(dir + "/strongroom.yaml");
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(ConfigPath(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) std::abort();
  }
  absl::StatusOr<strongroom::v1::ServerConfig> config =
      strongroom::server::LoadConfig(ConfigPath());
  if (!config.ok() && (config.status().code() != absl::StatusCode::kInvalidArgument ||
                       !absl::StartsWith(config.status().message(), ConfigPath()))) {
    std::fprintf(stderr, "unexpected error: %s\n", config.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
