#include "hsm/cleanse_message.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hsm/secret_data.h"

namespace strongroom::hsm {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Value;

// A string's buffer, remembered while the string still owns it.
struct Buffer {
  const char* data;
  size_t capacity;
  bool AllZero() const {
    for (size_t i = 0; i < capacity; ++i) {
      if (data[i] != '\0') return false;
    }
    return true;
  }
};
Buffer BufferOf(const std::string& s) { return {s.data(), s.capacity()}; }

TEST(CleanseStringTest, CleansesTheWholeBufferAndKeepsIt) {
  std::string s(100, 'x');
  s.resize(10);  // 90 bytes of old secret beyond size()
  Buffer before = BufferOf(s);
  CleanseString(&s);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.data(), before.data);
  EXPECT_EQ(s.capacity(), before.capacity);
  EXPECT_TRUE(before.AllZero());
  std::string small = "short";  // in the string object itself
  CleanseString(&small);
  EXPECT_TRUE(BufferOf(small).AllZero());
}

TEST(CleanseMessageTest, CleansesEveryStringNestedRepeatedAndUnknown) {
  ListValue list;
  list.add_values()->set_string_value(std::string(64, 'a'));  // on the heap
  list.add_values()->set_string_value("tiny");                 // inside the string object
  ListValue* inner = list.add_values()->mutable_list_value();
  inner->add_values()->set_string_value(std::string(300, 'b'));
  list.add_values()->set_number_value(7);
  // Bytes the parser did not know (field 99, length-delimited) are kept, and cleansed.
  list.mutable_values(0)->GetReflection()->MutableUnknownFields(list.mutable_values(0))
      ->AddLengthDelimited(99, std::string(40, 'u'));

  std::vector<Buffer> buffers = {BufferOf(list.values(0).string_value()),
                                 BufferOf(list.values(1).string_value()),
                                 BufferOf(inner->values(0).string_value())};
  const google::protobuf::UnknownFieldSet& unknown =
      list.values(0).GetReflection()->GetUnknownFields(list.values(0));
  buffers.push_back(BufferOf(unknown.field(0).length_delimited()));

  CleanseMessage(&list);
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(buffers[i].AllZero()) << "buffer " << i;
  EXPECT_EQ(list.values(0).string_value(), "");
  EXPECT_EQ(inner->values(0).string_value(), "");
  EXPECT_EQ(list.values(3).number_value(), 7);  // other fields untouched
  EXPECT_TRUE(list.IsInitialized());
}

}  // namespace
}  // namespace strongroom::hsm
