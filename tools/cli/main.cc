// strongroom: the command-line client of strongroomd.
//
//   strongroom [--addr host:port] [--ca-file pem] [--cert pem --key pem]
//              [--token-file file] [--timeout s] [--json] <command> ...
//
// Exit status: 0 on success, 1 when a command fails (one line "strongroom: <why>" on
// stderr), 2 for usage errors. Command groups register themselves; see system_commands.h.
#include <grpc/support/log.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "tools/cli/audit_commands.h"
#include "tools/cli/client.h"
#include "tools/cli/pki_commands.h"
#include "tools/cli/system_commands.h"
#include "tools/cli/token_commands.h"
#include "tools/cli/transit_commands.h"

namespace {

// gRPC logs transport failures to stderr on its own; the CLI reports them once, via
// Explain(). Setting GRPC_VERBOSITY brings gRPC's log back for debugging.
void DiscardGrpcLog(gpr_log_func_args*) {}

std::string UsageFailure(const CLI::App*, const CLI::Error& e) {
  return std::string("strongroom: ") + e.what() + "\nRun 'strongroom --help' for usage.\n";
}

}  // namespace

int main(int argc, char** argv) {
  using strongroom::cli::GlobalOptions;
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DiscardGrpcLog);

  CLI::App app("Command-line client of strongroomd, the Strongroom key management service.",
               "strongroom");
  app.require_subcommand(0, 1);  // one command per run; none prints the help
  app.fallthrough();             // global flags may follow the command
  app.failure_message(UsageFailure);

  GlobalOptions options;
  double timeout_seconds = 10;
  app.add_option("--addr", options.client.addr,
                 "strongroomd address, host:port [env STRONGROOM_ADDR, default 127.0.0.1:7400]");
  app.add_option("--ca-file", options.client.ca_file,
                 "PEM CA certificates to verify strongroomd with [env STRONGROOM_CACERT, default "
                 "<state dir>/tls/server.crt]");
  app.add_option("--cert", options.client.cert_file,
                 "PEM client certificate, with --key [env STRONGROOM_CLIENT_CERT]");
  app.add_option("--key", options.client.key_file,
                 "PEM client private key, with --cert [env STRONGROOM_CLIENT_KEY]");
  app.add_option("--token-file", options.client.token_file,
                 "File holding the strongroomd token to send with every call [env "
                 "STRONGROOM_TOKEN (the token itself), STRONGROOM_TOKEN_FILE]")
      ->type_name("FILE");
  app.add_option("--timeout", timeout_seconds, "Seconds to wait for each reply [default 10]")
      ->type_name("SECONDS")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            double seconds = 0;
            if (absl::SimpleAtod(value, &seconds) && seconds > 0 && seconds <= 86400) return "";
            return "want seconds, more than 0 and at most 86400; got " + value;
          },
          ""));
  app.add_flag("--json", options.json, "Print replies as JSON");
  // Runs after the global flags are parsed and before any subcommand callback.
  app.parse_complete_callback([&] {
    options.client.timeout = absl::Seconds(timeout_seconds);
    strongroom::cli::ApplyEnvironmentDefaults(&options.client);
  });

  strongroom::cli::AddSystemCommands(app, options);
  strongroom::cli::AddTransitCommands(app, options);
  strongroom::cli::AddPkiCommands(app, options);
  strongroom::cli::AddTokenCommands(app, options);
  strongroom::cli::AddAuditCommands(app, options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    std::cerr << "strongroom: " << e.what() << std::endl;
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "strongroom: internal error: " << e.what() << std::endl;
    return 1;
  }
  if (app.get_subcommands().empty()) {
    std::cerr << app.help();
    return 2;
  }
  return 0;
}
