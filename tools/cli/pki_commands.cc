#include "tools/cli/pki_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/repeated_field.h"
#include "hsm/secret_data.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "strongroom/v1/pki.pb.h"
#include "tools/cli/command_util.h"

namespace strongroom::cli {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;
using PkiClient = ServiceClient<v1::Pki>;

constexpr Named<v1::PkiKeyType> kPkiKeyTypes[] = {
    {"ec-p256", v1::EC_P256},  {"ec-p384", v1::EC_P384},  {"rsa-2048", v1::RSA2048},
    {"rsa-3072", v1::RSA3072}, {"rsa-4096", v1::RSA4096},
};

// ---- Flags ----

CLI::Option* AddKeyType(CLI::App* command, v1::PkiKeyType* type, const std::string& description) {
  return AddChoice(command, "--key-type", kPkiKeyTypes, type, description)->type_name("TYPE");
}

// --flag a,b,c (repeatable), split on commas.
CLI::Option* AddList(CLI::App* command, const std::string& flag, std::vector<std::string>* values,
                     const std::string& description) {
  return command->add_option(flag, *values, description)->delimiter(',')->type_name("LIST");
}

CLI::Option* AddCsr(CLI::App* command, std::string* path) {
  return command
      ->add_option("--csr", *path, "PEM certificate signing request file, - for standard input")
      ->type_name("FILE")
      ->required();
}

void SetList(const std::vector<std::string>& values,
             google::protobuf::RepeatedPtrField<std::string>* out) {
  for (const std::string& value : values) *out->Add() = value;
}

// ---- Output ----

// PEM text from the server: control characters other than newlines escaped, ending in a
// newline.
std::string Pem(absl::string_view pem) {
  std::string out;
  size_t start = 0;
  for (size_t i = 0; i <= pem.size(); ++i) {
    if (i == pem.size() || pem[i] == '\n') {
      absl::StrAppend(&out, Printable(pem.substr(start, i - start)));
      if (i < pem.size()) out.push_back('\n');
      start = i + 1;
    }
  }
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

// Prints one PEM block (or the reply as JSON); `what` names it if the server sent none.
absl::Status PrintPem(const std::string& pem, absl::string_view what,
                      const google::protobuf::Message& reply, const GlobalOptions& options) {
  if (options.json) return PrintJson(reply);
  if (pem.empty()) return Missing(what);
  return Print(Pem(pem));
}

std::string Bool(bool value) { return value ? "true" : "false"; }

std::string FormatDuration(const google::protobuf::Duration& duration) {
  absl::Duration d = absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
  return d <= absl::ZeroDuration() ? "default" : absl::FormatDuration(d);
}

absl::Status PrintIssuer(const v1::Issuer& issuer, const GlobalOptions& options) {
  if (options.json) return PrintJson(issuer);
  Fields fields;
  fields.emplace_back("Name", issuer.issuer_name());
  fields.emplace_back("Common name", issuer.common_name());
  fields.emplace_back("Key type", NameOf(kPkiKeyTypes, issuer.key_type()));
  fields.emplace_back("Serial number",
                      issuer.serial_number().empty() ? "-" : issuer.serial_number());
  fields.emplace_back("Not after",
                      issuer.has_not_after() ? FormatTimestamp(issuer.not_after()) : "-");
  fields.emplace_back("Key URI", issuer.key_uri());
  if (issuer.certificate_pem().empty()) {
    fields.emplace_back("Certificate", "none (awaiting a signed certificate)");
  }
  std::string text = FormatFields(fields);
  if (!issuer.certificate_pem().empty()) absl::StrAppend(&text, Pem(issuer.certificate_pem()));
  return Print(text);
}

absl::Status PrintRole(const v1::Role& role, const GlobalOptions& options) {
  if (options.json) return PrintJson(role);
  Fields fields;
  fields.emplace_back("Name", role.name());
  fields.emplace_back("Issuer", role.issuer_name());
  fields.emplace_back("Allowed domains", absl::StrJoin(role.allowed_domains(), ","));
  fields.emplace_back("Allow subdomains", Bool(role.allow_subdomains()));
  fields.emplace_back("Allow bare domains", Bool(role.allow_bare_domains()));
  fields.emplace_back("Allow glob domains", Bool(role.allow_glob_domains()));
  fields.emplace_back("Allow localhost", Bool(role.allow_localhost()));
  fields.emplace_back("Allow IP SANs", Bool(role.allow_ip_sans()));
  fields.emplace_back("Allowed URI SANs", absl::StrJoin(role.allowed_uri_sans(), ","));
  fields.emplace_back("Server", Bool(role.server_flag()));
  fields.emplace_back("Client", Bool(role.client_flag()));
  fields.emplace_back(
      "Key type",
      NameOf(kPkiKeyTypes,
             role.key_type() == v1::PKI_KEY_TYPE_UNSPECIFIED ? v1::EC_P256 : role.key_type()));
  fields.emplace_back("Key bits", role.key_bits() == 0 ? "default" : absl::StrCat(role.key_bits()));
  fields.emplace_back("TTL", FormatDuration(role.ttl()));
  fields.emplace_back("Max TTL", FormatDuration(role.max_ttl()));
  fields.emplace_back("No store", Bool(role.no_store()));
  fields.emplace_back("Exclude CN from SANs", Bool(role.exclude_cn_from_sans()));
  return Print(FormatFields(fields));
}

absl::Status PrintLines(const google::protobuf::RepeatedPtrField<std::string>& values) {
  std::string text;
  for (const std::string& value : values) absl::StrAppend(&text, Printable(value), "\n");
  return Print(text);
}

// Calls a paged List method, following next_page_token to the end unless `all` is false;
// the names (via `names`) of every page fetched accumulate in *out.
template <typename Request, typename Reply>
absl::Status ListPages(PkiClient& client,
                       grpc::Status (v1::Pki::Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Reply*),
                       Request request, bool all,
                       google::protobuf::RepeatedPtrField<std::string>* (Reply::*names)(),
                       Reply* out) {
  std::set<std::string> tokens_seen;
  for (;;) {
    Reply page;
    if (absl::Status status = client.Call(method, request, &page); !status.ok()) return status;
    (out->*names)()->MergeFrom(*(page.*names)());
    out->set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) return absl::OkStatus();
    if (!tokens_seen.insert(page.next_page_token()).second) {
      return absl::InternalError("strongroomd returned the same page token twice; stopped");
    }
    request.set_page_token(page.next_page_token());
  }
}

// ---- pki root / intermediate ----

void AddRoot(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string issuer;
    std::string common_name;
    v1::PkiKeyType key_type = v1::PKI_KEY_TYPE_UNSPECIFIED;
    std::optional<absl::Duration> ttl;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = pki->add_subcommand(
      "root", "Create a root issuer (key in the HSM) and print its certificate");
  command->add_option("ISSUER", flags->issuer, "Issuer name")->required();
  command->add_option("--common-name", flags->common_name, "Subject common name")
      ->type_name("CN")
      ->required();
  AddKeyType(command, &flags->key_type, "CA key type [default ec-p256]");
  AddDuration(command, "--ttl", &flags->ttl, "Validity [default: the server's, 87600h]");
  OnRun(command, [flags, &options] {
    v1::CreateRootIssuerRequest request;
    request.set_issuer_name(flags->issuer);
    request.set_common_name(flags->common_name);
    request.set_key_type(flags->key_type);
    if (flags->ttl.has_value()) SetDuration(*flags->ttl, request.mutable_ttl());
    v1::Issuer reply;
    absl::Status status =
        PkiClient(options).Call(&v1::Pki::Stub::CreateRootIssuer, request, &reply);
    if (!status.ok()) return status;
    return PrintPem(reply.certificate_pem(), "certificate", reply, options);
  });
}

void AddIntermediateSign(CLI::App* intermediate, const GlobalOptions& options) {
  struct Flags {
    std::string parent;
    std::string csr = kStdio;
    std::optional<absl::Duration> ttl;
    uint32_t max_path_length = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = intermediate->add_subcommand(
      "sign", "Sign an intermediate CA's CSR with PARENT and print the certificate");
  command->add_option("PARENT", flags->parent, "Signing (parent) issuer")->required();
  AddCsr(command, &flags->csr);
  AddDuration(command, "--ttl", &flags->ttl, "Validity [default: the server's]");
  CLI::Option* max_path_length = AddNumber(command, "--max-path-length", 0, &flags->max_path_length,
                                           "basicConstraints pathLenConstraint [default none]");
  OnRun(command, [flags, max_path_length, &options] {
    v1::SignIntermediateRequest request;
    request.set_issuer_name(flags->parent);
    if (absl::Status status = ReadInput(flags->csr, "CSR", request.mutable_csr_pem());
        !status.ok()) {
      return status;
    }
    if (flags->ttl.has_value()) SetDuration(*flags->ttl, request.mutable_ttl());
    if (max_path_length->count() > 0) request.set_max_path_length(flags->max_path_length);
    v1::SignedCertificate reply;
    absl::Status status =
        PkiClient(options).Call(&v1::Pki::Stub::SignIntermediate, request, &reply);
    if (!status.ok()) return status;
    return PrintPem(reply.certificate_pem(), "certificate", reply, options);
  });
}

void AddIntermediateImport(CLI::App* intermediate, const GlobalOptions& options) {
  struct Flags {
    std::string issuer;
    std::string cert;
    std::string chain;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = intermediate->add_subcommand(
      "import", "Install the signed certificate (and chain) of an intermediate issuer");
  command->add_option("ISSUER", flags->issuer, "Issuer name")->required();
  command->add_option("--cert", flags->cert, "PEM certificate file, - for standard input")
      ->type_name("FILE")
      ->required();
  CLI::Option* chain =
      command->add_option("--chain", flags->chain, "PEM file of the CA chain up to the root")
          ->type_name("FILE");
  OnRun(command, [flags, chain, &options] {
    v1::ImportIssuerCertificateRequest request;
    request.set_issuer_name(flags->issuer);
    if (absl::Status status =
            ReadInput(flags->cert, "certificate", request.mutable_certificate_pem());
        !status.ok()) {
      return status;
    }
    if (chain->count() > 0) {
      if (absl::Status status = ReadInput(flags->chain, "chain", request.mutable_chain_pem());
          !status.ok()) {
        return status;
      }
    }
    v1::Issuer reply;
    absl::Status status =
        PkiClient(options).Call(&v1::Pki::Stub::ImportIssuerCertificate, request, &reply);
    return status.ok() ? PrintIssuer(reply, options) : status;
  });
}

void AddIntermediate(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string issuer;
    std::string common_name;
    v1::PkiKeyType key_type = v1::PKI_KEY_TYPE_UNSPECIFIED;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = pki->add_subcommand(
      "intermediate", "Create an intermediate issuer (key in the HSM) and print its CSR");
  command->require_subcommand(0, 1);
  CLI::Option* issuer = command->add_option("ISSUER", flags->issuer, "Issuer name");
  CLI::Option* common_name =
      command->add_option("--common-name", flags->common_name, "Subject common name")
          ->type_name("CN");
  AddKeyType(command, &flags->key_type, "CA key type [default ec-p256]");
  AddIntermediateSign(command, options);
  AddIntermediateImport(command, options);
  OnRun(command, [command, flags, issuer, common_name, &options] {
    if (!command->get_subcommands().empty()) {
      if (issuer->count() > 0 || common_name->count() > 0) {
        throw CLI::ValidationError(
            "pki intermediate: ISSUER and --common-name do not go with "
            "sign/import subcommand");
      }
      return absl::OkStatus();
    }
    if (issuer->count() == 0) throw CLI::RequiredError("ISSUER");
    if (common_name->count() == 0) throw CLI::RequiredError("--common-name");
    v1::CreateIntermediateIssuerRequest request;
    request.set_issuer_name(flags->issuer);
    request.set_common_name(flags->common_name);
    request.set_key_type(flags->key_type);
    v1::CreateIntermediateIssuerResponse reply;
    absl::Status status =
        PkiClient(options).Call(&v1::Pki::Stub::CreateIntermediateIssuer, request, &reply);
    if (!status.ok()) return status;
    return PrintPem(reply.csr_pem(), "CSR", reply, options);
  });
}

// ---- pki issuer ... ----

void AddIssuerCommands(CLI::App* pki, const GlobalOptions& options) {
  CLI::App* group = pki->add_subcommand("issuer", "Show and list issuers");
  group->require_subcommand(1);

  auto name = std::make_shared<std::string>();
  CLI::App* get = group->add_subcommand("get", "Show an issuer and its certificate");
  get->add_option("ISSUER", *name, "Issuer name")->required();
  OnRun(get, [name, &options] {
    v1::GetIssuerRequest request;
    request.set_issuer_name(*name);
    v1::Issuer reply;
    absl::Status status = PkiClient(options).Call(&v1::Pki::Stub::GetIssuer, request, &reply);
    return status.ok() ? PrintIssuer(reply, options) : status;
  });

  CLI::App* list = group->add_subcommand("list", "List issuer names");
  OnRun(list, [&options] {
    PkiClient client(options);
    v1::ListIssuersResponse all;
    absl::Status status = ListPages(client, &v1::Pki::Stub::ListIssuers, v1::ListIssuersRequest(),
                                    true, &v1::ListIssuersResponse::mutable_issuer_names, &all);
    if (!status.ok()) return status;
    return options.json ? PrintJson(all) : PrintLines(all.issuer_names());
  });
}

// ---- pki role ... ----

void AddRolePut(CLI::App* group, const GlobalOptions& options) {
  struct Flags {
    std::vector<std::string> allowed_domains;
    std::vector<std::string> allowed_uri_sans;
    bool allow_subdomains = false, allow_bare_domains = false, allow_glob_domains = false,
         allow_localhost = false, allow_ip_sans = false, server = false, client = false,
         no_store = false, exclude_cn_from_sans = false;
    v1::PkiKeyType key_type = v1::PKI_KEY_TYPE_UNSPECIFIED;
    uint32_t key_bits = 0;
    std::optional<absl::Duration> ttl, max_ttl;
    std::string name, issuer;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      group->add_subcommand("put", "Create or replace a role: what certificates it may issue");
  command->add_option("NAME", flags->name, "Role name")->required();
  command->add_option("--issuer", flags->issuer, "Issuer that signs the role's certificates")
      ->type_name("ISSUER")
      ->required();
  AddList(command, "--allowed-domains", &flags->allowed_domains, "Domains names may be in");
  command->add_flag("--allow-subdomains", flags->allow_subdomains,
                    "Allow names below the allowed domains");
  command->add_flag("--allow-bare-domains", flags->allow_bare_domains,
                    "Allow the allowed domains themselves");
  command->add_flag("--allow-glob-domains", flags->allow_glob_domains,
                    "Treat allowed domains as globs");
  command->add_flag("--allow-localhost", flags->allow_localhost, "Allow localhost");
  command->add_flag("--allow-ip-sans", flags->allow_ip_sans, "Allow IP address SANs");
  AddList(command, "--allowed-uri-sans", &flags->allowed_uri_sans,
          "URI SAN patterns, e.g. spiffe://prod.example/*");
  command->add_flag("--server", flags->server, "Add the serverAuth extended key usage");
  command->add_flag("--client", flags->client, "Add the clientAuth extended key usage");
  AddKeyType(command, &flags->key_type, "Key type of issued keys [default ec-p256]");
  AddNumber(command, "--key-bits", 1, &flags->key_bits, "Minimum RSA bits for CSRs [default 2048]");
  AddDuration(command, "--ttl", &flags->ttl, "Default certificate validity");
  AddDuration(command, "--max-ttl", &flags->max_ttl, "Longest certificate validity");
  command->add_flag("--no-store", flags->no_store, "Do not store issued certificates");
  command->add_flag("--exclude-cn-from-sans", flags->exclude_cn_from_sans,
                    "Leave the common name out of the subjectAltName (refused for --server "
                    "certificates without another SAN)");
  OnRun(command, [flags, &options] {
    v1::Role request;
    request.set_name(flags->name);
    request.set_issuer_name(flags->issuer);
    SetList(flags->allowed_domains, request.mutable_allowed_domains());
    request.set_allow_subdomains(flags->allow_subdomains);
    request.set_allow_bare_domains(flags->allow_bare_domains);
    request.set_allow_glob_domains(flags->allow_glob_domains);
    request.set_allow_localhost(flags->allow_localhost);
    request.set_allow_ip_sans(flags->allow_ip_sans);
    SetList(flags->allowed_uri_sans, request.mutable_allowed_uri_sans());
    request.set_server_flag(flags->server);
    request.set_client_flag(flags->client);
    request.set_key_type(flags->key_type);
    request.set_key_bits(flags->key_bits);
    if (flags->ttl.has_value()) SetDuration(*flags->ttl, request.mutable_ttl());
    if (flags->max_ttl.has_value()) SetDuration(*flags->max_ttl, request.mutable_max_ttl());
    request.set_no_store(flags->no_store);
    request.set_exclude_cn_from_sans(flags->exclude_cn_from_sans);
    v1::Role reply;
    absl::Status status = PkiClient(options).Call(&v1::Pki::Stub::PutRole, request, &reply);
    return status.ok() ? PrintRole(reply, options) : status;
  });
}

void AddRoleCommands(CLI::App* pki, const GlobalOptions& options) {
  CLI::App* group = pki->add_subcommand("role", "Create, show, list and delete roles");
  group->require_subcommand(1);
  AddRolePut(group, options);

  auto get_name = std::make_shared<std::string>();
  CLI::App* get = group->add_subcommand("get", "Show a role");
  get->add_option("NAME", *get_name, "Role name")->required();
  OnRun(get, [get_name, &options] {
    v1::GetRoleRequest request;
    request.set_name(*get_name);
    v1::Role reply;
    absl::Status status = PkiClient(options).Call(&v1::Pki::Stub::GetRole, request, &reply);
    return status.ok() ? PrintRole(reply, options) : status;
  });

  CLI::App* list = group->add_subcommand("list", "List role names");
  OnRun(list, [&options] {
    PkiClient client(options);
    v1::ListRolesResponse all;
    absl::Status status = ListPages(client, &v1::Pki::Stub::ListRoles, v1::ListRolesRequest(), true,
                                    &v1::ListRolesResponse::mutable_names, &all);
    if (!status.ok()) return status;
    return options.json ? PrintJson(all) : PrintLines(all.names());
  });

  auto delete_name = std::make_shared<std::string>();
  CLI::App* del = group->add_subcommand("delete", "Delete a role");
  del->add_option("NAME", *delete_name, "Role name")->required();
  OnRun(del, [delete_name, &options] {
    v1::DeleteRoleRequest request;
    request.set_name(*delete_name);
    v1::DeleteRoleResponse reply;
    absl::Status status = PkiClient(options).Call(&v1::Pki::Stub::DeleteRole, request, &reply);
    if (!status.ok()) return status;
    if (options.json) return PrintJson(reply);
    return Print(absl::StrCat("Deleted role ", Printable(*delete_name), "\n"));
  });
}

// ---- pki issue / sign ----

// The SAN flags issue and sign share.
struct SanFlags {
  std::vector<std::string> dns, ip, uri;
  std::optional<absl::Duration> ttl;
  bool exclude_cn_from_sans = false;
};

void AddSanOptions(CLI::App* command, SanFlags* flags) {
  AddList(command, "--dns", &flags->dns, "DNS name SANs");
  AddList(command, "--ip", &flags->ip, "IP address SANs");
  AddList(command, "--uri", &flags->uri, "URI SANs");
  AddDuration(command, "--ttl", &flags->ttl, "Validity [default: the role's]");
  command->add_flag("--exclude-cn-from-sans", flags->exclude_cn_from_sans,
                    "Leave the common name out of the subjectAltName");
}

template <typename Request>
void FillSans(const SanFlags& flags, Request* request) {
  SetList(flags.dns, request->mutable_dns_sans());
  SetList(flags.ip, request->mutable_ip_sans());
  SetList(flags.uri, request->mutable_uri_sans());
  if (flags.ttl.has_value()) SetDuration(*flags.ttl, request->mutable_ttl());
  request->set_exclude_cn_from_sans(flags.exclude_cn_from_sans);
}

constexpr const char* kOutFiles[] = {"key.pem", "cert.pem", "chain.pem"};

// Writes key.pem (0600), cert.pem and chain.pem (0644) under `dir`, each created exclusively.
absl::Status WriteIssued(const std::string& dir, const v1::IssuedCertificate& issued) {
  if (absl::Status status =
          WriteNewFile(absl::StrCat(dir, "/key.pem"), issued.private_key_pem(), 0600);
      !status.ok()) {
    return status;
  }
  if (absl::Status status =
          WriteNewFile(absl::StrCat(dir, "/cert.pem"), issued.certificate_pem(), 0644);
      !status.ok()) {
    return status;
  }
  return WriteNewFile(absl::StrCat(dir, "/chain.pem"), issued.ca_chain_pem(), 0644);
}

void AddIssue(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string role;
    std::string common_name;
    SanFlags sans;
    std::string out_dir;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = pki->add_subcommand(
      "issue", "Issue a certificate and a new private key; print (or --out-dir) them");
  command->add_option("ROLE", flags->role, "Role to issue under")->required();
  command->add_option("--common-name", flags->common_name, "Subject common name")
      ->type_name("CN")
      ->required();
  AddSanOptions(command, &flags->sans);
  CLI::Option* out_dir =
      command
          ->add_option("--out-dir", flags->out_dir,
                       "Write cert.pem, chain.pem and key.pem (mode 0600) to this directory, "
                       "and print the serial number")
          ->type_name("DIR");
  OnRun(command, [flags, out_dir, &options] {
    const bool to_dir = out_dir->count() > 0;
    if (to_dir) {
      struct stat info;
      if (stat(flags->out_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
        return absl::FailedPreconditionError(
            absl::StrCat("--out-dir ", Printable(flags->out_dir), " is not a directory"));
      }
      for (const char* name : kOutFiles) {
        std::string path = absl::StrCat(flags->out_dir, "/", name);
        if (access(path.c_str(), F_OK) == 0 || errno != ENOENT) {
          return absl::FailedPreconditionError(
              absl::StrCat(Printable(path), " already exists; not overwriting it"));
        }
      }
    }
    v1::IssueCertificateRequest request;
    request.set_role(flags->role);
    request.set_common_name(flags->common_name);
    FillSans(flags->sans, &request);
    v1::IssuedCertificate reply;
    absl::Status status =
        PkiClient(options).Call(&v1::Pki::Stub::IssueCertificate, request, &reply);
    if (status.ok()) {
      if (reply.certificate_pem().empty()) {
        status = Missing("certificate");
      } else if (reply.private_key_pem().empty()) {
        status = Missing("private key");
      } else if (to_dir) {
        status = WriteIssued(flags->out_dir, reply);
        if (status.ok()) status = PrintLine(reply.serial_number());
      } else if (options.json) {
        status = PrintJson(reply);
      } else {
        std::string text = Pem(reply.certificate_pem());
        if (!reply.ca_chain_pem().empty()) absl::StrAppend(&text, Pem(reply.ca_chain_pem()));
        std::string key = Pem(reply.private_key_pem());
        AppendWiping(key, &text);
        hsm::CleanseString(&key);
        status = Print(text);
        hsm::CleanseString(&text);
      }
    }
    hsm::CleanseString(reply.mutable_private_key_pem());
    return status;
  });
}

void AddSign(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string role;
    std::string csr = kStdio;
    std::string common_name;
    SanFlags sans;
    bool chain = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      pki->add_subcommand("sign", "Sign a CSR under a role and print the certificate");
  command->add_option("ROLE", flags->role, "Role to sign under")->required();
  AddCsr(command, &flags->csr);
  command
      ->add_option("--common-name", flags->common_name, "Subject common name [default: the CSR's]")
      ->type_name("CN");
  AddSanOptions(command, &flags->sans);
  command->add_flag("--chain", flags->chain, "Also print the CA chain");
  OnRun(command, [flags, &options] {
    v1::SignCertificateRequest request;
    request.set_role(flags->role);
    if (absl::Status status = ReadInput(flags->csr, "CSR", request.mutable_csr_pem());
        !status.ok()) {
      return status;
    }
    request.set_common_name(flags->common_name);
    FillSans(flags->sans, &request);
    v1::SignedCertificate reply;
    absl::Status status = PkiClient(options).Call(&v1::Pki::Stub::SignCertificate, request, &reply);
    if (!status.ok()) return status;
    if (options.json) return PrintJson(reply);
    if (reply.certificate_pem().empty()) return Missing("certificate");
    std::string text = Pem(reply.certificate_pem());
    if (flags->chain) absl::StrAppend(&text, Pem(reply.ca_chain_pem()));
    return Print(text);
  });
}

// ---- pki revoke / crl / list ----

void AddRevoke(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string serial;
    int reason = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      pki->add_subcommand("revoke", "Revoke a certificate and print the revocation time");
  command->add_option("SERIAL", flags->serial, "Serial number, lowercase hex")->required();
  command->add_option("--reason", flags->reason,
                      "RFC 5280 CRLReason code, published in the CRL and OCSP (1 keyCompromise, "
                      "4 superseded, 5 cessationOfOperation, ...); default 0, unspecified");
  OnRun(command, [flags, &options] {
    v1::RevokeCertificateRequest request;
    request.set_serial_number(flags->serial);
    request.set_reason(static_cast<v1::RevocationReason>(flags->reason));
    v1::RevokeCertificateResponse reply;
    absl::Status status =
        PkiClient(options).Call(&v1::Pki::Stub::RevokeCertificate, request, &reply);
    if (!status.ok()) return status;
    if (options.json) return PrintJson(reply);
    if (!reply.has_revocation_time()) return Missing("revocation time");
    return PrintLine(FormatTimestamp(reply.revocation_time()));
  });
}

void AddCrl(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string issuer;
    std::string der;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = pki->add_subcommand("crl", "Print an issuer's CRL (PEM), or write its DER");
  command->add_option("ISSUER", flags->issuer, "Issuer name")->required();
  CLI::Option* der =
      command->add_option("--der", flags->der, "Write the DER CRL to this file (- for stdout)")
          ->type_name("FILE");
  OnRun(command, [flags, der, &options] {
    v1::GetCrlRequest request;
    request.set_issuer_name(flags->issuer);
    v1::Crl reply;
    absl::Status status = PkiClient(options).Call(&v1::Pki::Stub::GetCrl, request, &reply);
    if (!status.ok()) return status;
    if (der->count() > 0) {
      if (reply.crl_der().empty()) return Missing("DER CRL");
      return WriteOutput(flags->der, reply.crl_der());
    }
    return PrintPem(reply.crl_pem(), "CRL", reply, options);
  });
}

void AddCertList(CLI::App* pki, const GlobalOptions& options) {
  struct Flags {
    std::string issuer;
    bool all = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = pki->add_subcommand("list", "List certificate serial numbers");
  command->add_option("--issuer", flags->issuer, "Only certificates of this issuer")
      ->type_name("ISSUER");
  command->add_flag("--all", flags->all, "Follow the pages to the end and print every serial");
  OnRun(command, [flags, &options] {
    PkiClient client(options);
    v1::ListCertificatesRequest request;
    request.set_issuer_name(flags->issuer);
    v1::ListCertificatesResponse all;
    absl::Status status = ListPages(client, &v1::Pki::Stub::ListCertificates, request, flags->all,
                                    &v1::ListCertificatesResponse::mutable_serial_numbers, &all);
    if (!status.ok()) return status;
    if (flags->all) all.clear_next_page_token();
    status = options.json ? PrintJson(all) : PrintLines(all.serial_numbers());
    if (status.ok() && !options.json && !all.next_page_token().empty()) {
      std::cerr << "strongroom: more certificates follow; add --all to list every one" << std::endl;
    }
    return status;
  });
}

}  // namespace

void AddPkiCommands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* pki = app.add_subcommand("pki", "Certificate authority: issuers, roles, certificates");
  pki->require_subcommand(1);
  AddRoot(pki, options);
  AddIntermediate(pki, options);
  AddIssuerCommands(pki, options);
  AddRoleCommands(pki, options);
  AddIssue(pki, options);
  AddSign(pki, options);
  AddRevoke(pki, options);
  AddCrl(pki, options);
  AddCertList(pki, options);
}

}  // namespace strongroom::cli
