// The allocator's promise checked on the bytes: no heap block freed while a call's
// messages are released holds any of the plaintext they carried. This binary replaces the
// global operator delete to look into every block as it is freed.
#include "server/cleansing_allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "hsm/cleanse_message.h"
#include "hsm/secret_data.h"
#include "strongroom/v1/transit.pb.h"

namespace {

constexpr char kMarker[] = "PT-MARK:";  // starts every secret below
std::atomic<bool> watching{false};
std::atomic<int> blocks_with_marker{0};

void Inspect(void* p) {
  if (p == nullptr || !watching.load(std::memory_order_relaxed)) return;
  size_t size = malloc_usable_size(p);
  if (memmem(p, size, kMarker, sizeof(kMarker) - 1) != nullptr) ++blocks_with_marker;
}

}  // namespace

// Allocation through malloc too, so that new and delete stay a pair under ASan.
void* operator new(size_t size) {
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  Inspect(p);
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  Inspect(p);
  std::free(p);
}

namespace strongroom::server {
namespace {

TEST(CleansingMessageAllocatorTest, NoFreedBlockHoldsRequestPlaintext) {
  v1::EncryptRequest batch;
  batch.set_key_name("k");
  for (int i = 0; i < 200; ++i) {
    // Long items live in their own heap buffer, short ones inside the string object.
    batch.add_items()->set_plaintext(
        i % 2 == 0 ? std::string(kMarker) + std::string(48, 'a' + i % 26)
                   : std::string(kMarker) + "short");
  }
  std::string wire = batch.SerializeAsString();

  CleansingMessageAllocator<v1::EncryptRequest, v1::EncryptResponse> allocator;
  for (int call = 0; call < 3; ++call) {  // holders are independent and reusable
    grpc::MessageHolder<v1::EncryptRequest, v1::EncryptResponse>* holder =
        allocator.AllocateMessages();
    ASSERT_TRUE(holder->request()->ParseFromString(wire));
    ASSERT_EQ(holder->request()->items_size(), 200);
    EXPECT_EQ(holder->request()->items(198).plaintext().substr(0, 8), kMarker);
    holder->response()->add_results()->set_ciphertext("c");
    blocks_with_marker = 0;
    watching = true;
    holder->Release();
    watching = false;
    EXPECT_EQ(blocks_with_marker.load(), 0) << "call " << call;
  }
  // The test's own copies go too, so that no later block is found holding their bytes.
  hsm::CleanseMessage(&batch);
  hsm::CleanseString(&wire);
}

TEST(CleansingMessageAllocatorTest, NoFreedBlockHoldsResponsePlaintext) {
  CleansingMessageAllocator<v1::DecryptRequest, v1::DecryptResponse> allocator;
  grpc::MessageHolder<v1::DecryptRequest, v1::DecryptResponse>* holder =
      allocator.AllocateMessages();
  holder->request()->add_items()->set_ciphertext("vault:v1:AAAA");
  for (int i = 0; i < 50; ++i) {
    holder->response()->add_results()->set_plaintext(std::string(kMarker) +
                                                     std::string(i, 'p'));
  }
  blocks_with_marker = 0;
  watching = true;
  holder->Release();
  watching = false;
  EXPECT_EQ(blocks_with_marker.load(), 0);
}

}  // namespace
}  // namespace strongroom::server
