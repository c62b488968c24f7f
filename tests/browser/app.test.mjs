// Browser test of the built app (dist/): Debian's headless Chromium with real WebGPU on
// SwiftShader, driven by playwright-core. Run by scripts/test.sh after scripts/build-app.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = path.join(root, "dist");
const outDir = path.join(root, "tests/browser/test-results");

const CHROMIUM_FLAGS = [
  "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader",
  "--no-sandbox", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run",
];

let server, browser, baseUrl;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

async function waitForHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} did not start`);
}

before(async () => {
  assert.ok(existsSync(path.join(dist, "index.html")), "dist/ is missing: run scripts/build-app.sh");
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}/`;
  server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dist], { stdio: "ignore" });
  await waitForHttp(baseUrl, 15000);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

/** Records every text the download progress label shows, however briefly. */
const recordProgress = () => {
  window.__progress = [];
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="load-progress-text"]');
    if (el && window.__progress.at(-1) !== el.textContent) window.__progress.push(el.textContent);
  }).observe(document, { subtree: true, childList: true, characterData: true });
};

test("app loads the default model, shows its metadata, tokenizes, caches, and survives a bad file", { timeout: 300_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.addInitScript(recordProgress);
  await page.goto(baseUrl);

  // WebGPU adapter (SwiftShader) is reported.
  const status = page.getByTestId("gpu-status");
  await status.filter({ hasText: "WebGPU adapter" }).waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId("gpu-adapter").textContent(), /adapter/);

  // The model downloads with visible progress, then its metadata appears.
  await page.getByTestId("model-layers").waitFor({ timeout: 120_000 });
  assert.equal((await page.getByTestId("model-layers").textContent()).trim(), "30");
  assert.match(await page.getByTestId("model-context").textContent(), /8192/);
  const progress = await page.evaluate(() => window.__progress);
  assert.ok(progress.length > 0, "a progress label was shown");
  assert.ok(progress.some((t) => /of 98\.4 MB \(\d+%\)/.test(t)), `progress texts: ${progress.join(" | ")}`);
  assert.match(await page.getByTestId("load-status").textContent(), /Downloaded and cached/);

  // Live tokenization, ids as HF transformers gives them (hf-devset: "Hello, World!").
  await page.getByTestId("tokenizer-input").fill("Hello, World!");
  await page.getByTestId("token-count").filter({ hasText: /^4$/ }).waitFor({ timeout: 10_000 });
  const ids = await page.locator('[data-testid="token-list"] .id').allTextContents();
  assert.deepEqual(ids.map(Number), [19556, 28, 2260, 17]);

  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, "app.png"), fullPage: true });

  // A broken local file gives a specific error and keeps the loaded model.
  const bad = path.join(outDir, "broken.gguf");
  writeFileSync(bad, Buffer.from("GGUF\x03\x00\x00\x00truncated"));
  await page.getByTestId("model-file").setInputFiles(bad);
  const err = page.getByTestId("load-error");
  await err.waitFor({ timeout: 20_000 });
  assert.match(await err.textContent(), /truncated or corrupt/);
  assert.match(await err.textContent(), /previously loaded model is still in use/);
  assert.equal((await page.getByTestId("model-layers").textContent()).trim(), "30");

  // A reload reads the model from the Cache API instead of downloading it again.
  let modelRequests = 0;
  page.on("request", (r) => { if (r.url().endsWith(".gguf")) modelRequests += 1; });
  await page.reload();
  await page.getByTestId("model-layers").waitFor({ timeout: 120_000 });
  assert.match(await page.getByTestId("load-status").textContent(), /browser cache/);
  assert.equal(modelRequests, 0, "the model was fetched again");

  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("the GPU path (WebGPU on SwiftShader) generates the same greedy tokens as the CPU path", { timeout: 600_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(baseUrl);
  await page.getByTestId("model-layers").waitFor({ timeout: 120_000 });
  await page.getByTestId("gpu-status").filter({ hasText: "WebGPU adapter" }).waitFor({ timeout: 60_000 });
  await page.getByTestId("generate-prompt").fill("The capital of France is");
  await page.getByTestId("generate-max").fill("3");

  const idsOf = async (backend) => {
    await page.getByTestId(`run-${backend.toLowerCase()}`).click();
    const row = page.locator(`[data-testid="generate-results"] tr[data-backend="${backend}"]`);
    await Promise.race([
      row.waitFor({ timeout: 480_000 }),
      page.getByTestId("generate-error").waitFor({ timeout: 480_000 }).then(async () => {
        throw new Error(await page.getByTestId("generate-error").textContent());
      }),
    ]);
    return { ids: (await row.locator(".gen-ids").textContent()).trim(), text: await row.locator(".gen-text").textContent() };
  };
  const gpu = await idsOf("Gpu");
  const cpu = await idsOf("Cpu");
  assert.equal(gpu.ids.split(" ").length, 3, `GPU ids: ${gpu.ids}`);
  assert.equal(gpu.ids, cpu.ids, `GPU "${gpu.text}" vs CPU "${cpu.text}"`);
  assert.match(gpu.text, /Paris/);
  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, "generate.png"), fullPage: true });
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
