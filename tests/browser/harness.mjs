// Shared by the browser tests: serves dist/ on a free port and launches Debian's headless
// Chromium with real WebGPU on SwiftShader (driven by playwright-core).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import os from "node:os";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const dist = path.join(root, "dist");
export const outDir = path.join(root, "tests/browser/test-results");

export const CHROMIUM_FLAGS = [
  "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader",
  "--no-sandbox", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run",
];

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

/** Serves dist/ and starts the browser: { baseUrl, browser, stop }. */
export async function startApp() {
  if (!existsSync(path.join(dist, "index.html"))) throw new Error("dist/ is missing: run scripts/build-app.sh");
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}/`;
  const server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dist], { stdio: "ignore" });
  await waitForHttp(baseUrl, 15000);
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  mkdirSync(outDir, { recursive: true });
  return { baseUrl, browser, stop: async () => { await browser.close(); server.kill(); } };
}

/** A fresh page on `view` with the default model loaded; collects page errors. */
export async function openApp(context, baseUrl, view = "") {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(view ? `${baseUrl}?view=${view}` : baseUrl);
  await page.getByTestId("tab-model").waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => !document.body.innerText.includes("Loading the model"), null, { timeout: 120_000 });
  return { page, errors };
}

export function tempDir() {
  const dir = path.join(os.tmpdir(), `ctxscope-browser-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  // Removed when the test process ends, pass or fail (they piled up in /tmp run after run).
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Saves a screenshot of the page to test-results/ and, for the README, to docs/. */
export async function shoot(page, name) {
  const file = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  copyFileSync(file, path.join(root, "docs", `${name}.png`));
}

/** Runs `trigger` and returns the bytes of the file it downloads. */
export async function downloaded(page, trigger) {
  const [download] = await Promise.all([page.waitForEvent("download"), trigger()]);
  return readFileSync(await download.path());
}
