#include "tools/cli/token_commands.h"

#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "hsm/secret_data.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/auth.pb.h"
#include "tools/cli/command_util.h"

namespace strongroom::cli {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;
using AuthClient = ServiceClient<v1::Auth>;

std::string Bool(bool value) { return value ? "true" : "false"; }

std::string FormatDuration(const google::protobuf::Duration& duration) {
  return absl::FormatDuration(absl::Seconds(duration.seconds()) +
                              absl::Nanoseconds(duration.nanos()));
}

Fields InfoFields(const v1::TokenInfo& info) {
  Fields fields;
  fields.emplace_back("Accessor", info.accessor());
  fields.emplace_back("Display name", info.display_name().empty() ? "-" : info.display_name());
  fields.emplace_back("Policies", absl::StrJoin(info.policies(), ","));
  fields.emplace_back("Creator", info.creator().empty() ? "-" : info.creator());
  fields.emplace_back("Created",
                      info.has_create_time() ? FormatTimestamp(info.create_time()) : "-");
  fields.emplace_back("Expires",
                      info.has_expire_time() ? FormatTimestamp(info.expire_time()) : "-");
  fields.emplace_back("TTL", FormatDuration(info.ttl()));
  const bool periodic = info.period().seconds() > 0 || info.period().nanos() > 0;
  fields.emplace_back("Period", periodic ? FormatDuration(info.period()) : "-");
  fields.emplace_back("Max expiry",
                      info.has_max_expire_time() ? FormatTimestamp(info.max_expire_time()) : "-");
  fields.emplace_back("Renewable", Bool(info.renewable()));
  return fields;
}

absl::Status PrintInfo(const v1::TokenInfo& info, const GlobalOptions& options) {
  if (options.json) return PrintJson(info);
  return Print(FormatFields(InfoFields(info)));
}

// One accessor per line with its display name, policies and expiry.
absl::Status PrintList(const v1::ListTokensResponse& reply, const GlobalOptions& options) {
  if (options.json) return PrintJson(reply);
  std::string text;
  for (const v1::TokenInfo& info : reply.tokens()) {
    absl::StrAppend(&text, Printable(info.accessor()), "  ",
                    info.has_expire_time() ? FormatTimestamp(info.expire_time()) : "-", "  ",
                    Printable(absl::StrJoin(info.policies(), ",")), "  ",
                    Printable(info.display_name()), "\n");
  }
  return Print(text);
}

void AddCreate(CLI::App* token, const GlobalOptions& options) {
  struct Flags {
    std::vector<std::string> policies;
    std::optional<absl::Duration> ttl, period, explicit_max_ttl;
    std::string display_name;
    std::string out;
    bool orphan = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = token->add_subcommand(
      "create", "Create a token holding policies; print it once (or write it to --out)");
  command->add_option("--policy", flags->policies, "Policy the token holds (repeatable)")
      ->delimiter(',')
      ->type_name("POLICY")
      ->required();
  AddDuration(command, "--ttl", &flags->ttl, "Lifetime [default: the server's]");
  AddDuration(command, "--period", &flags->period,
              "Periodic token (needs token.periodic): each renewal extends it by this much, "
              "with no maximum unless a token creates it (then never past that token)");
  AddDuration(command, "--explicit-max-ttl", &flags->explicit_max_ttl,
              "Renewals never extend past creation + this [default: the server's maximum]");
  command->add_option("--display-name", flags->display_name, "Name shown in listings and audit")
      ->type_name("TEXT");
  command->add_flag("--orphan", flags->orphan,
                    "Not a child of the calling token, so not revoked with it (root only)");
  CLI::Option* out =
      command
          ->add_option("--out", flags->out,
                       "Write the token to this new file (mode 0600) and print only its accessor")
          ->type_name("FILE");
  OnRun(command, [flags, out, &options] {
    const bool to_file = out->count() > 0;
    if (to_file && (access(flags->out.c_str(), F_OK) == 0 || errno != ENOENT)) {
      return absl::FailedPreconditionError(
          absl::StrCat(Printable(flags->out), " already exists; not overwriting it"));
    }
    v1::CreateTokenRequest request;
    for (const std::string& policy : flags->policies) request.add_policies(policy);
    request.set_no_parent(flags->orphan);
    if (flags->ttl.has_value()) SetDuration(*flags->ttl, request.mutable_ttl());
    if (flags->period.has_value()) SetDuration(*flags->period, request.mutable_period());
    if (flags->explicit_max_ttl.has_value()) {
      SetDuration(*flags->explicit_max_ttl, request.mutable_explicit_max_ttl());
    }
    request.set_display_name(flags->display_name);
    v1::CreateTokenResponse reply;
    absl::Status status = AuthClient(options).Call(&v1::Auth::Stub::CreateToken, request, &reply);
    if (status.ok() && reply.token().empty()) status = Missing("token");
    if (status.ok() && to_file) {
      std::string line = absl::StrCat(reply.token(), "\n");
      status = WriteNewFile(flags->out, line, 0600);
      hsm::CleanseString(&line);
      if (!status.ok()) {
        // The token exists but is lost: name it so that it can be revoked.
        status =
            absl::Status(status.code(), absl::StrCat(status.message(), "; the new token (accessor ",
                                                     Printable(reply.info().accessor()),
                                                     ") was not saved: revoke it"));
      } else {
        status = options.json ? PrintJson(reply.info()) : PrintLine(reply.info().accessor());
      }
    } else if (status.ok() && options.json) {
      status = PrintJson(reply);
    } else if (status.ok()) {
      Fields fields = InfoFields(reply.info());
      fields.insert(fields.begin(), {"Token", reply.token()});
      std::string text = FormatFields(fields);
      hsm::CleanseString(&fields.front().second);
      status = Print(text);
      hsm::CleanseString(&text);
    }
    hsm::CleanseString(reply.mutable_token());
    return status;
  });
}

// A command that sends `Request` and prints the TokenInfo reply.
template <typename Request>
void AddInfoCommand(CLI::App* token, const std::string& name, const std::string& description,
                    grpc::Status (v1::Auth::Stub::*method)(grpc::ClientContext*, const Request&,
                                                           v1::TokenInfo*),
                    std::function<void(Request*)> fill, const GlobalOptions& options,
                    CLI::App** added = nullptr) {
  CLI::App* command = token->add_subcommand(name, description);
  if (added != nullptr) *added = command;
  OnRun(command, [method, fill, &options] {
    Request request;
    if (fill) fill(&request);
    v1::TokenInfo reply;
    absl::Status status = AuthClient(options).Call(method, request, &reply);
    if (!status.ok()) return status;
    return PrintInfo(reply, options);
  });
}

void AddSelfCommands(CLI::App* token, const GlobalOptions& options) {
  AddInfoCommand<v1::LookupSelfRequest>(token, "lookup-self", "Show the calling token",
                                        &v1::Auth::Stub::LookupSelf, nullptr, options);

  auto increment = std::make_shared<std::optional<absl::Duration>>();
  CLI::App* renew = nullptr;
  AddInfoCommand<v1::RenewSelfRequest>(
      token, "renew-self", "Extend the calling token's expiry", &v1::Auth::Stub::RenewSelf,
      [increment](v1::RenewSelfRequest* request) {
        if (increment->has_value()) SetDuration(**increment, request->mutable_increment());
      },
      options, &renew);
  AddDuration(renew, "--increment", increment.get(),
              "Extension [default: the token's TTL or period; capped by the server]");

  CLI::App* revoke = token->add_subcommand("revoke-self", "Revoke the calling token");
  OnRun(revoke, [&options] {
    v1::RevokeTokenResponse reply;
    absl::Status status =
        AuthClient(options).Call(&v1::Auth::Stub::RevokeSelf, v1::RevokeSelfRequest(), &reply);
    if (!status.ok()) return status;
    return options.json ? PrintJson(reply) : PrintLine("revoked the calling token");
  });
}

void AddAccessorCommands(CLI::App* token, const GlobalOptions& options) {
  auto accessor = std::make_shared<std::string>();
  CLI::App* lookup = nullptr;
  AddInfoCommand<v1::LookupTokenRequest>(
      token, "lookup", "Show a token by its accessor", &v1::Auth::Stub::LookupToken,
      [accessor](v1::LookupTokenRequest* request) { request->set_accessor(*accessor); }, options,
      &lookup);
  lookup->add_option("ACCESSOR", *accessor, "The token's accessor")->required();

  auto revoke_accessor = std::make_shared<std::string>();
  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a token by its accessor");
  revoke->add_option("ACCESSOR", *revoke_accessor, "The token's accessor")->required();
  OnRun(revoke, [revoke_accessor, &options] {
    v1::RevokeTokenRequest request;
    request.set_accessor(*revoke_accessor);
    v1::RevokeTokenResponse reply;
    absl::Status status = AuthClient(options).Call(&v1::Auth::Stub::RevokeToken, request, &reply);
    if (!status.ok()) return status;
    return options.json ? PrintJson(reply)
                        : PrintLine(absl::StrCat("revoked token ", *revoke_accessor));
  });

  CLI::App* list = token->add_subcommand(
      "list", "List tokens: accessor, expiry, policies and display name, one per line");
  OnRun(list, [&options] {
    v1::ListTokensResponse reply;
    absl::Status status =
        AuthClient(options).Call(&v1::Auth::Stub::ListTokens, v1::ListTokensRequest(), &reply);
    if (!status.ok()) return status;
    return PrintList(reply, options);
  });
}

void AddWhoAmI(CLI::App* token, const GlobalOptions& options) {
  CLI::App* command =
      token->add_subcommand("whoami", "Show the identity and policies strongroomd sees");
  OnRun(command, [&options] {
    v1::WhoAmIResponse reply;
    absl::Status status =
        AuthClient(options).Call(&v1::Auth::Stub::WhoAmI, v1::WhoAmIRequest(), &reply);
    if (!status.ok()) return status;
    if (options.json) return PrintJson(reply);
    return Print(FormatFields(
        {{"Identity", reply.identity()}, {"Policies", absl::StrJoin(reply.policies(), ",")}}));
  });
}

}  // namespace

void AddTokenCommands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* token = app.add_subcommand("token", "Tokens: create, look up, renew, revoke, list");
  token->require_subcommand(1);
  AddCreate(token, options);
  AddSelfCommands(token, options);
  AddAccessorCommands(token, options);
  AddWhoAmI(token, options);
}

}  // namespace strongroom::cli
