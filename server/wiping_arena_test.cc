#include "server/wiping_arena.h"

#include <gtest/gtest.h>

#include <string>

#include "strongroom/v1/transit.pb.h"

namespace strongroom::server {
namespace {

TEST(WipingRequestAllocatorTest, RequestsLiveOnAnArenaAndParseWholeBatches) {
  v1::EncryptRequest batch;
  batch.set_key_name("k");
  for (int i = 0; i < 1000; ++i) batch.add_items()->set_plaintext(std::string(64, 'a' + i % 26));
  const std::string wire = batch.SerializeAsString();

  WipingRequestAllocator<v1::EncryptRequest, v1::EncryptResponse> allocator;
  for (int call = 0; call < 3; ++call) {  // holders are independent and reusable
    grpc::MessageHolder<v1::EncryptRequest, v1::EncryptResponse>* holder =
        allocator.AllocateMessages();
    ASSERT_NE(holder->request()->GetArena(), nullptr);
    EXPECT_EQ(holder->response()->GetArena(), nullptr);
    ASSERT_TRUE(holder->request()->ParseFromString(wire));
    EXPECT_EQ(holder->request()->items_size(), 1000);
    EXPECT_EQ(holder->request()->items(999).plaintext(), std::string(64, 'a' + 999 % 26));
    holder->response()->add_results()->set_ciphertext("c");
    holder->Release();  // frees (and wipes) the arena; ASan checks nothing outlives it
  }
}

}  // namespace
}  // namespace strongroom::server
