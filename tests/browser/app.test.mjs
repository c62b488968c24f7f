// Browser tests of the built app (dist/): Debian's headless Chromium with real WebGPU on
// SwiftShader, driven by playwright-core. Run by scripts/test.sh after scripts/build-app.sh.
// Every model computation runs in the engine worker; these tests drive it through the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync, readFileSync } from "node:fs";
import path from "node:path";
import { root, dist, outDir, startApp, openApp as open, tempDir } from "./harness.mjs";

let app, browser, baseUrl;

before(async () => {
  app = await startApp();
  ({ browser, baseUrl } = app);
});

after(async () => {
  await app?.stop();
});

/** A fresh page on the Workbench with the default model loaded. */
const openApp = (context) => open(context, baseUrl, "workbench");

/** Records every text the load progress label shows, however briefly. */
const recordProgress = () => {
  window.__progress = [];
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="load-progress-text"]');
    if (el && window.__progress.at(-1) !== el.textContent) window.__progress.push(el.textContent);
  }).observe(document, { subtree: true, childList: true, characterData: true });
};

/** The CLI binary cargo built (release if present, else the test profile's). */
function cli() {
  for (const p of ["target/release/ctxscope", "target/debug/ctxscope"]) {
    if (existsSync(path.join(root, p))) return path.join(root, p);
  }
  throw new Error("the ctxscope CLI is not built (cargo test builds it)");
}

test("the worker loads the default model, shows its metadata, tokenizes, caches, and survives a bad file", { timeout: 300_000 }, async () => {
  const context = await browser.newContext();
  let modelRequests = 0;
  context.on("request", (r) => { if (r.url().endsWith(".gguf")) modelRequests += 1; });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.addInitScript(recordProgress);
  await page.goto(baseUrl);

  // The static loading note shows before the wasm arrives (it is in index.html).
  assert.match(readFileSync(path.join(dist, "index.html"), "utf8"), /id="boot"/);

  // The worker reports the SwiftShader adapter; auto picks the CPU and says why.
  await page.getByTestId("gpu-status").filter({ hasText: "WebGPU adapter" }).waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId("gpu-adapter").textContent(), /software/);
  // SwiftShader offers WebGPU's subgroups (which wgpu's own feature list never shows) but not f16.
  assert.equal((await page.getByTestId("gpu-features").textContent()).trim(), "yes / no");
  await page.getByTestId("model-layers").waitFor({ timeout: 120_000 });
  assert.match(await page.getByTestId("running-on").textContent(), /CPU .*software renderer/);
  assert.equal((await page.getByTestId("model-layers").textContent()).trim(), "30");
  assert.match(await page.getByTestId("model-context").textContent(), /8192/);
  assert.match(await page.getByTestId("model-sha").textContent(), /^b179c952/);
  const progress = await page.evaluate(() => window.__progress);
  assert.ok(progress.some((t) => /Downloading: .* of 98\.4 MB \(\d+%\)/.test(t)), `progress texts: ${progress.join(" | ")}`);
  assert.match(await page.getByTestId("load-status").textContent(), /Downloaded .* cached it/);
  assert.equal(modelRequests, 1);

  // Tokenization in the worker: HF transformers' ids for "Hello, World!" (hf-devset).
  await page.getByTestId("tab-workbench").click();
  await page.getByTestId("tokenizer-input").fill("Hello, World!");
  await page.getByTestId("token-count").filter({ hasText: /^4$/ }).waitFor({ timeout: 20_000 });
  const ids = await page.locator('[data-testid="token-list"] .id').allTextContents();
  assert.deepEqual(ids.map(Number), [19556, 28, 2260, 17]);
  // A token that holds part of a character shows its bytes (東 is split by the BPE).
  await page.getByTestId("tokenizer-input").fill("東京");
  await page.locator('[data-testid="token-list"] .partial').first().waitFor({ timeout: 20_000 });
  assert.match(await page.locator('[data-testid="token-list"] .partial .piece').first().textContent(), /^[0-9a-f]{2}( [0-9a-f]{2})*$/);

  // The tokens box refuses what it cannot honour instead of silently changing it.
  for (const bad of ["-5", "2.5", "0", "1000"]) {
    await page.getByTestId("generate-max").fill(bad);
    await page.getByTestId("generate-invalid").waitFor();
    assert.ok(await page.getByTestId("generate-run").isDisabled(), `"${bad}" must not run`);
  }
  await page.getByTestId("generate-max").fill("8");


  await page.screenshot({ path: path.join(outDir, "app.png"), fullPage: true });

  // A broken local file gives a specific error naming it, and keeps the loaded model.
  await page.getByTestId("tab-model").click();
  const bad = path.join(outDir, "broken.gguf");
  writeFileSync(bad, Buffer.from("GGUF\x03\x00\x00\x00truncated"));
  await page.getByTestId("model-file").setInputFiles(bad);
  const err = page.getByTestId("load-error");
  await err.waitFor({ timeout: 20_000 });
  assert.match(await err.textContent(), /local file broken\.gguf: GGUF file is truncated or corrupt/);
  assert.match(await err.textContent(), /previously loaded model \(models\/smollm2.*\) is still in use/);
  assert.equal((await page.getByTestId("model-layers").textContent()).trim(), "30");

  // A valid local file loads through the same path and says where it came from.
  await page.getByTestId("model-file").setInputFiles(path.join(root, "public/models/smollm2-135m-instruct-q4_1.gguf"));
  await page.getByTestId("load-status").filter({ hasText: "Loaded local file smollm2-135m-instruct-q4_1.gguf." }).waitFor({ timeout: 120_000 });

  // A reload reads the model from the Cache API (in the worker) instead of downloading it again.
  await page.reload();
  await page.getByTestId("model-layers").waitFor({ timeout: 120_000 });
  assert.match(await page.getByTestId("load-status").textContent(), /from the browser cache/);
  assert.equal(modelRequests, 1, "the model was fetched again");

  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("a passkey sweep in the worker streams cells, cancels, resumes, keeps the page responsive, and matches the CLI's hash", { timeout: 600_000 }, async () => {
  const context = await browser.newContext();
  const { page, errors } = await openApp(context);
  const config = {
    version: 1, name: "passkey, CPU-sized",
    tasks: [{ name: "passkey", task: { task: "passkey" } }],
    lengths: [96, 128], depths: [0.25, 0.75], seeds: 1,
    haystack: { kind: "noise" }, scoring: { mode: "teacher-forced" },
  };
  await page.getByTestId("sweep-config").fill(JSON.stringify(config));

  // Probe the page's responsiveness while the worker computes: an event-loop delay sampler and
  // a real click handler.
  await page.evaluate(() => {
    window.__delays = [];
    window.__probe = setInterval(() => { const t = performance.now(); setTimeout(() => window.__delays.push(performance.now() - t), 0); }, 25);
    const b = document.createElement("button");
    b.id = "probe-button";
    b.textContent = "probe";
    // From the input event's creation to its handler: the queueing delay a person would feel,
    // without the automation's own round trips.
    b.onclick = (e) => { window.__clickLatency = performance.now() - e.timeStamp; };
    document.body.append(b);
  });

  const rows = page.locator('[data-testid="sweep-cells"] tr.cell-row');
  await page.getByTestId("sweep-run").click();
  await rows.first().waitFor({ timeout: 120_000 });
  // A click while cells are being computed is answered at once.
  await page.locator("#probe-button").click();
  const clickLatency = await page.evaluate(() => window.__clickLatency);
  assert.ok(clickLatency < 200, `click answered after ${clickLatency.toFixed(0)} ms`);
  // Cancel after the first cell: the finished cells stay, resume completes the grid.
  await page.getByTestId("sweep-cancel").click();
  await page.getByTestId("sweep-message").filter({ hasText: /Cancelled after \d of 4 cells/ }).waitFor({ timeout: 120_000 });
  const kept = await rows.count();
  assert.ok(kept >= 1 && kept < 4, `${kept} cells kept`);
  assert.match(await page.getByTestId("sweep-progress").textContent(), /\d\/4 cells .* ETA/);
  await page.getByTestId("sweep-resume").click();
  await page.getByTestId("sweep-message").filter({ hasText: "Complete: 4 cells" }).waitFor({ timeout: 300_000 });
  assert.equal(await rows.count(), 4);
  const delays = await page.evaluate(() => { clearInterval(window.__probe); return window.__delays; });
  const worst = Math.max(...delays);
  assert.ok(delays.length > 10 && worst < 200, `page event loop stalled for ${worst.toFixed(0)} ms (${delays.length} samples)`);
  const pageHash = (await page.getByTestId("sweep-hash").textContent()).trim();

  // The CLI, natively, on the same config: the same result_hash.
  const dir = tempDir();
  writeFileSync(path.join(dir, "sweep.json"), JSON.stringify(config));
  execFileSync(cli(), ["sweep", "--config", path.join(dir, "sweep.json"), "--out", path.join(dir, "out.json"), "--backend", "cpu"], { cwd: root, stdio: "ignore" });
  const cliHash = JSON.parse(readFileSync(path.join(dir, "out.json"), "utf8")).result_hash;
  assert.equal(pageHash, cliHash, "browser (wasm, CPU) vs CLI (native, CPU)");
  await page.screenshot({ path: path.join(outDir, "sweep.png"), fullPage: true });
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("generation streams tokens and stops at the end of the turn", { timeout: 300_000 }, async () => {
  const context = await browser.newContext();
  const { page, errors } = await openApp(context);
  // The chat template's default system turn (tokenizer.chat_template of the GGUF).
  await page.getByTestId("generate-prompt").fill("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n");
  await page.getByTestId("generate-max").fill("64");
  await page.getByTestId("generate-run").click();
  const status = page.locator('[data-testid="generate-results"] .gen-status').first();
  await status.filter({ hasText: /tok\/s/ }).waitFor({ timeout: 240_000 });
  assert.match(await status.textContent(), /stopped at end of turn/);
  const text = await page.locator('[data-testid="generate-results"] .gen-text').first().textContent();
  assert.ok(text.trim().length > 0, "some text was generated");
  assert.match(await page.locator('[data-testid="generate-results"] tr[data-backend="cpu"]').first().textContent(), /Smollm2.*\/ cpu/);

  // The other requests of the worker, on the CPU: an attention row, the RoPE table, the probe.
  await page.getByTestId("score-row").fill("2,4,6");
  await page.getByTestId("row-run").click();
  await page.getByTestId("score-summary").filter({ hasText: /attention row on cpu: sums to 1\.0000/ }).waitFor({ timeout: 120_000 });
  await page.getByTestId("rope-table").click();
  await page.getByTestId("rope-out").filter({ hasText: "model at 16384 tokens: 1 region(s)" }).waitFor({ timeout: 60_000 });
  await page.getByTestId("rope-probe").click();
  await page.getByTestId("rope-out").filter({ hasText: /bf16 Δ=1: \|Δlogit\| at 32k = \d/ }).waitFor({ timeout: 60_000 });
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("WebGPU scores like the CPU; a lost device gives a coded error and the CPU still works", { timeout: 600_000 }, async () => {
  const context = await browser.newContext();
  const { page, errors } = await openApp(context);
  // Keep every GPUDevice the worker creates, so that the test can destroy it, and note the
  // features it asked for and whether its kernels shuffle across subgroups.
  const worker = page.workers().find((w) => w.url().includes("ctxscope-worker"));
  assert.ok(worker, "the engine worker is running");
  await worker.evaluate(() => {
    const request = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (...args) {
      const device = await request.apply(this, args);
      (self.__devices ||= []).push(device);
      self.__features = [...device.features];
      return device;
    };
    const compile = GPUDevice.prototype.createShaderModule;
    GPUDevice.prototype.createShaderModule = function (descriptor) {
      // A kernel built to finish its reductions in 4-lane subgroups (not the start-up probe).
      if (descriptor.code.includes("const SUBGROUP_LANES: u32 = 4u;")) self.__shuffles = (self.__shuffles || 0) + 1;
      return compile.call(this, descriptor);
    };
  });
  await page.getByTestId("score-prompt").fill("The colour of the sky is");
  await page.getByTestId("score-continuation").fill(" blue.");
  const score = async (backend) => {
    await page.getByTestId("tab-model").click();
    await page.getByTestId("request-backend").selectOption(backend);
    await page.getByTestId("tab-workbench").click();
    await page.getByTestId("score-run").click();
    // The click clears the previous result; wait for this request's.
    await page.getByTestId("score-json").or(page.getByTestId("score-error")).waitFor({ timeout: 480_000 });
    if (await page.getByTestId("score-error").count()) return { error: await page.getByTestId("score-error").textContent() };
    return JSON.parse(await page.getByTestId("score-json").textContent());
  };
  const gpu = await score("gpu");
  assert.equal(gpu.backend, "gpu", JSON.stringify(gpu));
  // SwiftShader offers WebGPU's `subgroups` (4 lanes): the engine asks for them (wgpu alone
  // cannot) and its reductions (RMSNorm, the matvecs, decode attention, the merge) shuffle.
  const used = await worker.evaluate(() => ({ features: self.__features, shuffles: self.__shuffles || 0 }));
  assert.ok(used.features.includes("subgroups"), JSON.stringify(used));
  assert.ok(used.shuffles >= 1, `kernels compiled with subgroup shuffles: ${used.shuffles}`);
  // Greedy generation on WebGPU — the pipelined decode (each step's pick made on the GPU, the
  // next step queued before it is read, maps resolved by the browser's event loop), with the
  // SwiGLU folded into the down projection — gives the CPU's tokens.
  const generate = async (backend) => {
    await page.getByTestId("tab-model").click();
    await page.getByTestId("request-backend").selectOption(backend);
    await page.getByTestId("tab-workbench").click();
    await page.getByTestId("generate-prompt").fill("The capital of France is");
    await page.getByTestId("generate-max").fill("4");
    await page.getByTestId("generate-run").click();
    const row = page.locator(`[data-testid="generate-results"] tr[data-backend="${backend}"]`).first();
    await row.locator(".gen-status").filter({ hasText: /tok\/s/ }).waitFor({ timeout: 300_000 });
    return { text: await row.locator(".gen-text").textContent(), status: await row.locator(".gen-status").textContent() };
  };
  const generatedOnGpu = await generate("gpu");
  const generatedOnCpu = await generate("cpu");
  assert.match(generatedOnGpu.status, /^4 tokens, hit the limit/, JSON.stringify(generatedOnGpu));
  assert.equal(generatedOnGpu.text, generatedOnCpu.text, JSON.stringify({ generatedOnGpu, generatedOnCpu }));
  const cpu = await score("cpu");
  assert.equal(cpu.backend, "cpu");
  assert.deepEqual(gpu.output.continuation_ids, cpu.output.continuation_ids);
  assert.equal(gpu.output.top5_ids[0], cpu.output.top5_ids[0]);
  gpu.output.logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - cpu.output.logprobs[i]) < 0.02, `logprob ${i}: GPU ${lp} vs CPU ${cpu.output.logprobs[i]}`));
  // The CPU records the same entropy and row the GPU does.
  gpu.entropy_per_layer.forEach((h, l) => assert.ok(Math.abs(h - cpu.entropy_per_layer[l]) < 1e-2, `entropy layer ${l}`));

  const destroyed = await worker.evaluate(() => { (self.__devices || []).forEach((d) => d.destroy()); return (self.__devices || []).length; });
  assert.ok(destroyed >= 1, "the GPU request created a device");
  const lost = await score("gpu");
  assert.match(lost.error || "", /\[device-lost\].*(shorter context|CPU backend)/, JSON.stringify(lost));
  const again = await score("cpu");
  assert.equal(again.backend, "cpu");
  assert.deepEqual(again.output.logprobs, cpu.output.logprobs);
  await page.screenshot({ path: path.join(outDir, "score.png"), fullPage: true });
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
