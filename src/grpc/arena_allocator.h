// Per-call protobuf arenas for the hot unary methods.
//
// gRPC's callback API allocates a unary call's request and response with
// `new` unless the method has a MessageAllocator. This one puts both on a
// protobuf Arena whose first block lives inside the holder: a typical
// Recommender call (request, ten item ids and scores in the response) then
// costs one heap allocation instead of one per message, string and repeated
// field, and everything is freed at once when gRPC releases the call.
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include <cstddef>

namespace protoserve {

template <typename Request, typename Response, size_t kInitialBlockBytes = 2048>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(initial_block_)) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options(char* block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = block;
      options.initial_block_size = sizeof(initial_block_);
      return options;
    }

    alignas(std::max_align_t) char initial_block_[kInitialBlockBytes];
    google::protobuf::Arena arena_;  // after the block it starts in
  };
};

}  // namespace protoserve
