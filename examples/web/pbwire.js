// pbwire.js: a tiny hand-written protobuf wire-format codec, just enough for
// the messages the demo sends (no dependencies, no build step).
//
// Wire format: each field is a varint key (field_number << 3 | wire_type)
// followed by its value: wire type 0 varint, 1 fixed 64-bit, 2 length-
// delimited (strings, bytes, sub-messages, packed repeated scalars),
// 5 fixed 32-bit. proto3 writes repeated numbers packed; readers must accept
// both packed and one-per-field encodings, which readFloats() does.
//
// Messages (proto/recommender.proto, proto/inference.proto):
//   RecommendationRequest  { string user_id = 1; repeated float features = 2;
//                            int32 top_k = 3; string model_name = 4; int64 model_version = 5;
//                            repeated string exclude_item_ids = 6; }
//   RecommendationResponse { repeated string item_ids = 1; repeated float scores = 2;
//                            string model_name = 3; int64 model_version = 4; string error_message = 5; }
//   inference.ModelInferRequest / ModelInferResponse / ModelMetadataRequest / -Response:
//   only the fields used below.
(function (global) {
  "use strict";
  const utf8 = new TextEncoder();
  const fromUtf8 = new TextDecoder();

  class Writer {
    constructor() { this.parts = []; this.length = 0; }
    bytes(u8) { this.parts.push(u8); this.length += u8.length; return this; }
    varint(n) {  // non-negative integers up to 2^53
      const out = [];
      n = Number(n);
      while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
      out.push(n);
      return this.bytes(Uint8Array.from(out));
    }
    key(field, wireType) { return this.varint(field * 8 + wireType); }
    uint(field, n) { return n ? this.key(field, 0).varint(n) : this; }  // proto3: 0 is not written
    string(field, s) { return s ? this.lengthDelimited(field, utf8.encode(s)) : this; }
    lengthDelimited(field, u8) { return this.key(field, 2).varint(u8.length).bytes(u8); }
    message(field, writer) { return this.lengthDelimited(field, writer.finish()); }
    packedFloats(field, values) {
      if (!values.length) return this;
      const buf = new DataView(new ArrayBuffer(values.length * 4));
      values.forEach((v, i) => buf.setFloat32(i * 4, v, true));
      return this.lengthDelimited(field, new Uint8Array(buf.buffer));
    }
    packedVarints(field, values) {
      if (!values.length) return this;
      const inner = new Writer();
      values.forEach((v) => inner.varint(v));
      return this.message(field, inner);
    }
    finish() {
      const out = new Uint8Array(this.length);
      let at = 0;
      for (const p of this.parts) { out.set(p, at); at += p.length; }
      return out;
    }
  }

  // Parses one message into {fieldNumber: [{wireType, value}]}; value is a
  // Number (varint), a Uint8Array (length-delimited) or a DataView (fixed).
  function parse(u8) {
    const fields = {};
    let at = 0;
    const varint = () => {
      let n = 0, scale = 1, b;
      do {
        if (at >= u8.length) throw new Error("protobuf: truncated varint");
        b = u8[at++];
        n += (b & 0x7f) * scale;
        scale *= 0x80;
      } while (b & 0x80);
      return n;
    };
    while (at < u8.length) {
      const key = varint();
      const field = Math.floor(key / 8), wireType = key % 8;
      let value;
      if (wireType === 0) value = varint();
      else if (wireType === 2) {
        const n = varint();
        if (at + n > u8.length) throw new Error("protobuf: truncated field");
        value = u8.subarray(at, at + n); at += n;
      } else if (wireType === 1 || wireType === 5) {
        const n = wireType === 1 ? 8 : 4;
        value = new DataView(u8.buffer, u8.byteOffset + at, n); at += n;
      } else throw new Error("protobuf: unsupported wire type " + wireType);
      (fields[field] = fields[field] || []).push({ wireType, value });
    }
    return fields;
  }

  const get = (fields, n) => fields[n] || [];
  const readString = (fields, n) => { const f = get(fields, n); return f.length ? fromUtf8.decode(f[f.length - 1].value) : ""; };
  const readStrings = (fields, n) => get(fields, n).map((f) => fromUtf8.decode(f.value));
  const readUint = (fields, n) => { const f = get(fields, n); return f.length ? f[f.length - 1].value : 0; };
  const readMessages = (fields, n) => get(fields, n).map((f) => parse(f.value));
  const readBytesList = (fields, n) => get(fields, n).map((f) => f.value);
  function readFloats(fields, n) {
    const out = [];
    for (const f of get(fields, n)) {
      if (f.wireType === 5) out.push(f.value.getFloat32(0, true));
      else { const dv = new DataView(f.value.buffer, f.value.byteOffset, f.value.length);
             for (let i = 0; i + 4 <= f.value.length; i += 4) out.push(dv.getFloat32(i, true)); }
    }
    return out;
  }
  function readVarints(fields, n) {  // packed or not
    const out = [];
    for (const f of get(fields, n)) {
      if (f.wireType === 0) { out.push(f.value); continue; }
      const u8 = f.value;
      for (let at = 0; at < u8.length;) {
        let v = 0, s = 1, b;
        do { b = u8[at++]; v += (b & 0x7f) * s; s *= 0x80; } while (b & 0x80);
        out.push(v);
      }
    }
    return out;
  }

  // --- the demo's messages ---------------------------------------------------
  function encodeRecommendationRequest(r) {
    return new Writer().string(1, r.user_id).packedFloats(2, r.features || []).uint(3, r.top_k || 0)
      .string(4, r.model_name || "").uint(5, r.model_version || 0).finish();
  }
  function decodeRecommendationResponse(u8) {
    const f = parse(u8);
    return { item_ids: readStrings(f, 1), scores: readFloats(f, 2), model_name: readString(f, 3),
             model_version: readUint(f, 4), error_message: readString(f, 5) };
  }
  function encodeModelMetadataRequest(name) { return new Writer().string(1, name).finish(); }
  function decodeModelMetadataResponse(u8) {
    const f = parse(u8);
    const tensor = (m) => ({ name: readString(m, 1), datatype: readString(m, 2), shape: readVarints(m, 3) });
    return { name: readString(f, 1), versions: readStrings(f, 2), platform: readString(f, 3),
             inputs: readMessages(f, 4).map(tensor), outputs: readMessages(f, 5).map(tensor) };
  }
  // inputs: [{name, datatype, shape, raw: Uint8Array}], outputs: [{name, classification}]
  function encodeModelInferRequest(r) {
    const w = new Writer().string(1, r.model_name).string(2, r.model_version || "");
    for (const input of r.inputs) {
      w.message(5, new Writer().string(1, input.name).string(2, input.datatype).packedVarints(3, input.shape));
    }
    for (const output of r.outputs || []) {
      const o = new Writer().string(1, output.name);
      if (output.classification) {  // map<string, InferParameter> entry {key = 1, value = 2 {int64_param = 2}}
        o.message(2, new Writer().string(1, "classification").message(2, new Writer().uint(2, output.classification)));
      }
      w.message(6, o);
    }
    for (const input of r.inputs) w.lengthDelimited(7, input.raw);
    return w.finish();
  }
  // BYTES raw contents: each element is a 4-byte little-endian length + bytes.
  function splitBytesElements(u8) {
    const out = [], dv = new DataView(u8.buffer, u8.byteOffset, u8.length);
    for (let at = 0; at + 4 <= u8.length;) { const n = dv.getUint32(at, true); at += 4; out.push(fromUtf8.decode(u8.subarray(at, at + n))); at += n; }
    return out;
  }
  function decodeModelInferResponse(u8) {
    const f = parse(u8);
    const raw = readBytesList(f, 6);
    const outputs = readMessages(f, 5).map((m, i) => {
      const contents = readMessages(m, 5)[0] || {};
      const datatype = readString(m, 2);
      let data;
      if (datatype === "BYTES") data = raw[i] ? splitBytesElements(raw[i]) : readStrings(contents, 8);
      else if (datatype === "FP32") {
        data = raw[i] ? Array.from({ length: raw[i].length / 4 }, (_, k) => new DataView(raw[i].buffer, raw[i].byteOffset).getFloat32(4 * k, true))
                      : readFloats(contents, 6);
      }
      return { name: readString(m, 1), datatype, shape: readVarints(m, 3), data };
    });
    return { model_name: readString(f, 1), model_version: readString(f, 2), outputs };
  }

  global.pbwire = { Writer, parse, encodeRecommendationRequest, decodeRecommendationResponse,
                    encodeModelMetadataRequest, decodeModelMetadataResponse,
                    encodeModelInferRequest, decodeModelInferResponse };
})(typeof window !== "undefined" ? window : globalThis);
