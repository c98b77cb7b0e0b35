// The request parser of HttpSession, with the limits the server sets, in a
// header of its own so the fuzzer (tests/fuzz/fuzz_http_request.cc) parses
// exactly what the server parses.
//
// Why not Beast's request_parser<string_body>: its body reader calls
// std::string::reserve(Content-Length) as soon as the header is parsed
// (string_body.hpp, reader::init, Boost 1.74). body_limit refuses a larger
// Content-Length first, so the reservation is at most max_body_bytes, but a
// client that declares 64 MiB and then sends one byte a second has the
// server hold 64 MiB of address space (touched as the bytes arrive) for the
// whole body timeout. LazyStringBody reserves at most kInitialBodyReserve up
// front and then grows with the bytes actually received, doubling (so the
// copying stays amortized O(n)) but never past the declared length (so a
// Content-Length body still ends in one exact allocation).
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "http/http_handler.h"

namespace protoserve {

// Largest request line + header fields (Beast's header_limit); beyond: 431.
inline constexpr uint32_t kHttpHeaderLimit = 16 * 1024;
// What a body reserves before its bytes arrive.
inline constexpr size_t kInitialBodyReserve = 64 * 1024;

// string_body, except for when the string's memory is reserved (see above).
struct LazyStringBody : boost::beast::http::string_body {
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::beast::error_code& ec) {
      ec = {};
      if (!length) return;
      if (*length > body_.max_size()) {
        ec = boost::beast::http::error::buffer_overflow;
        return;
      }
      declared_ = static_cast<size_t>(*length);
      body_.reserve(std::min(declared_, kInitialBodyReserve));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      const size_t extra = boost::beast::buffer_bytes(buffers);
      const size_t size = body_.size();
      if (extra > body_.max_size() - size) {
        ec = boost::beast::http::error::buffer_overflow;
        return 0;
      }
      const size_t needed = size + extra;
      if (needed > body_.capacity()) {
        size_t grown = std::max(needed, body_.capacity() * 2);
        if (declared_ >= needed) grown = std::min(grown, declared_);
        // Not body_.reserve(grown): libstdc++ rounds that up to twice the
        // old capacity, past the declared length.
        value_type larger;
        larger.reserve(grown);
        larger.append(body_);
        body_.swap(larger);
      }
      for (auto buffer : boost::beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(buffer.data()), buffer.size());
      }
      ec = {};
      return extra;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
    size_t declared_ = 0;  // Content-Length, 0 when none (chunked)
  };
};

using HttpRequestParser = boost::beast::http::request_parser<LazyStringBody>;

// Sets the server's limits on a fresh parser.
inline void ConfigureRequestParser(HttpRequestParser& parser, size_t max_body_bytes) {
  parser.header_limit(kHttpHeaderLimit);
  parser.body_limit(max_body_bytes);
}

// The parsed request as the HttpHandler type (moves header and body, no copy).
inline HttpRequest ReleaseRequest(HttpRequestParser& parser) {
  auto message = parser.release();
  return HttpRequest(std::move(message.base()), std::move(message.body()));
}

}  // namespace protoserve
