#include "server/wiping_arena.h"

#include <openssl/crypto.h>

#include <new>

namespace strongroom::server {
namespace {

void* AllocateBlock(size_t size) { return ::operator new(size); }

void WipeAndFreeBlock(void* block, size_t size) {
  OPENSSL_cleanse(block, size);
  ::operator delete(block);
}

}  // namespace

google::protobuf::ArenaOptions WipingArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 1024;  // a unary request fits; batches grow the blocks
  options.block_alloc = AllocateBlock;
  options.block_dealloc = WipeAndFreeBlock;
  return options;
}

}  // namespace strongroom::server
