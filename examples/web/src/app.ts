// The demo page's logic. Every call is a generated stub (protoc-gen-es, from
// the .proto files: src/gen, made by `npm run generate`) sent by Connect's
// gRPC-Web transport to the server's in-process gRPC-Web endpoint (same
// origin); no hand-written protobuf or framing.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { GRPCInferenceService, ModelInferRequestSchema } from "./gen/inference_pb";
import { Recommender } from "./gen/recommender_pb";
import { FashionMnist } from "./gen/protoserve/fashion_mnist/v1/fashion_mnist_pb";

// The server this page came from, or another one named by ?api=http://host:port (that server must
// allow this page's origin: --cors-allowed-origins).
const apiBase = new URLSearchParams(window.location.search).get("api") ?? window.location.origin;
const transport = createGrpcWebTransport({ baseUrl: apiBase, useBinaryFormat: true });
const recommender = createClient(Recommender, transport);
const inference = createClient(GRPCInferenceService, transport);
const fashionMnist = createClient(FashionMnist, transport);
const CALL_TIMEOUT_MS = 30000;  // sent as grpc-timeout

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const SLIDERS = 4;  // features 0..3 get their own slider; the rest share #feature-rest
let featureCount = 32;

// "CODE: message", the gRPC status of a failed call (Code.DeadlineExceeded -> DEADLINE_EXCEEDED).
function describe(e: unknown): string {
  const err = ConnectError.from(e);
  const name = Code[err.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return `${name}: ${err.rawMessage}`;
}

function renderSliders() {
  const box = $("feature-sliders");
  for (let i = 0; i < SLIDERS; ++i) {
    const row = document.createElement("div");
    row.className = "row";
    row.innerHTML = `<label for="feature-${i}">feature ${i}</label>` +
      `<input id="feature-${i}" class="feature" type="range" min="0" max="1" step="0.0625" value="0">` +
      ` <output id="feature-${i}-value">0</output>`;
    box.appendChild(row);
  }
  for (const el of document.querySelectorAll<HTMLInputElement>("input[type=range]")) {
    el.addEventListener("input", () => { $(el.id + "-value").textContent = el.value; });
  }
}

// The request's (model-defined, 32) features: the sliders, then the uniform rest.
function features(): number[] {
  const out: number[] = [];
  for (let i = 0; i < featureCount; ++i) {
    out.push(Number(i < SLIDERS ? input(`feature-${i}`).value : input("feature-rest").value));
  }
  return out;
}

async function loadMetadata() {
  try {
    const ready = await inference.serverReady({}, { timeoutMs: CALL_TIMEOUT_MS });
    $("server-status").textContent = ready.ready ? "ready" : "not ready";
    const meta = await inference.modelMetadata({ name: "recommender" }, { timeoutMs: CALL_TIMEOUT_MS });
    const tensor = meta.inputs.find((t) => t.name === "features");
    if (tensor && tensor.shape.length) featureCount = Number(tensor.shape[tensor.shape.length - 1]);
    $("feature-count").textContent = String(featureCount);
  } catch (e) {
    $("server-status").textContent = "metadata failed: " + describe(e);
  }
}

async function recommend() {
  const body = document.body;
  body.dataset.recommendState = "running";
  $("recommend-error").textContent = "";
  const tbody = document.querySelector("#recommendations tbody")!;
  const started = performance.now();
  try {
    const response = await recommender.getRecommendations(
      { userId: input("user-id").value, features: features(), topK: Number(input("top-k").value) },
      { timeoutMs: CALL_TIMEOUT_MS });
    const elapsed = performance.now() - started;
    tbody.innerHTML = "";
    response.itemIds.forEach((id, i) => {
      const tr = document.createElement("tr");
      tr.className = "recommendation";
      tr.dataset.item = id;
      tr.dataset.score = String(response.scores[i]);
      tr.innerHTML = `<td>${i + 1}</td><td class="item"></td><td class="score">${response.scores[i].toFixed(4)}</td>`;
      tr.querySelector(".item")!.textContent = id;
      tbody.appendChild(tr);
    });
    $("recommend-latency").textContent =
      `${response.modelName} v${response.modelVersion}; round trip ${elapsed.toFixed(1)} ms`;
    $("recommend-latency").dataset.ms = String(elapsed);
    body.dataset.recommendState = "done";
  } catch (e) {
    tbody.innerHTML = "";
    $("recommend-error").textContent = describe(e);
    body.dataset.recommendState = "error";
  }
}

// --- drawing canvas -> 28x28 pixels in [0, 1] -> fashion_mnist --------------------
function setupCanvas() {
  const canvas = $<HTMLCanvasElement>("canvas"), ctx = canvas.getContext("2d")!;
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false;
  const point = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...point(e)); });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...point(e)); ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.stroke();
  });
  for (const ev of ["pointerup", "pointerleave"]) canvas.addEventListener(ev, () => { drawing = false; });
  $("clear-button").addEventListener("click", clear);
  $("classify-button").addEventListener("click", classifyTyped);
  $("classify-kserve-button").addEventListener("click", classifyKServe);
}

// The canvas scaled to 28x28, row-major, the red channel / 255.
function imagePixels(): Float32Array {
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  const sctx = small.getContext("2d")!;
  sctx.drawImage($<HTMLCanvasElement>("canvas"), 0, 0, 28, 28);
  const rgba = sctx.getImageData(0, 0, 28, 28).data;
  const pixels = new Float32Array(28 * 28);
  for (let i = 0; i < pixels.length; ++i) pixels[i] = rgba[4 * i] / 255;
  return pixels;
}

async function classifyWith(api: string, call: () => Promise<{ label: string; score: number }[]>) {
  document.body.dataset.classifyState = "running";
  $("classify-error").textContent = "";
  const tbody = document.querySelector("#classes tbody")!;
  tbody.innerHTML = "";
  const started = performance.now();
  try {
    const classes = await call();
    const elapsed = performance.now() - started;
    for (const c of classes) {
      const tr = document.createElement("tr");
      tr.className = "class";
      tr.innerHTML = `<td></td><td>${c.score.toFixed(3)}</td>`;
      (tr.firstChild as HTMLElement).textContent = c.label;
      tbody.appendChild(tr);
    }
    $("classify-latency").textContent = `${api}; round trip ${elapsed.toFixed(1)} ms`;
    document.body.dataset.classifyApi = api;
    document.body.dataset.classifyState = "done";
  } catch (e) {
    $("classify-error").textContent = describe(e);
    document.body.dataset.classifyApi = api;
    document.body.dataset.classifyState = "error";
  }
}

// The model's own typed contract (models/fashion_mnist/.../fashion_mnist.proto):
// Classify(Image) returns (Classification), labels and probabilities.
function classifyTyped() {
  return classifyWith("FashionMnist.Classify", async () => {
    const response = await fashionMnist.classify({ pixels: Array.from(imagePixels()), topK: 3 },
                                                  { timeoutMs: CALL_TIMEOUT_MS });
    return response.classes.map((c) => ({ label: c.label, score: c.probability }));
  });
}

// The same model over KServe v2 ModelInfer: FP32 raw_input_contents and the
// classification extension (classification: 3 on `logits`), which answers
// BYTES "score:index:label" elements.
function classifyKServe() {
  return classifyWith("ModelInfer", async () => {
    const request = create(ModelInferRequestSchema, {
      modelName: "fashion_mnist",
      inputs: [{ name: "image", datatype: "FP32", shape: [1n, 1n, 28n, 28n] }],
      outputs: [{ name: "logits",
                  parameters: { classification: { parameterChoice: { case: "int64Param", value: 3n } } } }],
      rawInputContents: [new Uint8Array(imagePixels().buffer)],  // little-endian on every browser platform
    });
    const response = await inference.modelInfer(request, { timeoutMs: CALL_TIMEOUT_MS });
    const output = response.outputs[0];
    const elements = response.rawOutputContents.length
      ? splitBytesElements(response.rawOutputContents[0])
      : (output.contents?.bytesContents ?? []).map((b) => new TextDecoder().decode(b));
    return elements.map((entry) => {
      const [score, index, ...label] = entry.split(":");
      return { label: label.join(":") || `class ${index}`, score: Number(score) };
    });
  });
}

// KServe's BYTES tensor layout (not protobuf): each element is a 4-byte
// little-endian length, then its bytes.
function splitBytesElements(raw: Uint8Array): string[] {
  const out: string[] = [], view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let at = 0; at + 4 <= raw.length;) {
    const n = view.getUint32(at, true);
    at += 4;
    out.push(new TextDecoder().decode(raw.subarray(at, at + n)));
    at += n;
  }
  return out;
}

renderSliders();
setupCanvas();
$("recommend-button").addEventListener("click", recommend);
loadMetadata().then(() => { document.body.dataset.metadataState = "done"; });
