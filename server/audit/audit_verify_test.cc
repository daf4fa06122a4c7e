// VerifyAuditLogs on logs written by AuditLog and then tampered with: every change is
// reported as DATA_LOSS naming the file and line.
#include "server/audit/audit_verify.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/audit/internal/line_format.h"
#include "server/audit/testing/log_files.h"
#include "server/audit/testing/software_signer.h"

namespace strongroom::server::audit {
namespace {

using testing::FreshDir;
using ::testing::HasSubstr;
using testing::LogFiles;
using testing::ReadLines;
using testing::SampleEvent;
using testing::SoftwareSigner;
using testing::WriteLines;

class AuditVerifyTest : public ::testing::Test {
 protected:
  // A log of a header, 20 requests, a checkpoint, 5 requests, a checkpoint (28 lines), in
  // files of at most `max_file_bytes`.
  std::vector<std::string> WriteLog(const std::string& name,
                                    uint64_t max_file_bytes = uint64_t{1} << 20,
                                    const std::string& node_id = "node-a") {
    path_ = FreshDir(name) + "/audit.log";
    AuditLogOptions options;
    options.path = path_;
    options.node_id = node_id;
    options.max_file_bytes = max_file_bytes;
    options.checkpoint_interval = absl::Hours(1);
    for (int run = 0, i = 0; run < 2; ++run) {
      absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options, &signer_);
      EXPECT_TRUE(log.ok()) << log.status();
      for (int end = run == 0 ? 20 : 25; i < end; ++i) {
        EXPECT_TRUE((*log)->Append(SampleEvent(i)).ok());
      }
    }
    return LogFiles(path_);
  }

  absl::Status Verify(const std::vector<std::string>& files, const std::string& pem = "") {
    return VerifyAuditLogs(files, pem, &report_);
  }

  void ExpectFailure(const std::vector<std::string>& files, const std::string& message) {
    absl::Status status = Verify(files);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_THAT(status.message(), HasSubstr(message));
  }

  // The one chain of the last Verify.
  const ChainReport& chain() const { return report_.chains.at(0); }

  SoftwareSigner signer_;
  std::string path_;
  VerifyReport report_;
};

TEST_F(AuditVerifyTest, IntactLogVerifies) {
  std::vector<std::string> files = WriteLog("intact");
  ASSERT_TRUE(Verify(files, signer_.public_key_pem()).ok());
  EXPECT_EQ(chain().lines, 28);
  EXPECT_EQ(chain().checkpoints, 2);
  EXPECT_EQ(chain().first_seq, 1);
  EXPECT_EQ(chain().last_checkpoint_seq, 28);
  EXPECT_EQ(chain().uncovered_lines, 0);
}

TEST_F(AuditVerifyTest, FlippedByteIsFoundAtTheNextLine) {
  WriteLog("flip");
  std::vector<std::string> lines = ReadLines(path_);
  size_t at = lines[9].find("spiffe");
  lines[9][at] ^= 0x01;  // still valid JSON: only the chain notices
  WriteLines(path_, lines);
  ExpectFailure({path_}, "audit.log:11: prev hash does not match line 10 (line edited");
}

TEST_F(AuditVerifyTest, FlippedByteEverywhereIsFound) {
  WriteLog("every-byte");
  const std::vector<std::string> original = ReadLines(path_);
  for (size_t line = 0; line + 1 < original.size(); ++line) {
    for (size_t byte = 0; byte < original[line].size(); byte += 7) {
      std::vector<std::string> lines = original;
      lines[line][byte] ^= 0x20;
      WriteLines(path_, lines);
      EXPECT_FALSE(Verify({path_}).ok()) << "line " << line + 1 << " byte " << byte;
    }
  }
}

TEST_F(AuditVerifyTest, DeletedLineIsNamed) {
  WriteLog("delete");
  std::vector<std::string> lines = ReadLines(path_);
  lines.erase(lines.begin() + 6);
  WriteLines(path_, lines);
  ExpectFailure({path_}, "audit.log:7: seq 8 where 7 expected (line dropped");
}

TEST_F(AuditVerifyTest, SwappedLinesAreFound) {
  WriteLog("swap");
  std::vector<std::string> lines = ReadLines(path_);
  std::swap(lines[4], lines[5]);
  WriteLines(path_, lines);
  ExpectFailure({path_}, "audit.log:5: seq 6 where 5 expected");
}

TEST_F(AuditVerifyTest, EditedAndRechainedLinesFailTheCheckpoint) {
  WriteLog("rechain");
  std::vector<std::string> lines = ReadLines(path_);
  lines[3] = absl::StrReplaceAll(lines[3], {{"spiffe://example.org/app", "spiffe://evil.org/x"}});
  for (size_t i = 4; i < lines.size(); ++i) {  // an attacker fixes every later "prev"
    std::string prev;
    internal::AppendHex(internal::Sha256Of(lines[i - 1]), &prev);
    size_t at = lines[i].find("\"prev\":\"") + 8;
    lines[i].replace(at, 64, prev);
  }
  WriteLines(path_, lines);
  ExpectFailure({path_}, "audit.log:22: checkpoint signature does not verify");
}

TEST_F(AuditVerifyTest, PinnedKeyMustMatch) {
  std::vector<std::string> files = WriteLog("pinned");
  SoftwareSigner other;
  absl::Status status = Verify(files, other.public_key_pem());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("audit.log:1: header public key does not match the "
                                          "pinned key"));
  EXPECT_EQ(Verify(files, "not a key").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditVerifyTest, RotatedFilesVerifyInAnyOrderButNoneMissing) {
  std::vector<std::string> files = WriteLog("rotated", 4096);
  ASSERT_GE(files.size(), 3);
  ASSERT_TRUE(Verify(files).ok());
  EXPECT_EQ(chain().files, files.size());
  size_t lines = 0;
  for (const std::string& file : files) lines += ReadLines(file).size();
  EXPECT_EQ(chain().lines, lines);

  std::vector<std::string> missing = files;
  missing.erase(missing.begin() + 1);
  ExpectFailure(missing, files[2] + ":1: seq");

  // Chain order comes from each file's first seq: a shell glob puts audit.log first.
  std::vector<std::string> reordered = files;
  std::rotate(reordered.begin(), reordered.end() - 1, reordered.end());
  std::swap(reordered[1], reordered[2]);
  ASSERT_TRUE(Verify(reordered).ok());
  EXPECT_EQ(chain().lines, lines);

  // Later files alone continue a chain whose start is not given.
  ASSERT_TRUE(Verify({files.begin() + 1, files.end()}).ok());
  EXPECT_GT(chain().first_seq, 1);
}

TEST_F(AuditVerifyTest, HeadOfTheLogCannotBeDropped) {
  WriteLog("head");
  std::vector<std::string> lines = ReadLines(path_);
  lines.erase(lines.begin());
  WriteLines(path_, lines);
  ExpectFailure({path_}, "audit.log:1: first line is not a header");
}

TEST_F(AuditVerifyTest, UncoveredTailIsReportedNotFailed) {
  WriteLog("tail");
  std::vector<std::string> lines = ReadLines(path_);
  lines.pop_back();  // the final checkpoint
  WriteLines(path_, lines);
  ASSERT_TRUE(Verify({path_}).ok());
  EXPECT_EQ(chain().last_checkpoint_seq, 22);
  EXPECT_EQ(chain().uncovered_lines, 5);
}

TEST_F(AuditVerifyTest, MalformedLinesAreNamed) {
  WriteLog("malformed");
  const std::vector<std::string> original = ReadLines(path_);
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "audit.log:4: not a valid audit line"},
      {absl::StrReplaceAll(original[3], {{"\"peer\"", "\"Peer\""}}),
       "audit.log:4: request line: missing or misplaced \"peer\""},
      {absl::StrReplaceAll(original[3], {{"\"key_version\":3", "\"key_version\":\"3\""}}),
       "audit.log:4: request line: \"key_version\" is not a number"},
      {absl::StrReplaceAll(original[3], {{"\"type\":\"request\"", "\"type\":\"other\""}}),
       "audit.log:4: unknown type"},
      {absl::StrReplaceAll(original[3], {{"}", ",\"extra\":1}"}}),
       "audit.log:4: request line: unexpected \"extra\""},
      {original[3].substr(0, original[3].size() - 1) + " }", "audit.log:4: not a valid"},
  };
  for (const auto& [line, message] : cases) {
    std::vector<std::string> lines = original;
    lines[3] = line;
    WriteLines(path_, lines);
    ExpectFailure({path_}, message);
  }
}

TEST_F(AuditVerifyTest, IncompleteLastLineFails) {
  WriteLog("incomplete");
  FILE* file = std::fopen(path_.c_str(), "a");
  std::fputs("{\"seq\":29", file);
  std::fclose(file);
  ExpectFailure({path_}, "audit.log:29: incomplete last line");
}

TEST_F(AuditVerifyTest, UnreadableFileIsNotFound) {
  EXPECT_EQ(Verify({FreshDir("none") + "/audit.log"}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Verify({}).code(), absl::StatusCode::kInvalidArgument);
}

// Three nodes, each with its own rotated chain, given together in any order.
TEST_F(AuditVerifyTest, SeveralNodesVerifyAsOneChainEach) {
  std::vector<std::string> all;
  std::vector<std::string> paths;
  std::map<std::string, uint64_t> lines;
  for (const char* node : {"node-c", "node-a", "node-b"}) {
    std::vector<std::string> files = WriteLog(node, 4096, node);
    ASSERT_GE(files.size(), 2);
    all.insert(all.end(), files.rbegin(), files.rend());
    paths.push_back(path_);
    for (const std::string& file : files) lines[node] += ReadLines(file).size();
  }
  ASSERT_TRUE(Verify(all, signer_.public_key_pem()).ok());
  ASSERT_EQ(report_.chains.size(), 3);
  for (int i = 0; i < 3; ++i) {
    const ChainReport& chain = report_.chains[i];
    EXPECT_EQ(chain.node, std::string("node-") + static_cast<char>('a' + i));
    EXPECT_EQ(chain.lines, lines[chain.node]);
    EXPECT_EQ(chain.first_seq, 1);
    EXPECT_EQ(chain.last_checkpoint_seq, chain.last_seq);
  }

  // One node's line spliced into another node's log: its node is not the log's.
  std::vector<std::string> a = ReadLines(paths[1]);  // node-a's current file
  std::vector<std::string> b = ReadLines(paths[2]);
  a[2] = b[2];
  WriteLines(paths[1], a);
  ExpectFailure(all, "audit.log:3: line of node \"node-b\" in the log of node \"node-a\"");

  // Relabelled, it still carries node-b's chain hash.
  a = ReadLines(paths[1]);
  a[2] = b[2];
  a[2].replace(a[2].find("\"node-b\""), 8, "\"node-a\"");
  WriteLines(paths[1], a);
  ExpectFailure(all, "audit.log:3: prev hash does not match line 2");
}

// A node's file missing from the middle of its chain fails, whatever the other nodes hold.
TEST_F(AuditVerifyTest, MissingFileOfOneNodeFails) {
  std::vector<std::string> a = WriteLog("missing-a", 4096, "node-a");
  std::vector<std::string> b = WriteLog("missing-b", 4096, "node-b");
  ASSERT_GE(b.size(), 3);
  std::vector<std::string> all = a;
  all.push_back(b[0]);
  all.insert(all.end(), b.begin() + 2, b.end());
  ExpectFailure(all, b[2] + ":1: seq");
  EXPECT_EQ(report_.chains.size(), 2);
  EXPECT_EQ(report_.chains[0].node, "node-a");
  EXPECT_EQ(report_.chains[0].last_checkpoint_seq,
            report_.chains[0].last_seq);  // node-a verified in full before node-b failed
}

}  // namespace
}  // namespace strongroom::server::audit
