#!/usr/bin/env node
// grpcurl-style discovery through gRPC server reflection (grpc.reflection.v1alpha):
// no .proto file of the server's services is needed, only proto/reflection.proto.
//
//   node reflect.js list --target 127.0.0.1:8001                 # services
//   node reflect.js list Recommender --target 127.0.0.1:8001     # methods of one service
//   node reflect.js describe Recommender --target 127.0.0.1:8001 # a service or message, from its descriptor
//
// Add --json for machine-readable output. `describe` asks the server for the
// FileDescriptorProto containing the symbol (file_containing_symbol) and decodes
// it with protobufjs' descriptor extension.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { loadProto } from './client.js';

/** One ServerReflectionInfo stream: send a request, await its response (the protocol answers in order). */
export class Reflection {
  constructor(target) {
    const { ServerReflection } = loadProto('reflection.proto').grpc.reflection.v1alpha;
    this.client = new ServerReflection(target, grpc.credentials.createInsecure());
    this.call = this.client.ServerReflectionInfo({ deadline: Date.now() + 30000 });
    this.pending = [];
    this.call.on('data', (response) => this.pending.shift()?.resolve(response));
    this.call.on('error', (err) => this.pending.splice(0).forEach((p) => p.reject(err)));
    this.call.on('end', () => this.pending.splice(0).forEach((p) => p.reject(new Error('reflection stream ended'))));
  }

  request(message) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.call.write(message);
    }).then((response) => {
      if (response.error_response) {
        const { error_code, error_message } = response.error_response;
        throw new Error(`${grpc.status[error_code] ?? error_code}: ${error_message}`);
      }
      return response;
    });
  }

  async listServices() {
    const response = await this.request({ list_services: '' });
    return response.list_services_response.service.map((s) => s.name).sort();
  }

  /** The file defining `symbol` plus its dependencies, decoded, as a protobufjs Root. */
  async rootFor(symbol) {
    const response = await this.request({ file_containing_symbol: symbol });
    const files = response.file_descriptor_response.file_descriptor_proto.map((bytes) => descriptor.FileDescriptorProto.decode(bytes));
    for (const file of files) {
      // The server sends a file with the dependencies not yet sent on this stream; fetch any missing.
      for (const dep of file.dependency ?? []) {
        if (!files.some((f) => f.name === dep)) {
          const more = await this.request({ file_by_filename: dep });
          files.push(...more.file_descriptor_response.file_descriptor_proto.map((b) => descriptor.FileDescriptorProto.decode(b)));
        }
      }
    }
    return { files: files.map((f) => f.name), root: protobuf.Root.fromDescriptor({ file: files }).resolveAll() };
  }

  async describe(symbol) {
    const { files, root } = await this.rootFor(symbol);
    const found = root.lookup(symbol);
    if (found instanceof protobuf.Service) {
      return {
        symbol, kind: 'service', file: files[0],
        methods: found.methodsArray.map((m) => ({
          name: m.name,
          input_type: m.resolvedRequestType.fullName,
          output_type: m.resolvedResponseType.fullName,
          client_streaming: Boolean(m.requestStream),
          server_streaming: Boolean(m.responseStream),
        })),
      };
    }
    if (found instanceof protobuf.Type) {
      return {
        symbol, kind: 'message', file: files[0],
        fields: found.fieldsArray.map((f) => ({ name: f.name, id: f.id, type: f.type, repeated: f.repeated })),
      };
    }
    throw new Error(`${symbol} is neither a service nor a message`);
  }

  close() {
    this.call.end();
    this.client.close();
  }
}

function printDescription(d) {
  if (d.kind === 'service') {
    console.log(`${d.symbol} is a service (${d.file}):\nservice ${d.symbol.split('.').pop()} {`);
    for (const m of d.methods) {
      const stream = (flag) => (flag ? 'stream ' : '');
      console.log(`  rpc ${m.name} ( ${stream(m.client_streaming)}${m.input_type} ) returns ( ${stream(m.server_streaming)}${m.output_type} );`);
    }
  } else {
    console.log(`${d.symbol} is a message (${d.file}):\nmessage ${d.symbol.split('.').pop()} {`);
    for (const f of d.fields) console.log(`  ${f.repeated ? 'repeated ' : ''}${f.type} ${f.name} = ${f.id};`);
  }
  console.log('}');
}

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { target: { type: 'string', default: '127.0.0.1:8001' }, json: { type: 'boolean', default: false } },
  });
  const [command, symbol] = positionals;
  const reflection = new Reflection(values.target);
  try {
    if (command === 'list' && !symbol) {
      const services = await reflection.listServices();
      console.log(values.json ? JSON.stringify({ services }) : services.join('\n'));
    } else if (command === 'list') {
      const { methods } = await reflection.describe(symbol);
      const names = methods.map((m) => `${symbol}.${m.name}`);
      console.log(values.json ? JSON.stringify({ service: symbol, methods: names }) : names.join('\n'));
    } else if (command === 'describe' && symbol) {
      const description = await reflection.describe(symbol);
      if (values.json) console.log(JSON.stringify(description));
      else printDescription(description);
    } else {
      throw new Error('usage: node reflect.js list [SERVICE] | describe SYMBOL [--target HOST:PORT] [--json]');
    }
  } finally {
    reflection.close();
  }
}

// Run as a script (typed.js imports the Reflection class only).
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(JSON.stringify({ error: { message: err.details ?? err.message } }));
    process.exitCode = 1;
  });
}
