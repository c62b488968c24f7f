// The static site: dist/ served from a sub-path by a plain static server works (relative URLs,
// the CSP intact), and after one visit it opens and runs offline (the service worker keeps the
// app shell; the engine worker's Cache API keeps the model).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { chromium } from "playwright-core";
import { dist, CHROMIUM_FLAGS, tempDir } from "./harness.mjs";

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

test("dist/ works from a sub-path of a plain static server, and offline after the first visit", { timeout: 600_000 }, async () => {
  // http://127.0.0.1:PORT/some/sub/path/ → dist/
  const site = tempDir();
  mkdirSync(path.join(site, "some/sub"), { recursive: true });
  symlinkSync(dist, path.join(site, "some/sub/path"));
  const port = await freePort();
  const server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", site], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}/some/sub/path/?view=workbench`;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  try {
    for (let i = 0; i < 50; i++) {
      try { if ((await fetch(url)).ok) break; } catch { await new Promise((r) => setTimeout(r, 200)); }
    }
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    const failed = [];
    page.on("requestfailed", (r) => failed.push(r.url()));
    await page.goto(url);
    await page.getByTestId("tab-model").waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => !document.body.innerText.includes("Loading the model"), null, { timeout: 180_000 });
    // Everything came from the sub-path.
    const paths = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname));
    assert.ok(paths.length > 4 && paths.every((p) => p.startsWith("/some/sub/path/")), paths.join(" "));
    assert.deepEqual(failed, []);
    // The service worker took control of the page.
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.reload();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    await page.waitForFunction(() => !document.body.innerText.includes("Loading the model"), null, { timeout: 180_000 });

    // Offline: reload, the model comes from the cache, and a small probe runs.
    await context.setOffline(true);
    await page.reload();
    await page.getByTestId("tab-model").waitFor({ timeout: 60_000 });
    await page.getByTestId("tab-model").click();
    await page.getByText("from the browser cache").first().waitFor({ timeout: 180_000 });
    await page.getByTestId("tab-workbench").click();
    await page.getByTestId("generate-max").fill("3");
    await page.getByTestId("generate-run").click();
    const status = page.locator('[data-testid="generate-results"] .gen-status').first();
    await status.filter({ hasText: /tok\/s/ }).waitFor({ timeout: 180_000 });
    assert.ok((await page.locator('[data-testid="generate-results"] .gen-ids').first().textContent()).trim().split(" ").length >= 1);
    assert.deepEqual(errors, [], "no page errors offline");
    await context.close();
  } finally {
    await browser.close();
    server.kill();
  }
});
