"""REST helpers shared by the HTTP e2e tests: a keep-alive client, KServe v2
request bodies (JSON and Triton's binary extension), response parsing."""
import http.client
import json

import numpy as np
from prometheus_client.parser import text_string_to_metric_families


class Rest:
    """A keep-alive HTTP/1.1 client for one server."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def json(self, method, path, body=None, headers=None):
        status, headers, data = self.call(method, path, body, headers)
        return status, json.loads(data) if data else None

    def close(self):
        self.conn.close()


def infer_body(inputs, outputs=None, **extra):
    body = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": dt, "data": a.ravel().tolist()}
                       for n, dt, a in inputs]}
    if outputs is not None:
        body["outputs"] = outputs
    body.update(extra)
    return body


def binary_request(inputs, binary_output=True):
    """(body, headers) of a request with every input as binary data (Triton's extension)."""
    header = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": dt,
                          "parameters": {"binary_data_size": a.nbytes}} for n, dt, a in inputs],
              "parameters": {"binary_data_output": binary_output}}
    text = json.dumps(header).encode()
    body = text + b"".join(np.ascontiguousarray(a).tobytes() for _, _, a in inputs)
    return body, {"Inference-Header-Content-Length": str(len(text)), "Content-Type": "application/octet-stream"}


def outputs_of(headers, data):
    """{name: array} of an infer response, JSON or binary."""
    size = headers.get("Inference-Header-Content-Length")
    header = json.loads(data[:int(size)] if size else data)
    offset = int(size) if size else 0
    arrays = {}
    for out in header["outputs"]:
        np_type = {"FP32": np.float32, "INT64": np.int64, "FP64": np.float64, "BYTES": object}[out["datatype"]]
        if "binary_data_size" in out.get("parameters", {}):
            n = out["parameters"]["binary_data_size"]
            arrays[out["name"]] = np.frombuffer(data[offset:offset + n], dtype=np_type).reshape(out["shape"])
            offset += n
        else:
            arrays[out["name"]] = np.array(out["data"], dtype=np_type).reshape(out["shape"])
    return header, arrays


def read_response(stream):
    """One HTTP/1.1 response (status, headers, body) from a file object over a socket."""
    status_line = stream.readline()
    if not status_line:
        return None
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = stream.readline().decode().rstrip("\r\n")
        if not line:
            break
        key, value = line.split(":", 1)
        headers[key.strip().lower()] = value.strip()
    return status, headers, stream.read(int(headers.get("content-length", "0")))


def metric_samples(text):
    return [s for family in text_string_to_metric_families(text) for s in family.samples]
