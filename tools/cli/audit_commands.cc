#include "tools/cli/audit_commands.h"

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/audit/audit_verify.h"
#include "tools/cli/command_util.h"

namespace strongroom::cli {
namespace {

using server::audit::VerifyReport;

std::string SummaryJson(const VerifyReport& report) {
  return absl::StrCat("{\n  \"ok\": true,\n  \"files\": ", report.files,
                      ",\n  \"lines\": ", report.lines, ",\n  \"firstSeq\": ", report.first_seq,
                      ",\n  \"lastSeq\": ", report.last_seq,
                      ",\n  \"checkpoints\": ", report.checkpoints,
                      ",\n  \"lastCheckpointSeq\": ", report.last_checkpoint_seq,
                      ",\n  \"uncoveredLines\": ", report.uncovered_lines, "\n}\n");
}

std::string Summary(const VerifyReport& report) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Result", "OK"},
      {"Files", absl::StrCat(report.files)},
      {"Lines",
       absl::StrCat(report.lines, " (seq ", report.first_seq, " to ", report.last_seq,
                    report.first_seq > 1 ? ", continuing earlier files not given" : "", ")")},
      {"Checkpoints", absl::StrCat(report.checkpoints)},
      {"Signed up to",
       report.checkpoints == 0 ? "-" : absl::StrCat("seq ", report.last_checkpoint_seq)},
      {"Unsigned tail", absl::StrCat(report.uncovered_lines, " lines")},
  };
  return FormatFields(fields);
}

void AddVerify(CLI::App* audit, const GlobalOptions& options) {
  struct Flags {
    std::vector<std::string> files;
    std::string public_key;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = audit->add_subcommand(
      "verify", "Check audit log files (oldest first): format, hash chain, checkpoint signatures");
  command->add_option("FILE", flags->files, "Audit log files, rotated files first")->required();
  command
      ->add_option("--public-key", flags->public_key,
                   "PEM public key the checkpoints must verify with (pins the key)")
      ->type_name("PEM");
  OnRun(command, [flags, &options] {
    std::string pem;
    if (!flags->public_key.empty()) {
      if (absl::Status read = ReadInput(flags->public_key, "public key", &pem); !read.ok()) {
        return read;
      }
    }
    VerifyReport report;
    absl::Status verified = server::audit::VerifyAuditLogs(flags->files, pem, &report);
    if (!verified.ok()) return verified;
    if (report.uncovered_lines > 0) {
      std::cerr << "strongroom: warning: the last " << report.uncovered_lines
                << " lines are not covered by a checkpoint signature yet" << std::endl;
    }
    return Print(options.json ? SummaryJson(report) : Summary(report));
  });
}

}  // namespace

void AddAuditCommands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* audit = app.add_subcommand("audit", "Audit log: verify files offline");
  audit->require_subcommand(1);
  AddVerify(audit, options);
}

}  // namespace strongroom::cli
