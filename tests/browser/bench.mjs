// Benchmark (not a test): the browser's engine worker against the native CLI on the same
// machine. Prefill and decode tokens/s of a generation request in the page's worker, next to
// `ctxscope bench` on the same backend. Run after scripts/build-app.sh:
//
//   node tests/browser/bench.mjs --backend cpu [--tokens 512] [--decode 32]
//   node tests/browser/bench.mjs --backend gpu --chromium-flags "…"   (real WebGPU, see BENCHMARKS.md)
//
// Prints one JSON line per measurement.
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const backend = arg("--backend", "cpu");
const tokens = Number(arg("--tokens", "512"));
const decode = Number(arg("--decode", "32"));
const repeats = Number(arg("--repeats", "3"));
const flags = (arg("--chromium-flags", "--enable-unsafe-webgpu --enable-features=Vulkan --use-webgpu-adapter=swiftshader")).split(" ").filter(Boolean);
const chromiumPath = arg("--chromium", "/usr/bin/chromium");
const cliPath = arg("--cli", ["target/release/ctxscope", "target/debug/ctxscope"].map((p) => path.join(root, p)).find(existsSync));

const TEXT = "The lighthouse keeper kept a log of every ship that passed, the weather at dawn and dusk, and the number of gulls on the rail. Over forty years the entries grew shorter, but he never missed a day. When the light was automated, the log went to the town museum, where children still read it aloud. ";

const port = 8790 + Math.floor(Math.random() * 100);
const server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", path.join(root, "dist")], { stdio: "ignore" });
await new Promise((r) => setTimeout(r, 1000));
const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: [...flags, "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.getByTestId("gpu-status").waitFor({ timeout: 60_000 });
  await page.getByTestId("backend-choice").selectOption(backend);
  await page.getByTestId("model-url").press("Enter");
  await page.getByTestId("load-status").waitFor({ timeout: 300_000 });
  await page.getByTestId("model-layers").waitFor();
  const adapter = await page.getByTestId("running-on").textContent();
  // A prompt of about `tokens` tokens (the page counts it exactly).
  let prompt = TEXT;
  while (prompt.length < tokens * 4.5) prompt += TEXT;
  await page.getByTestId("tokenizer-input").fill(prompt);
  await page.waitForTimeout(500);
  let count = Number(await page.getByTestId("token-count").textContent());
  while (count > tokens) {
    prompt = prompt.slice(0, Math.floor(prompt.length * tokens / count));
    await page.getByTestId("tokenizer-input").fill(prompt);
    await page.waitForTimeout(300);
    count = Number(await page.getByTestId("token-count").textContent());
  }
  await page.getByTestId("generate-prompt").fill(prompt);
  await page.getByTestId("generate-max").fill(String(decode));
  const rates = [];
  for (let r = 0; r <= repeats; r += 1) {
    await page.getByTestId("generate-run").click();
    const status = page.locator('[data-testid="generate-results"] .gen-status').nth(r);
    await status.filter({ hasText: /tok\/s/ }).waitFor({ timeout: 1_200_000 });
    const m = (await status.textContent()).match(/prompt at ([\d.]+) tok\/s, generation at ([\d.]+) tok\/s/);
    if (r > 0) rates.push({ prefill: Number(m[1]), decode: Number(m[2]) }); // the first run warms up
  }
  const best = { prefill: Math.max(...rates.map((x) => x.prefill)), decode: Math.max(...rates.map((x) => x.decode)) };
  console.log(JSON.stringify({ where: "browser worker", backend, adapter, prompt_tokens: count, decode_tokens: decode, ...best }));
  if (cliPath) {
    const out = JSON.parse(execFileSync(cliPath, ["bench", "--backend", backend, "--lengths", String(count), "--decode-context", String(count), "--decode-tokens", String(decode), "--repeats", String(repeats)], { cwd: root }).toString());
    const native = { prefill: out.prefill[0].tokens_per_s, decode: out.decode.tokens_per_s };
    console.log(JSON.stringify({ where: "native CLI", backend, adapter: out.adapter, prompt_tokens: count, decode_tokens: decode, ...native }));
    console.log(JSON.stringify({ ratio_browser_over_native: { prefill: best.prefill / native.prefill, decode: best.decode / native.decode } }));
  }
} finally {
  await browser.close();
  server.kill();
}
