// Drives Debian's headless chromium through the --web-ui demo page.
// Usage: node web_ui.js '<json>' with {url, user_id, top_k, sliders: [4 numbers], rest, screenshot,
// classify_buttons (default: both, the typed one first)}
// Prints one JSON line: {recommendations: [{item, score}], latency_ms,
// classify: {<button id>: {state, api, error, classes: [{label, score}]}}, status, console_errors}.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const puppeteer = require("puppeteer-core");

async function main() {
  const args = JSON.parse(process.argv[2]);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "protoserve-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    userDataDir,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", `--user-data-dir=${userDataDir}`],
  });
  const consoleErrors = [];
  try {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.setViewport({ width: 1100, height: 1200 });
    await page.goto(args.url, { waitUntil: "load", timeout: 60000 });
    await page.waitForFunction(() => document.body.dataset.metadataState === "done", { timeout: 60000 });

    // Fill in the form the way a user would (values set, input events fired).
    await page.evaluate((a) => {
      const set = (id, v) => { const e = document.getElementById(id); e.value = String(v);
                               e.dispatchEvent(new Event("input", { bubbles: true })); };
      set("user-id", a.user_id);
      set("top-k", a.top_k);
      a.sliders.forEach((v, i) => set(`feature-${i}`, v));
      set("feature-rest", a.rest);
    }, args);
    await page.click("#recommend-button");
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.recommendState),
                               { timeout: 60000 });
    const result = await page.evaluate(() => ({
      state: document.body.dataset.recommendState,
      error: document.getElementById("recommend-error").textContent,
      features: Number(document.getElementById("feature-count").textContent),
      server: document.getElementById("server-status").textContent,
      latency_ms: Number(document.getElementById("recommend-latency").dataset.ms || "NaN"),
      recommendations: [...document.querySelectorAll("#recommendations tbody tr.recommendation")].map((tr) => ({
        item: tr.querySelector(".item").textContent, score: Number(tr.dataset.score),
        shown: tr.querySelector(".score").textContent })),
    }));

    // Draw a rough "trouser" (two vertical bars) and classify it.
    const box = await (await page.$("#canvas")).boundingBox();
    for (const x of [0.35, 0.65]) {
      await page.mouse.move(box.x + box.width * x, box.y + box.height * 0.15);
      await page.mouse.down();
      for (let y = 0.15; y <= 0.9; y += 0.05) await page.mouse.move(box.x + box.width * x, box.y + box.height * y);
      await page.mouse.up();
    }
    // Classify it through each API: the typed FashionMnist.Classify, then KServe ModelInfer.
    result.classify = {};
    for (const button of args.classify_buttons || ["classify-button", "classify-kserve-button"]) {
      await page.evaluate(() => { document.body.dataset.classifyState = "clicked"; });
      await page.click(`#${button}`);
      await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.classifyState),
                                 { timeout: 60000 });
      result.classify[button] = await page.evaluate(() => ({
        state: document.body.dataset.classifyState,
        api: document.body.dataset.classifyApi,
        error: document.getElementById("classify-error").textContent,
        classes: [...document.querySelectorAll("#classes tbody tr.class")].map(
          (tr) => ({ label: tr.children[0].textContent, score: Number(tr.children[1].textContent) })),
      }));
    }
    if (args.screenshot) {
      fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
      await page.screenshot({ path: args.screenshot, fullPage: true });
    }
    result.console_errors = consoleErrors;
    process.stdout.write(JSON.stringify(result) + "\n");
  } finally {
    await browser.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
