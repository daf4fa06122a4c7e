#include "tools/cli/transit_commands.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "hsm/openssl_ptr.h"
#include "hsm/secret_data.h"
#include "kms/key_type.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "strongroom/v1/transit.pb.h"
#include "tools/cli/command_util.h"

namespace strongroom::cli {
namespace {

// Longest --auto-rotate period accepted (google.protobuf.Duration allows 10000 years).
constexpr absl::Duration kMaxRotatePeriod = absl::Hours(24 * 365 * 100);

using Fields = std::vector<std::pair<std::string, std::string>>;

// ---- Names on the command line and in human output ----

// The engine's key type names (kms/key_type.h).
const std::vector<Named<v1::KeyType>>& KeyTypes() {
  static const auto* const types = [] {
    auto* named = new std::vector<Named<v1::KeyType>>();
    for (kms::KeyType t : kms::AllKeyTypes()) {
      named->push_back({kms::KeyTypeName(t), kms::ApiKeyType(t)});
    }
    return named;
  }();
  return *types;
}
constexpr Named<v1::Residency> kResidencies[] = {{"wrapped", v1::WRAPPED}, {"hsm", v1::HSM}};
constexpr Named<v1::HashAlgorithm> kHashAlgorithms[] = {
    {"sha2-256", v1::SHA2_256}, {"sha2-384", v1::SHA2_384}, {"sha2-512", v1::SHA2_512}};
constexpr Named<v1::SignatureAlgorithm> kSignatureAlgorithms[] = {{"pss", v1::PSS},
                                                                  {"pkcs1v15", v1::PKCS1V15}};
constexpr Named<uint32_t> kDataKeyBits[] = {{"128", 128}, {"256", 256}, {"512", 512}};

bool IsAead(v1::KeyType type) {
  std::optional<kms::KeyType> t = kms::KeyTypeOf(type);
  return t.has_value() && kms::IsAead(*t);
}

// ---- Flags ----

// "24h", "90m", "1h30m"; "0", "0s" and "never" turn rotation off.
std::optional<absl::Duration> ParseRotatePeriod(const std::string& text) {
  if (text == "never") return absl::ZeroDuration();
  absl::Duration period;
  if (!absl::ParseDuration(text, &period) || period < absl::ZeroDuration() ||
      period > kMaxRotatePeriod) {
    return std::nullopt;
  }
  return period;
}

CLI::Option* AddRotatePeriod(CLI::App* command, std::optional<absl::Duration>* value,
                             const std::string& description) {
  return command
      ->add_option_function<std::string>(
          "--auto-rotate", [value](const std::string& text) { *value = ParseRotatePeriod(text); },
          description)
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            if (ParseRotatePeriod(text).has_value()) return "";
            return "want a duration such as 24h or 720h (at most 100 years), or 0 or never to "
                   "turn rotation off; got " +
                   text;
          },
          ""))
      ->type_name("DURATION");
}

// ---- Keys in human form ----

std::string Bool(bool value) { return value ? "true" : "false"; }

// "SHA256:<unpadded base64>" of the DER SubjectPublicKeyInfo, as ssh-keygen -l shows keys.
std::string PublicKeyFingerprint(const std::string& pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  hsm::EvpPkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  const std::string der = hsm::DerOf(i2d_PUBKEY, key.get());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  bool ok = !der.empty() && EVP_Digest(der.data(), der.size(), digest, &digest_len, EVP_sha256(),
                                       nullptr) == 1;
  ERR_clear_error();
  if (!ok) return "public key (unreadable PEM)";
  std::string base64 =
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), digest_len));
  return absl::StrCat("SHA256:", absl::StripSuffix(absl::StripSuffix(base64, "="), "="));
}

Fields KeyFields(const v1::Key& key) {
  Fields fields;
  fields.emplace_back("Name", key.name());
  fields.emplace_back("Type", NameOf(KeyTypes(), key.type()));
  fields.emplace_back("Residency", NameOf(kResidencies, key.residency()));
  fields.emplace_back("Latest version", absl::StrCat(key.latest_version()));
  fields.emplace_back("Min decryption version", absl::StrCat(key.min_decryption_version()));
  fields.emplace_back("Min encryption version", key.min_encryption_version() == 0
                                                    ? "0 (latest)"
                                                    : absl::StrCat(key.min_encryption_version()));
  fields.emplace_back("Min available version", absl::StrCat(key.min_available_version()));
  fields.emplace_back("Deletion allowed", Bool(key.deletion_allowed()));
  fields.emplace_back("Derived", Bool(key.derived()));
  fields.emplace_back("Convergent", Bool(key.convergent()));
  absl::Duration period = absl::Seconds(key.auto_rotate_period().seconds()) +
                          absl::Nanoseconds(key.auto_rotate_period().nanos());
  fields.emplace_back("Auto-rotate period",
                      period <= absl::ZeroDuration() ? "never" : absl::FormatDuration(period));
  for (const v1::KeyVersion& version : key.versions()) {
    std::string value = version.has_create_time() ? FormatTimestamp(version.create_time()) : "-";
    if (!version.public_key_pem().empty()) {
      absl::StrAppend(&value, "  ", PublicKeyFingerprint(version.public_key_pem()));
    } else if (IsAead(key.type())) {
      absl::StrAppend(&value, "  ", version.encryptions(),
                      version.encryptions() == 1 ? " encryption" : " encryptions");
    }
    fields.emplace_back(absl::StrCat("Version ", version.version()), value);
  }
  return fields;
}

absl::Status PrintKey(const v1::Key& key, const GlobalOptions& options) {
  if (options.json) return PrintJson(key);
  return Print(FormatFields(KeyFields(key)));
}

// ---- Calls ----

template <typename Request, typename Reply>
using StubMethod = grpc::Status (v1::Transit::Stub::*)(grpc::ClientContext*, const Request&,
                                                       Reply*);

// strongroom.v1.Transit for one command: connects on the first call and reuses the channel.
using TransitClient = ServiceClient<v1::Transit>;

// The failure an item reported, as "<CODE>: <message>"; OK if it reported none.
absl::Status ItemStatus(const v1::ItemError& error) {
  if (error.code() == 0 && error.message().empty()) return absl::OkStatus();
  absl::StatusCode code = error.code() > 0 && error.code() <= 16
                              ? static_cast<absl::StatusCode>(error.code())
                              : absl::StatusCode::kUnknown;
  std::string message(absl::StripAsciiWhitespace(error.message()));
  std::replace_if(
      message.begin(), message.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; },
      ' ');
  std::string name = absl::StatusCodeToString(code);
  return absl::Status(code, message.empty() ? name : absl::StrCat(name, ": ", Printable(message)));
}

// The single result of a one-item batch, or the error that item (or the reply) carries.
template <typename Result>
absl::StatusOr<const Result*> OnlyResult(
    const google::protobuf::RepeatedPtrField<Result>& results) {
  if (results.size() != 1) {
    return absl::InternalError(
        absl::StrCat("strongroomd answered one item with ", results.size(), " results"));
  }
  if (results[0].has_error()) {
    if (absl::Status status = ItemStatus(results[0].error()); !status.ok()) return status;
  }
  return &results[0];
}

CLI::Option* AddKeyName(CLI::App* command, std::string* name) {
  return command->add_option("NAME", *name, "Key name")->required();
}

CLI::Option* AddTransitKey(CLI::App* command, std::string* name) {
  return command->add_option("KEY", *name, "Name of the transit key")->required();
}

CLI::Option* AddIn(CLI::App* command, std::string* path, const std::string& what) {
  return command
      ->add_option(
          "--in", *path,
          absl::StrCat("File to read the ", what, " from, - for standard input [default -]"))
      ->type_name("FILE");
}

CLI::Option* AddContext(CLI::App* command, std::string* context) {
  return command
      ->add_option("--context", *context, "Key derivation context (required for derived keys)")
      ->type_name("STRING");
}

CLI::Option* AddVersion(CLI::App* command, uint32_t* version) {
  return AddNumber(command, "--version", 1, version, "Key version to use [default latest]");
}

CLI::Option* AddHash(CLI::App* command, v1::HashAlgorithm* hash) {
  return AddChoice(command, "--hash", kHashAlgorithms, hash, "Hash algorithm [default sha2-256]")
      ->type_name("HASH");
}

// ---- key ... ----

void AddKeyCreate(CLI::App* key, const GlobalOptions& options) {
  struct Flags {
    std::string name;
    v1::KeyType type = v1::AES256_GCM;
    bool hsm = false;
    bool derived = false;
    bool convergent = false;
    std::optional<absl::Duration> auto_rotate;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = key->add_subcommand("create", "Create a transit key (version 1)");
  AddKeyName(command, &flags->name);
  AddChoice(command, "--type", KeyTypes(), &flags->type, "Key type [default aes256-gcm]")
      ->type_name("TYPE");
  command->add_flag("--hsm", flags->hsm,
                    "Create the key inside the HSM, non-extractable [default: wrapped by the KEK]");
  command->add_flag("--derived", flags->derived, "Derive a key per --context for every operation");
  command->add_flag("--convergent", flags->convergent,
                    "Convergent encryption: the same plaintext and context give the same "
                    "ciphertext");
  AddRotatePeriod(command, &flags->auto_rotate, "Rotate automatically this often [default never]");
  OnRun(command, [flags, &options] {
    v1::CreateKeyRequest request;
    request.set_name(flags->name);
    request.set_type(flags->type);
    request.set_residency(flags->hsm ? v1::HSM : v1::WRAPPED);
    request.set_derived(flags->derived);
    request.set_convergent(flags->convergent);
    if (flags->auto_rotate.has_value()) {
      SetDuration(*flags->auto_rotate, request.mutable_auto_rotate_period());
    }
    v1::Key reply;
    absl::Status status =
        TransitClient(options).Call(&v1::Transit::Stub::CreateKey, request, &reply);
    return status.ok() ? PrintKey(reply, options) : status;
  });
}

// key get/rotate: NAME in, the key out.
template <typename Request>
void AddKeyByName(CLI::App* key, const std::string& name, const std::string& description,
                  StubMethod<Request, v1::Key> method, const GlobalOptions& options) {
  auto key_name = std::make_shared<std::string>();
  CLI::App* command = key->add_subcommand(name, description);
  AddKeyName(command, key_name.get());
  OnRun(command, [key_name, method, &options] {
    Request request;
    request.set_name(*key_name);
    v1::Key reply;
    absl::Status status = TransitClient(options).Call(method, request, &reply);
    return status.ok() ? PrintKey(reply, options) : status;
  });
}

absl::Status PrintKeyList(const v1::ListKeysResponse& reply, const GlobalOptions& options) {
  if (options.json) return PrintJson(reply);
  std::string text;
  for (const std::string& name : reply.names()) absl::StrAppend(&text, Printable(name), "\n");
  absl::Status status = Print(text);
  if (status.ok() && !reply.next_page_token().empty()) {
    std::cerr << "strongroom: more keys follow: add --page-token "
              << Printable(reply.next_page_token()) << " for the next page, or --all" << std::endl;
  }
  return status;
}

void AddKeyList(CLI::App* key, const GlobalOptions& options) {
  struct Flags {
    uint32_t page_size = 0;
    std::string page_token;
    bool all = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = key->add_subcommand("list", "List transit key names");
  AddNumber(command, "--page-size", 1, &flags->page_size,
            "Names per page, at most 1000 [default: the server's, 100]")
      ->check(CLI::Range(1, 1000));
  command->add_option("--page-token", flags->page_token, "Where to continue a previous listing")
      ->type_name("TOKEN");
  command->add_flag("--all", flags->all, "Follow the pages to the end and print every name");
  OnRun(command, [flags, &options] {
    TransitClient client(options);
    v1::ListKeysRequest request;
    request.set_page_size(flags->page_size);
    request.set_page_token(flags->page_token);
    v1::ListKeysResponse all;
    std::set<std::string> tokens_seen;
    for (;;) {
      v1::ListKeysResponse page;
      if (absl::Status status = client.Call(&v1::Transit::Stub::ListKeys, request, &page);
          !status.ok()) {
        return status;
      }
      if (!flags->all) return PrintKeyList(page, options);
      all.mutable_names()->MergeFrom(page.names());
      if (page.next_page_token().empty()) break;
      if (!tokens_seen.insert(page.next_page_token()).second) {
        return absl::InternalError("strongroomd returned the same page token twice; stopped");
      }
      request.set_page_token(page.next_page_token());
    }
    return PrintKeyList(all, options);
  });
}

void AddKeyConfig(CLI::App* key, const GlobalOptions& options) {
  struct Flags {
    std::string name;
    uint32_t min_decryption_version = 0;
    uint32_t min_encryption_version = 0;
    std::string deletion_allowed;
    std::optional<absl::Duration> auto_rotate;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      key->add_subcommand("config", "Change a key's settings; only the flags given change");
  AddKeyName(command, &flags->name);
  CLI::Option* min_decryption =
      AddNumber(command, "--min-decryption-version", 0, &flags->min_decryption_version,
                "Oldest version that may decrypt, verify or rewrap");
  CLI::Option* min_encryption =
      AddNumber(command, "--min-encryption-version", 0, &flags->min_encryption_version,
                "Oldest version that may encrypt or sign, 0 for the latest");
  CLI::Option* deletion_allowed =
      command->add_option("--deletion-allowed", flags->deletion_allowed, "Allow key delete")
          ->check(CLI::IsMember({"true", "false"}))
          ->type_name("BOOL");
  AddRotatePeriod(command, &flags->auto_rotate, "Rotate automatically this often; 0 or never: off");
  OnRun(command, [flags, min_decryption, min_encryption, deletion_allowed, &options] {
    if (min_decryption->count() == 0 && min_encryption->count() == 0 &&
        deletion_allowed->count() == 0 && !flags->auto_rotate.has_value()) {
      // A usage error (exit status 2), like a missing argument.
      throw CLI::ValidationError(
          "key config: nothing to change; give --min-decryption-version, "
          "--min-encryption-version, --deletion-allowed or --auto-rotate");
    }
    v1::UpdateKeyConfigRequest request;
    request.set_name(flags->name);
    if (min_decryption->count() > 0) {
      request.set_min_decryption_version(flags->min_decryption_version);
    }
    if (min_encryption->count() > 0) {
      request.set_min_encryption_version(flags->min_encryption_version);
    }
    if (deletion_allowed->count() > 0) {
      request.set_deletion_allowed(flags->deletion_allowed == "true");
    }
    if (flags->auto_rotate.has_value()) {
      SetDuration(*flags->auto_rotate, request.mutable_auto_rotate_period());
    }
    v1::Key reply;
    absl::Status status =
        TransitClient(options).Call(&v1::Transit::Stub::UpdateKeyConfig, request, &reply);
    return status.ok() ? PrintKey(reply, options) : status;
  });
}

void AddKeyTrim(CLI::App* key, const GlobalOptions& options) {
  struct Flags {
    std::string name;
    uint32_t min_available_version = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      key->add_subcommand("trim", "Destroy the versions older than --min-available-version");
  AddKeyName(command, &flags->name);
  AddNumber(command, "--min-available-version", 1, &flags->min_available_version,
            "Oldest version to keep")
      ->required();
  OnRun(command, [flags, &options] {
    v1::TrimKeyRequest request;
    request.set_name(flags->name);
    request.set_min_available_version(flags->min_available_version);
    v1::Key reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::TrimKey, request, &reply);
    return status.ok() ? PrintKey(reply, options) : status;
  });
}

void AddKeyDelete(CLI::App* key, const GlobalOptions& options) {
  auto name = std::make_shared<std::string>();
  CLI::App* command = key->add_subcommand(
      "delete", "Delete a key and every version of it (needs deletion allowed)");
  AddKeyName(command, name.get());
  OnRun(command, [name, &options] {
    v1::DeleteKeyRequest request;
    request.set_name(*name);
    v1::DeleteKeyResponse reply;
    absl::Status status =
        TransitClient(options).Call(&v1::Transit::Stub::DeleteKey, request, &reply);
    if (!status.ok()) return status;
    if (options.json) return PrintJson(reply);
    return Print(absl::StrCat("Deleted key ", Printable(*name), "\n"));
  });
}

void AddKeyCommands(CLI::App& app, const GlobalOptions& options) {
  CLI::App* key = app.add_subcommand("key", "Create, inspect, rotate, configure and delete keys");
  key->require_subcommand(1);
  AddKeyCreate(key, options);
  AddKeyByName(key, "get", "Show a key and its versions", &v1::Transit::Stub::GetKey, options);
  AddKeyList(key, options);
  AddKeyByName(key, "rotate", "Add a new latest version to a key", &v1::Transit::Stub::RotateKey,
               options);
  AddKeyConfig(key, options);
  AddKeyTrim(key, options);
  AddKeyDelete(key, options);
}

// ---- Encryption ----

void AddEncrypt(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    std::string key;
    std::string in = kStdio;
    std::string aad;
    std::string context;
    uint32_t version = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      app.add_subcommand("encrypt", "Encrypt bytes and print the ciphertext (vault:v<N>:...)");
  AddTransitKey(command, &flags->key);
  AddIn(command, &flags->in, "plaintext");
  command->add_option("--aad", flags->aad, "Associated data bound to the ciphertext")
      ->type_name("STRING");
  AddContext(command, &flags->context);
  AddVersion(command, &flags->version);
  OnRun(command, [flags, &options] {
    v1::EncryptRequest request;
    request.set_key_name(flags->key);
    request.set_key_version(flags->version);
    v1::EncryptRequest::Item* item = request.add_items();
    if (absl::Status status = ReadInput(flags->in, "plaintext", item->mutable_plaintext());
        !status.ok()) {
      return status;
    }
    item->set_associated_data(flags->aad);
    item->set_context(flags->context);
    v1::EncryptResponse reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::Encrypt, request, &reply);
    hsm::CleanseString(item->mutable_plaintext());
    if (!status.ok()) return status;
    absl::StatusOr<const v1::EncryptResponse::Result*> result = OnlyResult(reply.results());
    if (!result.ok()) return result.status();
    if ((*result)->ciphertext().empty()) return Missing("ciphertext");
    return options.json ? PrintJson(reply) : PrintLine((*result)->ciphertext());
  });
}

void AddDecrypt(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    std::string key;
    std::string ciphertext;
    std::string in = kStdio;
    std::string aad;
    std::string context;
    std::string out = kStdio;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "decrypt", "Decrypt a ciphertext and write the plaintext bytes, unchanged");
  AddTransitKey(command, &flags->key);
  CLI::Option* ciphertext = command->add_option("CIPHERTEXT", flags->ciphertext,
                                                "vault:v<N>:... [default: read from --in]");
  CLI::Option* in = AddIn(command, &flags->in, "ciphertext");
  ciphertext->excludes(in);
  command->add_option("--aad", flags->aad, "Associated data given when encrypting")
      ->type_name("STRING");
  AddContext(command, &flags->context);
  command
      ->add_option("--out", flags->out,
                   "File to write the plaintext to (created mode 0600), - for standard output "
                   "[default -]")
      ->type_name("FILE");
  OnRun(command, [flags, ciphertext, &options] {
    v1::DecryptRequest request;
    request.set_key_name(flags->key);
    v1::DecryptRequest::Item* item = request.add_items();
    if (ciphertext->count() > 0) {
      item->set_ciphertext(flags->ciphertext);
    } else {
      std::string text;
      if (absl::Status status = ReadInput(flags->in, "ciphertext", &text); !status.ok()) {
        return status;
      }
      item->set_ciphertext(std::string(absl::StripAsciiWhitespace(text)));
      if (item->ciphertext().empty()) {
        return absl::InvalidArgumentError(absl::StrCat("no ciphertext on ", SourceName(flags->in),
                                                       ": give it as an argument or with --in"));
      }
    }
    item->set_associated_data(flags->aad);
    item->set_context(flags->context);
    v1::DecryptResponse reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::Decrypt, request, &reply);
    if (status.ok()) {
      absl::StatusOr<const v1::DecryptResponse::Result*> result = OnlyResult(reply.results());
      if (!result.ok()) {
        status = result.status();
      } else if (options.json) {
        status = PrintJson(reply, flags->out);
      } else {
        status = WriteOutput(flags->out, (*result)->plaintext());
      }
    }
    for (v1::DecryptResponse::Result& result : *reply.mutable_results()) {
      hsm::CleanseString(result.mutable_plaintext());
    }
    return status;
  });
}

void AddRewrap(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    std::string key;
    std::string ciphertext;
    std::string aad;
    std::string context;
    uint32_t version = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "rewrap", "Re-encrypt a ciphertext under the latest (or --version) key version");
  AddTransitKey(command, &flags->key);
  command->add_option("CIPHERTEXT", flags->ciphertext, "vault:v<N>:...")->required();
  command->add_option("--aad", flags->aad, "Associated data given when encrypting")
      ->type_name("STRING");
  AddContext(command, &flags->context);
  AddVersion(command, &flags->version);
  OnRun(command, [flags, &options] {
    v1::RewrapRequest request;
    request.set_key_name(flags->key);
    request.set_key_version(flags->version);
    v1::RewrapRequest::Item* item = request.add_items();
    item->set_ciphertext(flags->ciphertext);
    item->set_associated_data(flags->aad);
    item->set_context(flags->context);
    v1::RewrapResponse reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::Rewrap, request, &reply);
    if (!status.ok()) return status;
    absl::StatusOr<const v1::EncryptResponse::Result*> result = OnlyResult(reply.results());
    if (!result.ok()) return result.status();
    if ((*result)->ciphertext().empty()) return Missing("ciphertext");
    return options.json ? PrintJson(reply) : PrintLine((*result)->ciphertext());
  });
}

void AddDataKey(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    std::string key;
    uint32_t bits = 0;
    bool plaintext = false;
    std::string context;
    uint32_t version = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "datakey", "Generate a data key and print it encrypted (and, with --plaintext, in clear)");
  AddTransitKey(command, &flags->key);
  AddChoice(command, "--bits", kDataKeyBits, &flags->bits, "Data key size [default 256]")
      ->type_name("BITS");
  command->add_flag("--plaintext", flags->plaintext,
                    "Also print the data key itself, base64 (handle with care)");
  AddContext(command, &flags->context);
  AddVersion(command, &flags->version);
  OnRun(command, [flags, &options] {
    v1::GenerateDataKeyRequest request;
    request.set_key_name(flags->key);
    request.set_bits(flags->bits);
    request.set_include_plaintext(flags->plaintext);
    request.set_context(flags->context);
    request.set_key_version(flags->version);
    v1::GenerateDataKeyResponse reply;
    absl::Status status =
        TransitClient(options).Call(&v1::Transit::Stub::GenerateDataKey, request, &reply);
    if (status.ok()) {
      if (reply.ciphertext().empty()) {
        status = Missing("ciphertext");
      } else if (flags->plaintext && reply.plaintext().empty()) {
        status = Missing("plaintext data key");
      } else if (options.json) {
        status = PrintJson(reply);
      } else {
        std::string text = absl::StrCat("ciphertext: ", Printable(reply.ciphertext()), "\n");
        if (flags->plaintext) {
          std::string encoded = absl::Base64Escape(reply.plaintext());
          absl::StrAppend(&text, "plaintext: ", encoded, "\n");
          hsm::CleanseString(&encoded);
        }
        status = Print(text);
        hsm::CleanseString(&text);
      }
    }
    hsm::CleanseString(reply.mutable_plaintext());
    return status;
  });
}

// ---- Signatures and HMACs ----

// The options sign and verify share, and how they go into either request.
struct SigningFlags {
  std::string key;
  std::string in = kStdio;
  v1::HashAlgorithm hash = v1::HASH_ALGORITHM_UNSPECIFIED;
  v1::SignatureAlgorithm algorithm = v1::SIGNATURE_ALGORITHM_UNSPECIFIED;
  bool prehashed = false;
  std::string context;
};

void AddSigningOptions(CLI::App* command, SigningFlags* flags, const char* input_name) {
  AddIn(command, &flags->in, input_name);
  AddHash(command, &flags->hash);
  AddChoice(command, "--algorithm", kSignatureAlgorithms, &flags->algorithm,
            "RSA signature scheme [default pss]")
      ->type_name("ALGORITHM");
  command->add_flag("--prehashed", flags->prehashed, "The input is already a --hash digest");
  AddContext(command, &flags->context);
}

template <typename Request>
absl::Status FillSigningRequest(const SigningFlags& flags, Request* request) {
  request->set_key_name(flags.key);
  if (absl::Status status = ReadInput(flags.in, "input", request->mutable_input()); !status.ok()) {
    return status;
  }
  request->set_prehashed(flags.prehashed);
  request->set_hash_algorithm(flags.hash);
  request->set_signature_algorithm(flags.algorithm);
  request->set_context(flags.context);
  return absl::OkStatus();
}

void AddSign(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    SigningFlags signing;
    uint32_t version = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("sign", "Sign bytes and print the signature");
  AddTransitKey(command, &flags->signing.key);
  AddSigningOptions(command, &flags->signing, "input");
  AddVersion(command, &flags->version);
  OnRun(command, [flags, &options] {
    v1::SignRequest request;
    request.set_key_version(flags->version);
    if (absl::Status status = FillSigningRequest(flags->signing, &request); !status.ok()) {
      return status;
    }
    v1::SignResponse reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::Sign, request, &reply);
    hsm::CleanseString(request.mutable_input());
    if (!status.ok()) return status;
    if (reply.signature().empty()) return Missing("signature");
    return options.json ? PrintJson(reply) : PrintLine(reply.signature());
  });
}

// Prints valid/invalid; invalid is a failure (exit status 1).
absl::Status ReportVerdict(const v1::VerifyResponse& reply, absl::string_view what,
                           const std::string& key, const GlobalOptions& options) {
  absl::Status printed =
      options.json ? PrintJson(reply) : Print(reply.valid() ? "valid\n" : "invalid\n");
  if (!printed.ok() || reply.valid()) return printed;
  return absl::InvalidArgumentError(
      absl::StrCat(what, " is invalid for this input under key ", Printable(key)));
}

void AddVerify(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    SigningFlags signing;
    std::string signature;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      app.add_subcommand("verify", "Check a signature; prints valid (exit 0) or invalid (exit 1)");
  AddTransitKey(command, &flags->signing.key);
  command->add_option("SIGNATURE", flags->signature, "vault:v<N>:...")->required();
  AddSigningOptions(command, &flags->signing, "signed input");
  OnRun(command, [flags, &options] {
    v1::VerifyRequest request;
    request.set_signature(flags->signature);
    if (absl::Status status = FillSigningRequest(flags->signing, &request); !status.ok()) {
      return status;
    }
    v1::VerifyResponse reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::Verify, request, &reply);
    hsm::CleanseString(request.mutable_input());
    if (!status.ok()) return status;
    return ReportVerdict(reply, "signature", flags->signing.key, options);
  });
}

void AddHmac(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    std::string key;
    std::string in = kStdio;
    v1::HashAlgorithm hash = v1::HASH_ALGORITHM_UNSPECIFIED;
    uint32_t version = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand("hmac", "Compute an HMAC of bytes and print it");
  AddTransitKey(command, &flags->key);
  AddIn(command, &flags->in, "input");
  AddHash(command, &flags->hash);
  AddVersion(command, &flags->version);
  OnRun(command, [flags, &options] {
    v1::HmacRequest request;
    request.set_key_name(flags->key);
    request.set_key_version(flags->version);
    if (absl::Status status = ReadInput(flags->in, "input", request.mutable_input());
        !status.ok()) {
      return status;
    }
    request.set_hash_algorithm(flags->hash);
    v1::HmacResponse reply;
    absl::Status status = TransitClient(options).Call(&v1::Transit::Stub::Hmac, request, &reply);
    hsm::CleanseString(request.mutable_input());
    if (!status.ok()) return status;
    if (reply.hmac().empty()) return Missing("HMAC");
    return options.json ? PrintJson(reply) : PrintLine(reply.hmac());
  });
}

void AddVerifyHmac(CLI::App& app, const GlobalOptions& options) {
  struct Flags {
    std::string key;
    std::string hmac;
    std::string in = kStdio;
    v1::HashAlgorithm hash = v1::HASH_ALGORITHM_UNSPECIFIED;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command =
      app.add_subcommand("verify-hmac", "Check an HMAC; prints valid (exit 0) or invalid (exit 1)");
  AddTransitKey(command, &flags->key);
  command->add_option("HMAC", flags->hmac, "vault:v<N>:...")->required();
  AddIn(command, &flags->in, "input");
  AddHash(command, &flags->hash);
  OnRun(command, [flags, &options] {
    v1::VerifyHmacRequest request;
    request.set_key_name(flags->key);
    request.set_hmac(flags->hmac);
    if (absl::Status status = ReadInput(flags->in, "input", request.mutable_input());
        !status.ok()) {
      return status;
    }
    request.set_hash_algorithm(flags->hash);
    v1::VerifyResponse reply;
    absl::Status status =
        TransitClient(options).Call(&v1::Transit::Stub::VerifyHmac, request, &reply);
    hsm::CleanseString(request.mutable_input());
    if (!status.ok()) return status;
    return ReportVerdict(reply, "HMAC", flags->key, options);
  });
}

}  // namespace

void AddTransitCommands(CLI::App& app, const GlobalOptions& options) {
  AddKeyCommands(app, options);
  AddEncrypt(app, options);
  AddDecrypt(app, options);
  AddRewrap(app, options);
  AddDataKey(app, options);
  AddSign(app, options);
  AddVerify(app, options);
  AddHmac(app, options);
  AddVerifyHmac(app, options);
}

}  // namespace strongroom::cli
