#include "server/acme/dns_message.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::server::acme {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string U16(uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; }

constexpr uint16_t kId = 0x1234;
// "_acme-challenge.a.test" as in a question, at offset 12.
const std::string kQuestionName = std::string("\x0f_acme-challenge\x01" "a\x04test\x00", 24);

std::string Header(uint16_t flags, uint16_t answers, uint16_t id = kId) {
  return absl::StrCat(U16(id), U16(flags), U16(1), U16(answers), U16(0), U16(0));
}

std::string Question(uint16_t type = kDnsTxt) { return absl::StrCat(kQuestionName, U16(type), U16(1)); }

std::string Record(const std::string& owner, uint16_t type, const std::string& data) {
  return absl::StrCat(owner, U16(type), U16(1), U16(0), U16(30), U16(data.size()), data);
}

const std::string kPointerToQuestion = std::string("\xc0\x0c", 2);

absl::StatusOr<std::vector<std::string>> Parse(const std::string& message, DnsType type = kDnsTxt) {
  return ParseDnsResponse(message, kId, "_acme-challenge.A.test", type);
}

TEST(DnsMessageTest, QueryEncodesTheQuestionAndEdns) {
  absl::StatusOr<std::string> query = BuildDnsQuery(kId, "_acme-challenge.a.test", kDnsTxt);
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(*query, absl::StrCat(U16(kId), U16(0x0100), U16(1), U16(0), U16(0), U16(1), Question(),
                                 std::string(1, '\0'), U16(41), U16(kMaxDnsMessage), U16(0),
                                 U16(0), U16(0)));
  for (const char* bad : {"", "a..test", "a.test.", "sp ace.test", "a\x01.test"}) {
    EXPECT_FALSE(BuildDnsQuery(1, bad, kDnsTxt).ok()) << bad;
  }
  EXPECT_FALSE(BuildDnsQuery(1, std::string(64, 'a'), kDnsTxt).ok());
  EXPECT_FALSE(BuildDnsQuery(1, absl::StrCat(std::string(200, 'a'), ".", std::string(60, 'b')), kDnsTxt).ok());
}

TEST(DnsMessageTest, TxtStringsOfARecordAreJoinedAndCompressedOwnersRead) {
  const std::string message =
      absl::StrCat(Header(0x8180, 2), Question(), Record(kPointerToQuestion, kDnsTxt, "\x03" "abc\x02" "de"),
                   Record(kPointerToQuestion, kDnsTxt, std::string(1, '\0')));
  absl::StatusOr<std::vector<std::string>> values = Parse(message);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, ElementsAre("abcde", ""));
}

TEST(DnsMessageTest, CnameChainsAreFollowedWithinTheAnswer) {
  // CNAME to "b.test", whose A record follows; the CNAME target compresses "test".
  const std::string cname = std::string("\x01" "b\xc0\x1e", 4);  // offset 30: "\x04test" in question
  const std::string b_owner = std::string("\x01" "b\x04test\x00", 8);
  const std::string message =
      absl::StrCat(Header(0x8180, 2), Question(kDnsA), Record(kPointerToQuestion, kDnsCname, cname),
                   Record(b_owner, kDnsA, std::string("\x0a\x00\x00\x01", 4)));
  absl::StatusOr<std::vector<std::string>> values = Parse(message, kDnsA);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, ElementsAre(std::string("\x0a\x00\x00\x01", 4)));
}

TEST(DnsMessageTest, ErrorsAreClassified) {
  EXPECT_TRUE(absl::IsNotFound(Parse(absl::StrCat(Header(0x8183, 0), Question())).status()));
  EXPECT_TRUE(absl::IsNotFound(Parse(absl::StrCat(Header(0x8180, 0), Question())).status()));
  EXPECT_TRUE(absl::IsUnavailable(Parse(absl::StrCat(Header(0x8182, 0), Question())).status()));
  EXPECT_TRUE(absl::IsUnavailable(Parse(absl::StrCat(Header(0x8380, 0), Question())).status()));
}

TEST(DnsMessageTest, MalformedAndForeignMessagesAreRefused) {
  const std::string txt = Record(kPointerToQuestion, kDnsTxt, "\x02" "ok");
  struct Case {
    std::string message;
    const char* problem;
  } cases[] = {
      {"", "shorter than its header"},
      {absl::StrCat(Header(0x8180, 1, kId + 1), Question(), txt), "id does not match"},
      {absl::StrCat(Header(0x0100, 1), Question(), txt), "not a response"},
      {absl::StrCat(Header(0x8180, 1), Question(kDnsA), txt), "another question"},
      {absl::StrCat(Header(0x8180, 1), Question()), "runs past the end"},
      {absl::StrCat(Header(0x8180, 1), Question(), Record(kPointerToQuestion, kDnsTxt, "\x09" "short")),
       "TXT string runs past"},
      {absl::StrCat(Header(0x8180, 1), Question(),
                    Record(std::string("\xc0\x30", 2), kDnsTxt, "\x00")),  // points forward
       "does not point backwards"},
      {absl::StrCat(Header(0x8180, 1), Question(),
                    Record(std::string("\x80", 1), kDnsTxt, "\x00")),
       "unknown name label type"},
      {absl::StrCat(Header(0x8180, 65), Question()), "more than 64 answers"},
      {absl::StrCat(Header(0x8180, 1), Question(), txt, std::string(kMaxDnsMessage, '\0')),
       "longer than"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<std::string>> values = Parse(c.message);
    EXPECT_TRUE(absl::IsInvalidArgument(values.status())) << c.problem << ": " << values.status();
    EXPECT_THAT(values.status().message(), HasSubstr(c.problem));
  }
}

TEST(DnsMessageTest, AddressRecordsOfTheWrongSizeAreRefused) {
  std::string question = absl::StrCat(kQuestionName, U16(kDnsA), U16(1));
  EXPECT_FALSE(Parse(absl::StrCat(Header(0x8180, 1), question,
                                  Record(kPointerToQuestion, kDnsA, "\x01\x02\x03")),
                     kDnsA)
                   .ok());
}

TEST(DnsMessageTest, CnameLoopsEnd) {
  // The name is its own CNAME: the chain stops after a bounded number of hops.
  const std::string message = absl::StrCat(Header(0x8180, 1), Question(),
                                           Record(kPointerToQuestion, kDnsCname, kPointerToQuestion));
  EXPECT_TRUE(absl::IsNotFound(Parse(message).status()));
}

}  // namespace
}  // namespace strongroom::server::acme
