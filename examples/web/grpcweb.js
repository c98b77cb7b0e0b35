// grpcweb.js: a minimal gRPC-Web unary client over fetch() (no dependencies).
// Request: content-type application/grpc-web+proto, body = one frame
// (flag 0x00, 4-byte big-endian length, message). Response: data frames
// (flag 0x00) and one trailers frame (flag 0x80, "grpc-status:0\r\n...");
// a trailers-only error carries grpc-status in the HTTP headers instead.
(function (global) {
  "use strict";
  function frame(message) {
    const out = new Uint8Array(5 + message.length);
    new DataView(out.buffer).setUint32(1, message.length, false);
    out.set(message, 5);
    return out;
  }
  function parseTrailers(u8) {
    const trailers = {};
    for (const line of new TextDecoder().decode(u8).split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) trailers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return trailers;
  }
  class GrpcWebError extends Error {
    constructor(code, message) { super(`grpc-status ${code}: ${message}`); this.code = code; this.grpcMessage = message; }
  }
  // Calls `path` ("/Service/Method") with `message` bytes; resolves to the
  // response message bytes, rejects with GrpcWebError.
  async function unary(path, message, { baseUrl = "", timeoutMs = 0 } = {}) {
    const headers = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
    if (timeoutMs > 0) headers["grpc-timeout"] = `${Math.ceil(timeoutMs)}m`;
    const response = await fetch(baseUrl + path, { method: "POST", headers, body: frame(message) });
    if (response.status !== 200) throw new GrpcWebError(14, `HTTP ${response.status}`);
    const body = new Uint8Array(await response.arrayBuffer());
    let data = null, trailers = {};
    for (let at = 0; at + 5 <= body.length;) {
      const flags = body[at], n = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0, false);
      const payload = body.subarray(at + 5, at + 5 + n);
      at += 5 + n;
      if (flags & 0x80) trailers = parseTrailers(payload); else data = payload;
    }
    const status = trailers["grpc-status"] ?? response.headers.get("grpc-status") ?? "2";
    const msg = decodeURIComponent(trailers["grpc-message"] ?? response.headers.get("grpc-message") ?? "");
    if (status !== "0") throw new GrpcWebError(Number(status), msg);
    if (!data) throw new GrpcWebError(13, "no response message");
    return data;
  }
  global.grpcweb = { unary, frame, GrpcWebError };
})(typeof window !== "undefined" ? window : globalThis);
