// app.js: the demo page's logic. Everything goes through gRPC-Web
// (grpcweb.js) with messages encoded by pbwire.js.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const SLIDERS = 4;  // features 0..3 get their own slider; the rest share #feature-rest
  let featureCount = 32;

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
    for (const input of document.querySelectorAll("input[type=range]")) {
      input.addEventListener("input", () => { $(input.id + "-value").textContent = input.value; });
    }
  }

  // The request's 32 (model-defined) features: the sliders, then the uniform rest.
  function features() {
    const out = [];
    for (let i = 0; i < featureCount; ++i) {
      out.push(Number(i < SLIDERS ? $(`feature-${i}`).value : $("feature-rest").value));
    }
    return out;
  }

  async function loadMetadata() {
    try {
      const live = await grpcweb.unary("/inference.GRPCInferenceService/ServerReady", new Uint8Array());
      const ready = pbwire.parse(live)[1]?.[0]?.value === 1;
      $("server-status").textContent = ready ? "ready" : "not ready";
      const meta = pbwire.decodeModelMetadataResponse(await grpcweb.unary(
        "/inference.GRPCInferenceService/ModelMetadata", pbwire.encodeModelMetadataRequest("recommender")));
      const input = meta.inputs.find((t) => t.name === "features");
      if (input && input.shape.length) featureCount = input.shape[input.shape.length - 1];
      $("feature-count").textContent = String(featureCount);
    } catch (e) {
      $("server-status").textContent = "metadata failed: " + e.message;
    }
  }

  async function recommend() {
    const body = document.body;
    body.dataset.recommendState = "running";
    $("recommend-error").textContent = "";
    const request = { user_id: $("user-id").value, features: features(), top_k: Number($("top-k").value) };
    const tbody = document.querySelector("#recommendations tbody");
    const started = performance.now();
    try {
      const bytes = await grpcweb.unary("/Recommender/GetRecommendations", pbwire.encodeRecommendationRequest(request));
      const elapsed = performance.now() - started;
      const response = pbwire.decodeRecommendationResponse(bytes);
      tbody.innerHTML = "";
      response.item_ids.forEach((id, i) => {
        const tr = document.createElement("tr");
        tr.className = "recommendation";
        tr.dataset.item = id;
        tr.dataset.score = String(response.scores[i]);
        tr.innerHTML = `<td>${i + 1}</td><td class="item"></td><td class="score">${response.scores[i].toFixed(4)}</td>`;
        tr.querySelector(".item").textContent = id;
        tbody.appendChild(tr);
      });
      $("recommend-latency").textContent =
        `${response.model_name} v${response.model_version}; round trip ${elapsed.toFixed(1)} ms`;
      $("recommend-latency").dataset.ms = String(elapsed);
      body.dataset.recommendState = "done";
    } catch (e) {
      tbody.innerHTML = "";
      $("recommend-error").textContent = e.message;
      body.dataset.recommendState = "error";
    }
  }

  // --- drawing canvas -> 28x28 FP32 -> fashion_mnist ---------------------------
  function setupCanvas() {
    const canvas = $("canvas"), ctx = canvas.getContext("2d");
    const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
    clear();
    let drawing = false;
    const point = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    canvas.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...point(e)); });
    canvas.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      ctx.lineTo(...point(e)); ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = ctx.lineJoin = "round"; ctx.stroke();
    });
    for (const ev of ["pointerup", "pointerleave"]) canvas.addEventListener(ev, () => { drawing = false; });
    $("clear-button").addEventListener("click", clear);
    $("classify-button").addEventListener("click", classify);
  }

  function imagePixels() {
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    const sctx = small.getContext("2d");
    sctx.drawImage($("canvas"), 0, 0, 28, 28);
    const rgba = sctx.getImageData(0, 0, 28, 28).data;
    const raw = new DataView(new ArrayBuffer(28 * 28 * 4));
    for (let i = 0; i < 28 * 28; ++i) raw.setFloat32(4 * i, rgba[4 * i] / 255, true);
    return new Uint8Array(raw.buffer);
  }

  async function classify() {
    document.body.dataset.classifyState = "running";
    $("classify-error").textContent = "";
    const tbody = document.querySelector("#classes tbody");
    const started = performance.now();
    try {
      const request = { model_name: "fashion_mnist",
                        inputs: [{ name: "image", datatype: "FP32", shape: [1, 1, 28, 28], raw: imagePixels() }],
                        outputs: [{ name: "logits", classification: 3 }] };
      const bytes = await grpcweb.unary("/inference.GRPCInferenceService/ModelInfer", pbwire.encodeModelInferRequest(request));
      const elapsed = performance.now() - started;
      const response = pbwire.decodeModelInferResponse(bytes);
      tbody.innerHTML = "";
      // classification strings are "score:index:label"
      for (const entry of response.outputs[0].data) {
        const [score, index, ...label] = entry.split(":");
        const tr = document.createElement("tr");
        tr.className = "class";
        tr.innerHTML = `<td></td><td>${Number(score).toFixed(3)}</td>`;
        tr.firstChild.textContent = label.join(":") || `class ${index}`;
        tbody.appendChild(tr);
      }
      $("classify-latency").textContent = `round trip ${elapsed.toFixed(1)} ms`;
      document.body.dataset.classifyState = "done";
    } catch (e) {
      $("classify-error").textContent = e.message;
      document.body.dataset.classifyState = "error";
    }
  }

  renderSliders();
  setupCanvas();
  $("recommend-button").addEventListener("click", recommend);
  loadMetadata().then(() => { document.body.dataset.metadataState = "done"; });
})();
