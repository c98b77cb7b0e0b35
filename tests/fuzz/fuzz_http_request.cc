// libFuzzer target: the bytes one HTTP/1.1 connection sends, parsed as
// HttpSession parses them (HttpRequestParser: Beast's request_parser with
// the session's body type and limits, header_limit 16 KiB and body_limit),
// request after request while they keep the connection alive, chunked
// bodies included. The first byte sets how the stream is cut into reads
// (1..64 bytes at a time, or all at once) and the body limit (the server's
// default, 64 MiB, or a small one, so that 413 paths are reached).
//
// Checked for every stream:
//  - the session's parser and Beast's request_parser<string_body> agree
//    exactly (same error, same requests: method, target, version, fields,
//    body, keep-alive): LazyStringBody changes when memory is reserved, never
//    what is parsed;
//  - a parsed body never exceeds the body limit;
//  - ClassifyRestRoute is a pure function of the path: the same with the
//    query string dropped and with the path rebuilt from PathSegments; model
//    routes name a model with no '/';
//  - GrpcWebHandler::IsGrpcWebContentType is case-insensitive.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/grpc_web.h"
#include "http/http_request_parser.h"
#include "http/http_server.h"
#include "http/rest_router.h"

using namespace protoserve;
namespace http = boost::beast::http;
namespace net = boost::asio;

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_http_request: %s\n", what);
  std::abort();
}

struct Parsed {
  std::string method, target, body;
  unsigned version = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> fields;
  bool operator==(const Parsed&) const = default;
};

struct Outcome {
  std::vector<Parsed> requests;
  boost::beast::error_code error;  // what ended the stream (none: all input used between requests)
  bool operator==(const Outcome&) const = default;
};

template <typename Body>
Parsed Describe(const http::request<Body>& request) {
  Parsed parsed{std::string(request.method_string()), std::string(request.target()), request.body(),
                request.version(), request.keep_alive(), {}};
  for (const auto& field : request) parsed.fields.emplace_back(field.name_string(), field.value());
  return parsed;
}

// Feeds `input` to one parser per request, `piece` bytes per read, the way
// the session's reads deliver them: unconsumed bytes stay buffered and are
// presented again with the next read.
template <typename Parser, typename Release>
Outcome ParseStream(std::string_view input, size_t piece, size_t body_limit, Release release) {
  Outcome outcome;
  std::string buffered;
  size_t position = 0;
  auto read_more = [&] {
    const size_t n = std::min(piece, input.size() - position);
    buffered.append(input.substr(position, n));
    position += n;
    return n > 0;
  };
  for (int requests = 0; requests < 64; ++requests) {
    Parser parser;
    parser.header_limit(kHttpHeaderLimit);
    parser.body_limit(body_limit);
    boost::beast::error_code ec;
    while (!parser.is_done()) {
      if (buffered.empty() && !read_more()) {
        // The client closed: between requests that is the end; within one, an error.
        if (parser.got_some()) parser.put_eof(ec);
        outcome.error = parser.got_some() ? ec : boost::beast::error_code();
        return outcome;
      }
      const size_t used = parser.put(net::buffer(buffered), ec);
      buffered.erase(0, used);
      if (!ec && used == 0 && !parser.is_done()) ec = http::error::need_more;  // (never loop in place)
      if (ec == http::error::need_more) {
        ec = {};
        if (!read_more()) {
          parser.put_eof(ec);
          outcome.error = ec;
          return outcome;
        }
      } else if (ec) {
        outcome.error = ec;
        return outcome;
      }
    }
    Parsed parsed = Describe(release(parser));
    if (parsed.body.size() > body_limit) Fail("a body is larger than body_limit");
    const bool keep_alive = parsed.keep_alive;
    outcome.requests.push_back(std::move(parsed));
    if (!keep_alive) return outcome;  // the session closes after answering it
  }
  return outcome;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void CheckRoute(const Parsed& request) {
  const RestRouteMatch match = ClassifyRestRoute(request.target);
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  const RestRouteMatch without_query = ClassifyRestRoute(path);
  std::string rebuilt;
  for (const std::string& segment : PathSegments(target)) rebuilt += "/" + segment;
  const RestRouteMatch from_segments = ClassifyRestRoute(rebuilt);
  for (const RestRouteMatch* other : {&without_query, &from_segments}) {
    if (other->route != match.route || other->method != match.method || other->model != match.model ||
        other->version != match.version || other->load != match.load) {
      Fail("ClassifyRestRoute depends on more than the path's segments");
    }
  }
  if (match.route == RestRoute::kNotFound && match.method != http::verb::unknown) Fail("kNotFound with a method");
  if (match.route != RestRoute::kNotFound && match.method != http::verb::get && match.method != http::verb::post) {
    Fail("a route answers neither GET nor POST");
  }
  if (match.model.find('/') != std::string::npos || match.version.find('/') != std::string::npos) {
    Fail("a model or version name contains '/'");
  }
  const bool names_model = match.route >= RestRoute::kModelMetadata || match.route == RestRoute::kModelControl;
  if (names_model == match.model.empty()) Fail("a model route without a model, or a model outside one");
}

void CheckGrpcWeb(const Parsed& request) {
  for (const auto& [name, value] : request.fields) {
    if (Lower(name) != "content-type") continue;
    const bool grpc_web = GrpcWebHandler::IsGrpcWebContentType(value);
    if (grpc_web != GrpcWebHandler::IsGrpcWebContentType(Lower(value))) Fail("IsGrpcWebContentType is case-sensitive");
    if (grpc_web != (Lower(value).rfind("application/grpc-web", 0) == 0)) Fail("IsGrpcWebContentType is wrong");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t piece = (control & 0x3f) == 0 ? input.size() + 1 : (control & 0x3f);
  const size_t body_limit = (control & 0x40) ? HttpServerOptions{}.max_body_bytes : size_t((control & 0x80) ? 100 : 4096);

  const Outcome session = ParseStream<HttpRequestParser>(input, piece, body_limit,
                                                         [](HttpRequestParser& p) { return ReleaseRequest(p); });
  using StringBodyParser = http::request_parser<http::string_body>;
  const Outcome beast = ParseStream<StringBodyParser>(input, piece, body_limit,
                                                      [](StringBodyParser& p) { return p.release(); });
  if (!(session == beast)) Fail("HttpRequestParser and request_parser<string_body> disagree");
  for (const Parsed& request : session.requests) {
    CheckRoute(request);
    CheckGrpcWeb(request);
  }
  return 0;
}
