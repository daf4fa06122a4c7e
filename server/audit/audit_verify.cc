#include "server/audit/audit_verify.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "hsm/openssl_ptr.h"
#include "server/audit/internal/line_format.h"

namespace strongroom::server::audit {
namespace {

using hsm::EvpPkeyCtxPtr;
using hsm::EvpPkeyPtr;
using internal::Field;
using internal::Sha256;

// One member of a line type, in the order the writer puts them.
struct Member {
  const char* name;
  bool number = false;
  bool optional = false;
};

constexpr Member kCommon[] = {{"seq", true}, {"prev"}, {"node"}, {"type"}};
// Where the members after kCommon start.
constexpr size_t kTime = 4;
constexpr size_t kHeaderKey = 5;
constexpr size_t kCheckpointSig = 5;
constexpr Member kHeader[] = {{"time"}, {"public_key"}, {"previous_file", false, true}};
constexpr Member kRequest[] = {
    {"time"},
    {"request_id"},
    {"identity"},
    {"peer"},
    {"operation"},
    {"resource"},
    {"key_version", true},
    {"code"},
    {"http_status", true, true},
    {"latency_us", true},
    {"error", false, true},
    {"token_hmac", false, true},
    {"detail", false, true},
};
constexpr Member kCheckpoint[] = {{"time"}, {"sig"}};

// Checks fields[*next...] against `members`, advancing *next past those present.
std::string CheckMembers(const std::vector<Field>& fields, absl::Span<const Member> members,
                         size_t* next) {
  for (const Member& member : members) {
    if (*next < fields.size() && fields[*next].name == member.name) {
      if (fields[*next].is_number != member.number) {
        return absl::StrCat("\"", member.name, "\" is not a ", member.number ? "number" : "string");
      }
      ++*next;
    } else if (!member.optional) {
      return absl::StrCat("missing or misplaced \"", member.name, "\"");
    }
  }
  return "";
}

bool ParseHash(absl::string_view hex, Sha256* out) {
  if (hex.size() != 2 * out->size()) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), out->begin());
  return true;
}

EvpPkeyPtr ParsePublicKeyDer(absl::string_view der) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, der.size()));
  if (key != nullptr && p != reinterpret_cast<const uint8_t*>(der.data()) + der.size()) {
    return nullptr;  // trailing bytes
  }
  return key;
}

bool VerifySignature(EVP_PKEY* key, const Sha256& digest, absl::string_view sig) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
  return ctx != nullptr && EVP_PKEY_verify_init(ctx.get()) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
         EVP_PKEY_verify(ctx.get(), reinterpret_cast<const uint8_t*>(sig.data()), sig.size(),
                         digest.data(), digest.size()) == 1;
}

// Opens `path` for reading; NOT_FOUND or PERMISSION_DENIED naming it.
absl::Status OpenFile(const std::string& path, std::ifstream* in) {
  in->open(path, std::ios::binary);
  if (*in) return absl::OkStatus();
  int err = errno;
  std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(err));
  return err == EACCES ? absl::PermissionDeniedError(message) : absl::NotFoundError(message);
}

// Verifies one node's chain, file by file in chain order.
class Verifier {
 public:
  Verifier(std::string pinned_der, ChainReport* report)
      : key_der_(std::move(pinned_der)), pinned_(!key_der_.empty()), report_(report) {}

  absl::Status VerifyFile(const std::string& path) {
    std::ifstream in;
    if (absl::Status opened = OpenFile(path, &in); !opened.ok()) return opened;
    std::stringstream contents;
    contents << in.rdbuf();
    std::string text = contents.str();
    path_ = path;
    line_no_ = 0;
    ++report_->files;
    absl::string_view rest = text;
    while (!rest.empty()) {
      ++line_no_;
      size_t end = rest.find('\n');
      if (end == absl::string_view::npos) {
        return Fail("incomplete last line (no newline): cut off mid-write or truncated");
      }
      absl::Status line = VerifyLine(rest.substr(0, end));
      if (!line.ok()) return line;
      rest.remove_prefix(end + 1);
    }
    if (line_no_ == 0) return Fail("empty file: every audit file starts with a header");
    previous_path_ = path;
    return absl::OkStatus();
  }

 private:
  absl::Status Fail(absl::string_view problem) const {
    return absl::DataLossError(absl::StrCat(path_, ":", line_no_, ": ", problem));
  }

  absl::Status VerifyLine(absl::string_view line) {
    absl::StatusOr<std::vector<Field>> fields = internal::ParseLine(line);
    if (!fields.ok()) return Fail(fields.status().message());
    size_t next = 0;
    std::string problem = CheckMembers(*fields, kCommon, &next);
    if (!problem.empty()) return Fail(problem);
    uint64_t seq = (*fields)[0].number;
    Sha256 prev;
    if (!ParseHash((*fields)[1].text, &prev))
      return Fail("\"prev\" is not 64 lowercase hex digits");
    const std::string& node = (*fields)[2].text;
    if (node.empty()) return Fail("\"node\" is empty");
    if (node != report_->node) {
      return Fail(absl::StrCat("line of node \"", absl::CHexEscape(node), "\" in the log of node \"",
                               absl::CHexEscape(report_->node), "\""));
    }
    const std::string& type = (*fields)[3].text;
    absl::Span<const Member> members;
    if (type == "header") {
      members = kHeader;
    } else if (type == "request") {
      members = kRequest;
    } else if (type == "checkpoint") {
      members = kCheckpoint;
    } else {
      return Fail(absl::StrCat("unknown type \"", absl::CHexEscape(type), "\""));
    }
    problem = CheckMembers(*fields, members, &next);
    if (!problem.empty()) return Fail(absl::StrCat(type, " line: ", problem));
    if (next != fields->size()) {
      return Fail(
          absl::StrCat(type, " line: unexpected \"", absl::CHexEscape((*fields)[next].name), "\""));
    }
    absl::Time time;
    if (!internal::ParseTime((*fields)[kTime].text, &time)) {
      return Fail("\"time\" is not RFC 3339 UTC with microseconds");
    }
    if ((line_no_ == 1) != (type == "header")) {
      return Fail(line_no_ == 1 ? "first line is not a header" : "header inside a file");
    }

    absl::Status chained = CheckChain(seq, prev);
    if (!chained.ok()) return chained;
    if (type == "header") {
      absl::Status key = CheckHeaderKey((*fields)[kHeaderKey].text);
      if (!key.ok()) return key;
    } else if (type == "checkpoint") {
      std::string sig;
      if (!absl::Base64Unescape((*fields)[kCheckpointSig].text, &sig) ||
          !VerifySignature(key_.get(), internal::CheckpointDigest(seq, prev), sig)) {
        return Fail(
            "checkpoint signature does not verify (lines before it changed, or signed "
            "with another key)");
      }
      ++report_->checkpoints;
      report_->last_checkpoint_seq = seq;
    }

    ++report_->lines;
    report_->last_seq = seq;
    report_->uncovered_lines = type == "checkpoint" ? 0 : report_->uncovered_lines + 1;
    prev_hash_ = internal::Sha256Of(line);
    have_prev_ = true;
    return absl::OkStatus();
  }

  absl::Status CheckChain(uint64_t seq, const Sha256& prev) {
    if (!have_prev_) {  // the first line given
      if (prev == Sha256{} && seq != 1) {
        return Fail(absl::StrCat("seq ", seq, " where 1 expected at the start of the log"));
      }
      report_->first_seq = seq;
      return absl::OkStatus();
    }
    if (seq != report_->last_seq + 1) {
      return Fail(absl::StrCat("seq ", seq, " where ", report_->last_seq + 1,
                               " expected (line dropped, duplicated or reordered)"));
    }
    if (prev != prev_hash_) {
      if (line_no_ == 1) {
        return Fail(absl::StrCat("prev hash does not match the last line of ", previous_path_,
                                 " (file edited, missing or out of order)"));
      }
      return Fail(absl::StrCat("prev hash does not match line ", line_no_ - 1,
                               " (line edited, dropped or reordered)"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckHeaderKey(absl::string_view key_b64) {
    std::string der;
    if (!absl::Base64Unescape(key_b64, &der) || ParsePublicKeyDer(der) == nullptr) {
      return Fail("header \"public_key\" is not a base64 DER public key");
    }
    if (key_der_.empty()) key_der_ = der;
    if (der != key_der_) {
      return Fail(pinned_ ? "header public key does not match the pinned key"
                          : "header public key differs from the first file's (pin the "
                            "expected key to verify across a key change)");
    }
    if (key_ == nullptr) key_ = ParsePublicKeyDer(key_der_);
    return absl::OkStatus();
  }

  std::string key_der_;
  const bool pinned_;
  EvpPkeyPtr key_;
  ChainReport* const report_;
  std::string path_;
  std::string previous_path_;
  uint64_t line_no_ = 0;
  bool have_prev_ = false;
  Sha256 prev_hash_{};
};

absl::StatusOr<std::string> PinnedKeyDer(const std::string& pem) {
  if (pem.empty()) return std::string();
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(bio == nullptr ? nullptr
                                : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  int length = key == nullptr ? -1 : i2d_PUBKEY(key.get(), nullptr);
  if (length <= 0) {
    return absl::InvalidArgumentError("pinned public key is not a PEM public key");
  }
  std::string der(length, '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(der.data());
  i2d_PUBKEY(key.get(), &p);
  return der;
}

// Where a file sits in a node's chain: the node and seq of its first line. A first line
// that is not an audit line gives node "" and seq 0; verifying the file then names the
// problem.
struct ChainStart {
  std::string path;
  std::string node;
  uint64_t seq = 0;
};

absl::StatusOr<ChainStart> ReadChainStart(const std::string& path) {
  std::ifstream in;
  if (absl::Status opened = OpenFile(path, &in); !opened.ok()) return opened;
  ChainStart start{path};
  // A header is a few hundred bytes; reading more than this cannot make it one.
  constexpr std::streamsize kMaxHeaderBytes = 16 << 10;
  std::string head(kMaxHeaderBytes, '\0');
  in.read(head.data(), kMaxHeaderBytes);
  head.resize(static_cast<size_t>(in.gcount()));
  absl::StatusOr<std::vector<Field>> fields =
      internal::ParseLine(absl::string_view(head).substr(0, head.find('\n')));
  if (fields.ok() && fields->size() > 2 && (*fields)[0].name == "seq" &&
      (*fields)[0].is_number && (*fields)[2].name == "node") {
    start.seq = (*fields)[0].number;
    start.node = (*fields)[2].text;
  }
  return start;
}

}  // namespace

absl::Status VerifyAuditLogs(const std::vector<std::string>& files,
                             const std::string& public_key_pem_or_empty, VerifyReport* report) {
  *report = VerifyReport();
  if (files.empty()) return absl::InvalidArgumentError("no audit log files to verify");
  absl::StatusOr<std::string> pinned = PinnedKeyDer(public_key_pem_or_empty);
  if (!pinned.ok()) return pinned.status();
  std::map<std::string, std::vector<ChainStart>> chains;
  for (const std::string& file : files) {
    absl::StatusOr<ChainStart> start = ReadChainStart(file);
    if (!start.ok()) return start.status();
    chains[start->node].push_back(*std::move(start));
  }
  for (auto& [node, starts] : chains) {
    std::stable_sort(starts.begin(), starts.end(), [](const ChainStart& a, const ChainStart& b) {
      return a.seq < b.seq;
    });
    report->chains.push_back(ChainReport{node});
    Verifier verifier(*pinned, &report->chains.back());
    for (const ChainStart& start : starts) {
      absl::Status verified = verifier.VerifyFile(start.path);
      if (!verified.ok()) return verified;
    }
  }
  return absl::OkStatus();
}

}  // namespace strongroom::server::audit
