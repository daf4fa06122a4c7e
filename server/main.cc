// strongroomd: the Strongroom server.
//
//   strongroomd [--config FILE]              serve (embedded defaults without --config)
//   strongroomd init-token [--config FILE]   set up a development token (SoftHSM)
//   strongroomd generate-root-token [--config FILE]
//                                            recovery: a new one-time root token in
//                                            <state_dir>/root-token (needs the HSM PIN file)
//
// SIGHUP re-reads the config file and swaps in its auth policies, identity bindings and
// client CAs (a bad file is logged and changes nothing); SIGTERM/SIGINT drain and stop:
// in-flight calls get grpc.drain_seconds, and the process exits at most kTeardownGrace
// after that whatever clients or a stuck call do (status 0 if it stopped in order, 1 if the
// deadline cut it short; every answered request was already audited durably).
// Startup failures print one line, "strongroomd: <what is wrong>", and exit 1.
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "hsm/pin_file.h"
#include "hsm/secret_data.h"
#include "server/allocator.h"
#include "server/config.h"
#include "server/files.h"
#include "server/log.h"
#include "server/strongroomd.h"
#include "server/system_service.h"

namespace strongroom::server {
namespace {

// After drain_seconds, the longest the rest of the shutdown (listeners, seal, HSM logout)
// may take before the process exits regardless.
constexpr absl::Duration kTeardownGrace = absl::Seconds(10);

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "strongroomd: %s\n", std::string(status.message()).c_str());
  return 1;
}

// Reads the PIN in `path`, first creating it with a random PIN if it does not exist.
absl::StatusOr<hsm::SecretData> ReadOrCreatePin(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    hsm::SecretData raw(16);
    if (RAND_priv_bytes(raw.MutableSecret().data(), raw.size()) != 1) {
      return absl::InternalError("cannot generate a PIN");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    hsm::SecretData pin(2 * raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      pin.MutableSecret()[2 * i] = kHex[raw.RevealSecret()[i] >> 4];
      pin.MutableSecret()[2 * i + 1] = kHex[raw.RevealSecret()[i] & 15];
    }
    if (absl::Status s = hsm::WritePinFile(path, pin); !s.ok()) return s;
  }
  return hsm::ReadPinFile(path);
}

int InitToken(const v1::ServerConfig& config) {
  if (absl::Status s = MakeDirs(config.state_dir()); !s.ok()) return Fail(s);
  auto user_pin = ReadOrCreatePin(config.hsm().pin_file());
  if (!user_pin.ok()) return Fail(user_pin.status());
  auto so_pin = ReadOrCreatePin(config.hsm().so_pin_file());
  if (!so_pin.ok()) return Fail(so_pin.status());
  absl::Status s =
      hsm::Hsm::InitToken(config.hsm().module(), config.hsm().token_label(), *so_pin, *user_pin);
  if (absl::IsAlreadyExists(s)) {
    std::printf("token '%s' is already initialised\n", config.hsm().token_label().c_str());
    return 0;
  }
  if (!s.ok()) return Fail(s);
  std::printf("initialised token '%s' in %s; user PIN in %s (mode 0600)\n",
              config.hsm().token_label().c_str(), config.hsm().module().c_str(),
              config.hsm().pin_file().c_str());
  return 0;
}

// Recovery for a lost or expired bootstrap credential: whoever can read the HSM PIN file
// (the server's operator) can mint a new one-time root token.
int GenerateRootToken(const v1::ServerConfig& config) {
  auto root = Strongroomd::GenerateRootToken(config);
  if (!root.ok()) return Fail(root.status());
  std::printf("one-time root token written to %s (mode 0600); revoke it when done\n",
              root->c_str());
  return 0;
}

int Serve(const std::string& config_path, const v1::ServerConfig& config) {
  // Signals are taken synchronously by this thread; every thread started later inherits
  // the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = Strongroomd::Start(config);
  if (!server.ok()) return Fail(server.status());
  if ((*server)->created_certificate()) {
    LogInfo(absl::StrCat(
        "created a self-signed TLS certificate for localhost: ", config.grpc().tls().cert_file(),
        " (clients: --ca-file ", config.grpc().tls().cert_file(), ")"));
  }
  LogInfo(absl::StrCat("strongroomd ", kVersion, " unsealed and listening on ",
                       config.grpc().address().substr(0, config.grpc().address().rfind(':')), ":",
                       (*server)->port(), " (HSM module ", config.hsm().module(), ", token '",
                       config.hsm().token_label(), "', storage ", config.storage().sqlite().path(),
                       ")"));
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      absl::StatusOr<v1::ServerConfig> reloaded = LoadConfig(config_path);
      absl::Status s = reloaded.ok() ? (*server)->ReloadAccess(*reloaded) : reloaded.status();
      if (s.ok()) {
        LogInfo("SIGHUP: reloaded auth policies, identities and client CAs");
      } else {
        LogWarning(absl::StrCat("SIGHUP: reload refused, keeping the current policies: ",
                                s.message()));
      }
      continue;
    }
    LogInfo(absl::StrCat(sig == SIGTERM ? "SIGTERM" : "SIGINT",
                         ": draining in-flight calls (up to ", config.grpc().drain_seconds(),
                         " s)"));
    break;
  }
  // Slow clients (an HTTP request that trickles in, a stream that never ends) or a call
  // stuck in the HSM can hold an orderly shutdown forever: past the bound, exit anyway.
  const absl::Duration bound = absl::Seconds(config.grpc().drain_seconds()) + kTeardownGrace;
  absl::Notification stopped;
  std::thread deadline([&stopped, bound] {
    if (stopped.WaitForNotificationWithTimeout(bound)) return;
    LogError(absl::StrCat("not stopped ", absl::FormatDuration(bound),
                          " after the signal (slow clients or a stuck call); exiting now"));
    std::_Exit(1);
  });
  (*server)->Shutdown();
  server->reset();
  stopped.Notify();
  deadline.join();
  LogInfo("stopped: sealed, logged out of the HSM");
  return 0;
}

int Main(int argc, char** argv) {
  // Before any thread exists: no per-thread malloc caches (this may exec the program again),
  // arenas and mmap thresholds bounded (server/allocator.h).
  ExecWithoutThreadCaches(argv);
  ConfigureAllocator();
  // Secrets never reach a core dump, and live in locked memory.
  if (absl::Status s = hsm::DisableCoreDumps(); !s.ok()) return Fail(s);
  CLI::App app{"strongroomd: the Strongroom key management server"};
  app.set_version_flag("--version", kVersion);
  std::string config_path;
  app.add_option("-c,--config", config_path,
                 "YAML configuration file (default: embedded defaults)");
  // --config may also follow a subcommand (`strongroomd init-token --config FILE`).
  app.fallthrough();
  CLI::App* init = app.add_subcommand(
      "init-token", "initialise a development token (SoftHSM) and create its PIN files");
  CLI::App* root = app.add_subcommand(
      "generate-root-token", "write a new one-time root token to <state_dir>/root-token");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto config = LoadConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (absl::Status s = hsm::InitSecureHeap(config->secure_heap_bytes()); !s.ok()) return Fail(s);
  if (init->parsed()) return InitToken(*config);
  if (root->parsed()) return GenerateRootToken(*config);
  return Serve(config_path, *config);
}

}  // namespace
}  // namespace strongroom::server

int main(int argc, char** argv) { return strongroom::server::Main(argc, argv); }
