#include "kms/key_type.h"

#include "gtest/gtest.h"

namespace strongroom::kms {
namespace {

// The one table covers every wire value, and names and wire values round-trip.
TEST(KeyType, EveryWireValueHasOneEntry) {
  for (int i = v1::KeyType_MIN; i <= v1::KeyType_MAX; ++i) {
    if (!v1::KeyType_IsValid(i) || i == v1::KEY_TYPE_UNSPECIFIED) continue;
    std::optional<KeyType> type = KeyTypeOf(static_cast<v1::KeyType>(i));
    ASSERT_TRUE(type.has_value()) << v1::KeyType_Name(i);
    EXPECT_EQ(ApiKeyType(*type), i);
  }
  EXPECT_EQ(AllKeyTypes().size(), static_cast<size_t>(v1::KeyType_MAX));
  for (KeyType type : AllKeyTypes()) {
    EXPECT_EQ(ParseKeyType(KeyTypeName(type)), type) << KeyTypeName(type);
  }
  EXPECT_EQ(KeyTypeOf(v1::KEY_TYPE_UNSPECIFIED), KeyType::kAes256Gcm);
  EXPECT_EQ(KeyTypeOf(static_cast<v1::KeyType>(v1::KeyType_MAX + 1)), std::nullopt);
}

}  // namespace
}  // namespace strongroom::kms
