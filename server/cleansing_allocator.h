// CleansingMessageAllocator: a gRPC callback method's request and response as heap
// messages whose string and bytes fields are cleansed (hsm::CleanseMessage) before they
// are freed, when the call is done.
//
// Requests carry plaintext to encrypt and data to sign or MAC; responses carry decrypted
// plaintext and data keys. This way those bytes do not linger in freed heap memory once
// the call is over. What it does not reach (gRPC's wire buffers, map fields) is listed in
// hsm/cleanse_message.h; README's Architecture section states the threat model.
// Register with Service::SetMessageAllocatorFor_<Method>; it must outlive the server.
// Thread-safe.
#pragma once

#include <grpcpp/support/message_allocator.h>

#include "hsm/cleanse_message.h"

namespace strongroom::server {

template <typename Request, typename Response>
class CleansingMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() {
      this->set_request(&request_);
      this->set_response(&response_);
    }
    void Release() override {
      hsm::CleanseMessage(&request_);
      hsm::CleanseMessage(&response_);
      delete this;
    }

   private:
    Request request_;
    Response response_;
  };
};

}  // namespace strongroom::server
