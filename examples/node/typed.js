#!/usr/bin/env node
// Calls any model's typed API (docs/typed-apis.md) knowing only its method name: the request and
// response types come from the server by reflection (reflect.js), no .proto file in hand.
//
//   node typed.js protoserve.patient_outcome.v1.PatientOutcome/PredictOutcome '{"mean_radius": 17.99, ...}' \
//        --target 127.0.0.1:8001
//   node typed.js protoserve.fashion_mnist.v1.FashionMnist/Classify @image.json
//
// The request is JSON (or @file.json) in the message's field names; the answer is printed as JSON
// (every field, defaults included).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Reflection } from './reflect.js';

export async function callTyped(target, path, request, timeoutMs = 30000) {
  const [serviceName, methodName] = path.replace(/^\//, '').split('/');
  const reflection = new Reflection(target);
  let method;
  try {
    const { root } = await reflection.rootFor(serviceName);
    method = root.lookupService(serviceName).methods[methodName];
    if (!method) throw new Error(`${serviceName} has no method ${methodName}`);
  } finally {
    reflection.close();
  }
  const Request = method.resolvedRequestType;
  const Response = method.resolvedResponseType;
  const bad = Request.verify(request);
  if (bad) throw new Error(`invalid ${Request.fullName}: ${bad}`);
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/${serviceName}/${methodName}`,
        (message) => Buffer.from(Request.encode(Request.fromObject(message)).finish()),
        (bytes) => Response.toObject(Response.decode(bytes), { defaults: true, arrays: true }),
        request,
        { deadline: Date.now() + timeoutMs },
        (err, response) => (err ? reject(err) : resolve(response)),
      );
    });
  } finally {
    client.close();
  }
}

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { target: { type: 'string', default: '127.0.0.1:8001' } },
  });
  const [path, body] = positionals;
  if (!path || !body) throw new Error('usage: node typed.js package.Service/Method JSON|@file.json [--target HOST:PORT]');
  const request = JSON.parse(body.startsWith('@') ? readFileSync(body.slice(1), 'utf8') : body);
  console.log(JSON.stringify(await callTyped(values.target, path, request)));
}

main(process.argv.slice(2)).catch((err) => {
  console.error(JSON.stringify({ error: { code: grpc.status[err.code] ?? null, message: err.details ?? err.message } }));
  process.exitCode = 1;
});
