// WipingRequestAllocator: a gRPC callback method's request on a protobuf arena whose
// memory is wiped (OPENSSL_cleanse) before it is freed, when the call is done.
//
// Request fields carry secrets (plaintext to encrypt, data to sign or MAC): this way they
// never linger in freed heap memory, and the items of a batch are parsed without one heap
// allocation each. The response stays an ordinary message (the handler builds it).
// Register with Service::SetMessageAllocatorFor_<Method>; it must outlive the server.
// Thread-safe.
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include <cstddef>

namespace strongroom::server {

// Arena options whose blocks are cleansed before they are freed.
google::protobuf::ArenaOptions WipingArenaOptions();

template <typename Request, typename Response>
class WipingRequestAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(WipingArenaOptions()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(&response_);
    }
    void Release() override { delete this; }

   private:
    google::protobuf::Arena arena_;  // owns the request
    Response response_;
  };
};

}  // namespace strongroom::server
