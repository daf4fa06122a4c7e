#include "tools/cli/audit_commands.h"

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/audit/audit_verify.h"
#include "server/json_string.h"
#include "tools/cli/command_util.h"

namespace strongroom::cli {
namespace {

using server::audit::ChainReport;
using server::audit::VerifyReport;

std::string ChainJson(const ChainReport& chain) {
  std::string node;
  server::AppendJsonString(chain.node, &node);
  return absl::StrCat("    {\n      \"node\": ", node, ",\n      \"files\": ", chain.files, ",\n      \"lines\": ", chain.lines,
                      ",\n      \"firstSeq\": ", chain.first_seq,
                      ",\n      \"lastSeq\": ", chain.last_seq,
                      ",\n      \"checkpoints\": ", chain.checkpoints,
                      ",\n      \"lastCheckpointSeq\": ", chain.last_checkpoint_seq,
                      ",\n      \"uncoveredLines\": ", chain.uncovered_lines, "\n    }");
}

std::string SummaryJson(const VerifyReport& report) {
  std::vector<std::string> chains;
  for (const ChainReport& chain : report.chains) chains.push_back(ChainJson(chain));
  return absl::StrCat("{\n  \"ok\": true,\n  \"nodes\": [\n", absl::StrJoin(chains, ",\n"),
                      "\n  ]\n}\n");
}

std::string Summary(const VerifyReport& report) {
  std::vector<std::string> chains;
  for (const ChainReport& chain : report.chains) {
    std::vector<std::pair<std::string, std::string>> fields = {
        {"Node", Printable(chain.node)},
        {"Result", "OK"},
        {"Files", absl::StrCat(chain.files)},
        {"Lines",
         absl::StrCat(chain.lines, " (seq ", chain.first_seq, " to ", chain.last_seq,
                      chain.first_seq > 1 ? ", continuing earlier files not given" : "", ")")},
        {"Checkpoints", absl::StrCat(chain.checkpoints)},
        {"Signed up to",
         chain.checkpoints == 0 ? "-" : absl::StrCat("seq ", chain.last_checkpoint_seq)},
        {"Unsigned tail", absl::StrCat(chain.uncovered_lines, " lines")},
    };
    chains.push_back(FormatFields(fields));
  }
  return absl::StrJoin(chains, "\n");
}

void AddVerify(CLI::App* audit, const GlobalOptions& options) {
  struct Flags {
    std::vector<std::string> files;
    std::string public_key;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = audit->add_subcommand(
      "verify",
      "Check audit log files of one node or several: format, each node's hash chain, "
      "checkpoint signatures");
  command
      ->add_option("FILE", flags->files,
                   "Audit log files, current and rotated, of any nodes, in any order")
      ->required();
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
    for (const ChainReport& chain : report.chains) {
      if (chain.uncovered_lines > 0) {
        std::cerr << "strongroom: warning: the last " << chain.uncovered_lines << " lines of node "
                  << Printable(chain.node) << " are not covered by a checkpoint signature yet" << std::endl;
      }
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
