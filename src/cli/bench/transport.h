// Transport: how the load runner sends one call, whatever the protocol.
//
// A transport owns `slots` independent call slots (a worker's share of the
// load: a gRPC context, a bidi stream, a turn on an HTTP connection), each
// with at most one call in flight. The runner calls Start(slot) to send the
// next request on that slot; the transport later reports the outcome with
// CallSink::OnCallDone(slot, ...) exactly once, on a thread of its own
// choosing, possibly even inside Start() (the runner copes with that).
// Requests are taken round-robin from the transport's own payload pool.
//
// Lifecycle: Open() once (connects; blocking; throws TargetError when the
// target cannot be reached), any number of Start() calls, then Close()
// once every started call has been reported (closes streams, joins threads).
// Start() never blocks on the network.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace protoserve::cli::bench {

// The target could not be reached or used (connect, TLS handshake, model
// metadata). Bad local input (flags, files) throws other exceptions.
class TargetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CallResult {
  // Empty on success, else what failed, as a status name: a gRPC code name
  // ("UNAVAILABLE"), "HTTP_503", or "CONNECTION_ERROR" / "TIMEOUT".
  std::string error;
  uint64_t request_bytes = 0;   // serialized message or HTTP body
  uint64_t response_bytes = 0;  // same, 0 when nothing was received
};

class CallSink {
 public:
  virtual ~CallSink() = default;
  // Must not block; may call Transport::Start() again (for any slot).
  virtual void OnCallDone(int slot, CallResult result) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Open(int slots, CallSink* sink) = 0;
  // `slot` in [0, slots) and its previous call, if any, already reported.
  virtual void Start(int slot) = 0;
  virtual void Close() = 0;
};

}  // namespace protoserve::cli::bench
