#!/usr/bin/python3
"""Prints the HAProxy `tcp-check` lines of a native grpc.health.v1 check.

HAProxy 2.6 cannot send a gRPC health check with `http-check`: the request
body is a gRPC frame that starts with NUL bytes, and `body`/`body-lf` stop at
the first NUL. `tcp-check send-binary` has no such limit, so the check speaks
HTTP/2 itself, with fixed bytes:

  client preface, an empty SETTINGS frame,
  HEADERS (stream 1, END_HEADERS) with an HPACK block of literals only:
    :method POST, :scheme http, :path /grpc.health.v1.Health/Check,
    :authority <authority>, content-type application/grpc, te trailers
  DATA (stream 1, END_STREAM): gRPC frame of HealthCheckRequest{service}

and passes when the answer holds the gRPC frame of
HealthCheckResponse{status: SERVING} (`08 01`) on stream 1, so NOT_SERVING
(during model loading and from the first instant of a graceful shutdown),
SERVICE_UNKNOWN and errors all fail the check.

Usage: grpc_health_check.py [--service NAME] [--authority NAME]
(haproxy.cfg holds the output for service "" and authority "protoserve";
tests/deploy checks that it is up to date).
"""
import argparse


def _literal(prefix, text):
    data = text.encode()
    assert len(data) < 127, "HPACK length must fit 7 bits here"
    return bytes(prefix) + bytes([len(data)]) + data


def _frame(frame_type, flags, stream, payload):
    return len(payload).to_bytes(3, "big") + bytes([frame_type, flags]) + stream.to_bytes(4, "big") + payload


def request_bytes(service="", authority="protoserve"):
    headers = (bytes([0x83, 0x86])  # :method POST, :scheme http (static table 3 and 6)
               + _literal([0x04], "/grpc.health.v1.Health/Check")  # :path, name index 4, not indexed
               + _literal([0x01], authority)  # :authority, name index 1
               + _literal([0x0F, 0x10], "application/grpc")  # content-type, name index 31
               + bytes([0x00]) + _literal([], "te") + _literal([], "trailers"))  # new name
    message = b""
    if service:
        name = service.encode()
        message = bytes([0x0A, len(name)]) + name  # field 1 (service), length-delimited
    grpc_frame = bytes([0]) + len(message).to_bytes(4, "big") + message
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            + _frame(0x4, 0x0, 0, b"")  # SETTINGS
            + _frame(0x1, 0x4, 1, headers)  # HEADERS, END_HEADERS
            + _frame(0x0, 0x1, 1, grpc_frame))  # DATA, END_STREAM


# ... last byte of the DATA frame header (stream id 1), then the gRPC frame
# (uncompressed, length 2) of HealthCheckResponse{status: SERVING = 1}.
SERVING_PATTERN = bytes([0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x01])


def tcp_check_lines(service="", authority="protoserve"):
    return [
        "option tcp-check",
        "tcp-check connect",
        "tcp-check send-binary " + request_bytes(service, authority).hex(),
        "tcp-check expect binary " + SERVING_PATTERN.hex(),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="")
    parser.add_argument("--authority", default="protoserve")
    args = parser.parse_args()
    for line in tcp_check_lines(args.service, args.authority):
        print("    " + line)


if __name__ == "__main__":
    main()
