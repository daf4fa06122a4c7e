#include "server/json_object.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;

constexpr JsonBounds kBounds{/*max_depth=*/4, /*max_items=*/100};

// {"batch_input":[{"plaintext":"AA=="}, ... n times]}
std::string Batch(int n) {
  std::string items;
  for (int i = 0; i < n; ++i) absl::StrAppend(&items, i ? "," : "", R"({"plaintext":"AA=="})");
  return absl::StrCat(R"({"batch_input":[)", items, "]}");
}

TEST(JsonObjectTest, ArraysUpToTheItemBoundParse) {
  google::protobuf::Struct out;
  ASSERT_TRUE(ParseJsonObject(Batch(100), kBounds, "the body", &out).ok());
  EXPECT_EQ(out.fields().at("batch_input").list_value().values_size(), 100);
}

TEST(JsonObjectTest, AnArrayPastTheItemBoundIsRefusedBeforeParsing) {
  google::protobuf::Struct out;
  absl::Status s = ParseJsonObject(Batch(101), kBounds, "the body", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("the body has an array or object of more than 100 items"));
  EXPECT_EQ(out.fields_size(), 0) << "refused before the parser ran";
}

TEST(JsonObjectTest, AnObjectPastTheItemBoundIsRefused) {
  std::string members;
  for (int i = 0; i < 101; ++i) absl::StrAppend(&members, i ? "," : "", "\"k", i, "\":1");
  google::protobuf::Struct out;
  absl::Status s = ParseJsonObject(absl::StrCat("{", members, "}"), kBounds, "the body", &out);
  EXPECT_THAT(s.message(), HasSubstr("more than 100 items"));
}

TEST(JsonObjectTest, CommasInsideStringsAndNestedContainersCountForTheirOwnContainer) {
  // 60 + 60 items in two sibling arrays, and a string full of commas: each within 100.
  std::string a, b;
  for (int i = 0; i < 60; ++i) absl::StrAppend(&a, i ? "," : "", i);
  for (int i = 0; i < 60; ++i) absl::StrAppend(&b, i ? "," : "", "[1,2]");
  std::string text = absl::StrCat(R"({"a":[)", a, R"(],"b":[)", b, R"(],"s":")",
                                  std::string(500, ','), R"("})");
  google::protobuf::Struct out;
  EXPECT_TRUE(ParseJsonObject(text, kBounds, "the body", &out).ok());
}

TEST(JsonObjectTest, NestingPastTheDepthBoundIsRefused) {
  google::protobuf::Struct out;
  absl::Status s = ParseJsonObject(R"({"a":[[[[1]]]]})", kBounds, "the body", &out);
  EXPECT_THAT(s.message(), HasSubstr("the body has objects and arrays nested more than 4 deep"));
  EXPECT_TRUE(ParseJsonObject(R"({"a":[[[1]]]})", kBounds, "the body", &out).ok());
}

TEST(JsonObjectTest, ErrorsNeverQuoteTheInput) {
  google::protobuf::Struct out;
  absl::Status s = ParseJsonObject(R"({"secret-plaintext": tru})", kBounds, "the body", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace strongroom::server
