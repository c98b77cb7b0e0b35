#!/usr/bin/env node
// A Node.js client for protoserve: the seed's Recommender (unary and streaming)
// and the KServe v2 ModelInfer tensor API, with stubs loaded at run time from
// ../../proto by @grpc/proto-loader. Importable (ProtoserveClient) or run as a
// CLI that prints JSON:
//
//   node client.js recommend --target 127.0.0.1:8001 --user-id user_00042 --top-k 5
//   node client.js stream --target 127.0.0.1:8001 < requests.jsonl      # JSON lines in, JSON lines out
//   node client.js infer --target 127.0.0.1:8001 --model fashion_mnist \
//       --input image:FP32:1,1,28,28:@image.json --output logits:classification=3
import { createReadStream, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

// keepCase: field names as in the .proto (user_id, raw_input_contents); int64 fields
// (model_version, shape) arrive as strings so no precision is lost; defaults: unset
// fields are present with their zero values.
export const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export function loadProto(file) {
  return grpc.loadPackageDefinition(protoLoader.loadSync(join(PROTO_DIR, file), { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] }));
}

// KServe v2 datatype -> typed array. Raw contents are little-endian, as are the
// typed arrays on every platform Node runs on in practice (x86, arm64).
const TYPED_ARRAYS = {
  BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array,
  INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array,
  FP32: Float32Array, FP64: Float64Array,
};

/** Raw bytes of one input tensor: a typed array, or an array of strings/Buffers for BYTES. */
export function encodeTensor(datatype, values) {
  if (datatype === 'BYTES') {
    return Buffer.concat(values.flatMap((v) => {
      const data = Buffer.from(v);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(data.length);
      return [length, data];
    }));
  }
  const Typed = TYPED_ARRAYS[datatype];
  if (!Typed) throw new Error(`unsupported datatype ${datatype}`);
  const array = values instanceof Typed ? values : Typed.from(values, Typed.name.startsWith('Big') ? BigInt : Number);
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** Decodes raw output bytes into a typed array (or an array of strings for BYTES). */
export function decodeTensor(datatype, raw) {
  if (datatype === 'BYTES') {
    const items = [];
    for (let i = 0; i < raw.length; i += 4 + raw.readUInt32LE(i)) {
      items.push(raw.subarray(i + 4, i + 4 + raw.readUInt32LE(i)).toString());
    }
    return items;
  }
  const Typed = TYPED_ARRAYS[datatype];
  if (!Typed) throw new Error(`unsupported datatype ${datatype}`);
  const copy = new Uint8Array(raw); // a copy: typed arrays need an aligned offset
  return new Typed(copy.buffer, 0, raw.length / Typed.BYTES_PER_ELEMENT);
}

/** The Recommender's user_id -> model input: FNV-1a 64 of the UTF-8 bytes, masked to 63 bits (a BigInt). */
export function userHash(userId) {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(userId, 'utf8')) h = BigInt.asUintN(64, (h ^ BigInt(byte)) * 0x100000001b3n);
  return h & 0x7fffffffffffffffn;
}

/** A gRPC error with the status name as `code`, e.g. "NOT_FOUND". */
export class ProtoserveError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.details = message;
  }

  static fromGrpc(err) {
    return new ProtoserveError(grpc.status[err.code] ?? 'UNKNOWN', err.details ?? err.message);
  }
}

function toRequest({ user_id, features, top_k = 10, model_name = '', model_version = 0, exclude_item_ids = [] }) {
  return { user_id, features, top_k, model_name, model_version, exclude_item_ids };
}

function fromResponse(r) {
  return { item_ids: r.item_ids, scores: r.scores, model_name: r.model_name, model_version: Number(r.model_version) };
}

export class ProtoserveClient {
  constructor(target = '127.0.0.1:8001', { timeoutMs = 30000 } = {}) {
    const credentials = grpc.credentials.createInsecure();
    const options = { 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 };
    this.timeoutMs = timeoutMs;
    this.recommender = new (loadProto('recommender.proto').Recommender)(target, credentials, options);
    // Share the channel: every stub made from the first one's channel uses one HTTP/2 connection.
    const channelOverride = this.recommender.getChannel();
    this.inference = new (loadProto('inference.proto').inference.GRPCInferenceService)(target, credentials,
      { ...options, channelOverride });
  }

  close() {
    this.recommender.close();
  }

  deadline() {
    return { deadline: Date.now() + this.timeoutMs };
  }

  unary(stub, method, request) {
    return new Promise((resolve, reject) => {
      stub[method](request, this.deadline(), (err, response) => (err ? reject(ProtoserveError.fromGrpc(err)) : resolve(response)));
    });
  }

  /** Recommender.GetRecommendations -> { item_ids, scores, model_name, model_version }. */
  async recommend(query) {
    return fromResponse(await this.unary(this.recommender, 'GetRecommendations', toRequest(query)));
  }

  /**
   * Recommender.StreamRecommendations over one stream: yields one result per query, in order;
   * a query the server rejected yields a ProtoserveError in its place.
   */
  async *recommendStream(queries) {
    const call = this.recommender.StreamRecommendations(this.deadline());
    let writeError; // e.g. a query the iterable failed to produce: reported instead of the CANCELLED it causes
    const writer = (async () => {
      for await (const query of queries) {
        if (!call.write(toRequest(query))) await new Promise((resolve) => call.once('drain', resolve));
      }
      call.end();
    })().catch((err) => {
      writeError = err;
      call.cancel();
    });
    try {
      for await (const response of call) {
        if (response.error_message) {
          const [code, ...rest] = response.error_message.split(': ');
          yield new ProtoserveError(code, rest.join(': '));
        } else {
          yield fromResponse(response);
        }
      }
    } catch (err) {
      throw writeError ?? (typeof err.code === 'number' ? ProtoserveError.fromGrpc(err) : err);
    }
    await writer;
    if (writeError) throw writeError;
  }

  /**
   * KServe v2 ModelInfer with raw contents.
   * inputs: [{ name, datatype, shape, data }] where data is a typed array (e.g. Float32Array) or plain array.
   * outputs: optional [{ name, classification }]. Returns { model_name, model_version, outputs: [{ name, datatype, shape, data }] }.
   */
  async infer(model, inputs, { outputs = [], version = '' } = {}) {
    const request = {
      model_name: model,
      model_version: String(version),
      inputs: inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      raw_input_contents: inputs.map(({ datatype, data }) => encodeTensor(datatype, data)),
      outputs: outputs.map(({ name, classification }) => ({
        name,
        parameters: classification ? { classification: { int64_param: classification } } : {},
      })),
    };
    const response = await this.unary(this.inference, 'ModelInfer', request);
    return {
      model_name: response.model_name,
      model_version: response.model_version,
      outputs: response.outputs.map((out, i) => ({
        name: out.name,
        datatype: out.datatype,
        shape: out.shape.map(Number),
        data: decodeTensor(out.datatype, response.raw_output_contents[i]),
      })),
    };
  }

  /** RepositoryIndex: [{ name, version, state, reason }]. */
  async models() {
    return (await this.unary(this.inference, 'RepositoryIndex', {})).models;
  }
}

// ---- CLI -------------------------------------------------------------------------

// 64-bit integers print as JSON numbers when exact, as strings otherwise.
const jsonSafe = (data) => Array.from(data, (v) => (typeof v !== 'bigint' ? v : Number.isSafeInteger(Number(v)) ? Number(v) : String(v)));

// NAME:DATATYPE:SHAPE:DATA where DATA is a JSON array (nested is fine) or @file holding one.
function parseInput(spec) {
  const [name, datatype, shape, ...rest] = spec.split(':');
  let text = rest.join(':');
  if (text.startsWith('@')) text = readFileSync(text.slice(1), 'utf8');
  // 64-bit integers (e.g. a user_hash) would lose precision as JSON numbers: read their digits instead.
  const data = /INT64$/.test(datatype) ? text.match(/-?\d+/g).map(BigInt) : JSON.parse(text).flat(Infinity);
  return { name, datatype, shape: shape.split(',').map(Number), data };
}

// NAME or NAME:classification=K
function parseOutput(spec) {
  const [name, param] = spec.split(':');
  return { name, classification: param ? Number(param.split('=')[1]) : 0 };
}

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string', default: '127.0.0.1:8001' },
      'user-id': { type: 'string', default: 'user_00042' },
      features: { type: 'string' },
      'top-k': { type: 'string', default: '10' },
      exclude: { type: 'string' },
      model: { type: 'string' },
      version: { type: 'string', default: '' },
      input: { type: 'string', multiple: true, default: [] },
      output: { type: 'string', multiple: true, default: [] },
      file: { type: 'string' },
    },
  });
  const client = new ProtoserveClient(values.target);
  try {
    switch (positionals[0]) {
      case 'recommend': {
        const features = values.features ? values.features.split(',').map(Number) : Array(32).fill(1 / 32);
        const exclude_item_ids = values.exclude ? values.exclude.split(',') : [];
        const result = await client.recommend({ user_id: values['user-id'], features, top_k: Number(values['top-k']),
          model_name: values.model ?? '', exclude_item_ids });
        console.log(JSON.stringify(result));
        break;
      }
      case 'stream': { // one JSON request per line (stdin or --file) -> one JSON line per response, in order
        const lines = createInterface({ input: values.file ? createReadStream(values.file) : process.stdin });
        const queries = (async function* () {
          for await (const line of lines) if (line.trim()) yield JSON.parse(line);
        })();
        for await (const result of client.recommendStream(queries)) {
          const line = result instanceof ProtoserveError ? { error: { code: result.code, message: result.details } } : result;
          process.stdout.write(`${JSON.stringify(line)}\n`);
        }
        break;
      }
      case 'infer': {
        if (!values.model) throw new Error('infer needs --model');
        const result = await client.infer(values.model, values.input.map(parseInput),
          { outputs: values.output.map(parseOutput), version: values.version });
        result.outputs.forEach((out) => { out.data = jsonSafe(out.data); });
        console.log(JSON.stringify(result));
        break;
      }
      case 'models':
        console.log(JSON.stringify({ models: await client.models() }));
        break;
      default:
        throw new Error('usage: node client.js recommend|stream|infer|models [--target HOST:PORT] ...');
    }
  } finally {
    client.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    const error = err instanceof ProtoserveError ? { code: err.code, message: err.details } : { code: 'CLIENT', message: err.message };
    console.error(JSON.stringify({ error }));
    process.exitCode = 1;
  });
}
