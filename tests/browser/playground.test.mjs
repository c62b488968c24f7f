// The playground's views on the built app (CPU path, tiny sizes): the experiment form and RoPE
// view, a recall sweep filling its heatmaps with an A/B difference, the MECW panel, importing
// the H200 results, exports, keyboard navigation of the grid, and the state in the address.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, copyFileSync } from "node:fs";
import path from "node:path";
import { root, outDir, startApp, openApp, shoot, downloaded } from "./harness.mjs";

let app;

before(async () => { app = await startApp(); });
after(async () => { await app?.stop(); });


test("the experiment form validates as you type, the RoPE view draws both experiments, and the address keeps them", { timeout: 300_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openApp(context, app.baseUrl, "experiment");
  // A: YaRN ×2 from its preset; a bad factor is refused with the engine's message.
  await page.getByTestId("experiment-a-form").getByRole("button", { name: "YaRN ×2" }).click();
  await page.getByTestId("experiment-a-status").waitFor();
  assert.match(await page.getByTestId("experiment-a-json").textContent(), /"method":"yarn","factor":2/);
  await page.getByTestId("experiment-a-rope-factor").fill("-3");
  await page.getByTestId("experiment-a-rope-factor").press("Tab");
  await page.getByTestId("experiment-a-problem").filter({ hasText: "factor must be a positive number" }).waitFor();
  assert.match(await page.getByTestId("experiment-a-json").textContent(), /"factor":2/, "the last valid experiment stays");
  await page.getByTestId("experiment-a-rope-factor").fill("4");
  await page.getByTestId("experiment-a-rope-factor").press("Tab");
  await page.getByTestId("experiment-a-status").waitFor();
  // B: STRING, a two-region method: the effective-position chart bends.
  await page.getByTestId("enable-b").check();
  await page.getByTestId("experiment-b-method").selectOption("string");
  await page.getByTestId("experiment-b-status").waitFor();
  assert.match(await page.getByTestId("rope-scaling").textContent(), /A: yarn at 16384 tokens: cos\/sin × 1\.1386/);
  assert.match(await page.getByTestId("rope-scaling").textContent(), /B: string at 16384 tokens: .* 2 key region/);
  await page.getByTestId("rope-wavelengths").locator("canvas").first().waitFor();
  await page.getByTestId("rope-effective").locator("canvas").first().waitFor();
  const png = await downloaded(page, () => page.getByTestId("rope-wavelengths").getByTestId("export-png").click());
  assert.ok(png.length > 2000 && png.subarray(1, 4).toString() === "PNG", "a PNG of the chart");
  await shoot(page, "experiment");
  // The view and both experiments are in the address and survive a reload.
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("view"), "experiment");
  assert.match(url.searchParams.get("exp"), /"factor":4/);
  assert.match(url.searchParams.get("expb"), /"method":"string"/);
  await page.reload();
  await page.getByTestId("experiment-a-json").waitFor({ state: "attached" });
  assert.match(await page.getByTestId("experiment-a-json").textContent(), /"method":"yarn","factor":4/);
  // A hostile address is reported, not trusted.
  await page.goto(`${app.baseUrl}?view=nowhere&exp=${encodeURIComponent('{"version":9}')}`);
  await page.getByTestId("url-problems").waitFor();
  assert.match(await page.getByTestId("url-problems").textContent(), /unknown view "nowhere".*version 9 is not supported/);
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("a recall sweep fills accessible heatmaps cell by cell, with an A/B difference, the MECW panel and exports", { timeout: 600_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const { page, errors } = await openApp(context, app.baseUrl, "experiment");
  await page.getByTestId("enable-b").check();
  await page.getByTestId("experiment-b-form").getByRole("button", { name: "sliding window 1k" }).click();
  await page.getByTestId("experiment-b-attention-window").fill("32");
  await page.getByTestId("experiment-b-attention-window").press("Tab");
  await page.getByTestId("experiment-b-status").waitFor();
  await page.getByTestId("tab-recall").click();
  await page.getByTestId("sweep-lengths").fill("96, 128");
  await page.getByTestId("sweep-lengths").press("Tab");
  await page.getByTestId("sweep-haystack").selectOption("noise");
  await page.getByTestId("sweep-compare").check();
  await page.getByTestId("recall-cells").filter({ hasText: "8 cells (2 × 2 lengths × 2 depths × 1 seeds)" }).waitFor();

  // Cells stream in: count the filled grid cells as they appear.
  await page.evaluate(() => {
    window.__filled = [];
    new MutationObserver(() => {
      const n = [...document.querySelectorAll('[data-testid="heatmap"] [role="gridcell"]')].filter((c) => !c.getAttribute("aria-label").startsWith("not run")).length;
      if (window.__filled.at(-1) !== n) window.__filled.push(n);
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.getByTestId("recall-run").click();
  await page.getByTestId("recall-status").filter({ hasText: "Complete." }).waitFor({ timeout: 300_000 });
  const filled = await page.evaluate(() => window.__filled);
  assert.ok(filled.length >= 4 && filled.at(-1) === 8, `grid cells filled one at a time: ${filled.join(" → ")}`);

  // Two 2×2 heatmaps (A and B) whose cells say what they hold, and a difference map as large.
  const maps = page.getByTestId("heatmap");
  assert.equal(await maps.count(), 2);
  const cells = maps.first().getByRole("gridcell");
  assert.equal(await cells.count(), 4);
  const names = await cells.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
  for (const n of names) assert.match(n, /^length (96|128) tokens, depth (0|100) %: accuracy [01]\.\d\d over 1 trial, 95 % interval/);
  assert.equal(await page.getByTestId("heatmap-diff").getByRole("gridcell").count(), 4);
  assert.match(await page.getByTestId("heatmap-diff").getByRole("gridcell").first().getAttribute("aria-label"), /B minus A = [+-]\d\.\d\d/);

  // Arrow keys move through the grid; Enter opens the cell: its prompt, with the needle marked.
  await cells.first().focus();
  await page.keyboard.press("ArrowRight");
  assert.match(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), /^length 128 tokens, depth 0 %/);
  await page.keyboard.press("ArrowDown");
  assert.match(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), /^length 128 tokens, depth 100 %/);
  await page.keyboard.press("Enter");
  await page.getByTestId("cell-prompt").waitFor({ timeout: 120_000 });
  assert.match(await page.getByTestId("cell-prompt").locator("mark.needle").textContent(), /The pass key is \d+\. Remember it\./);
  assert.match(await page.getByTestId("cell-expected").textContent(), /^ \d+$/);
  await page.getByTestId("cell-answer").filter({ hasNotText: "—" }).waitFor({ timeout: 120_000 });

  // The MECW panel: one chart per task and the table, one row per experiment.
  await page.getByTestId("mecw-chart").locator("canvas").first().waitFor();
  assert.equal(await page.getByTestId("mecw-table").locator("tr").count(), 3);
  assert.match(await page.getByTestId("mecw-table").textContent(), /passkey\s*A\s*96: [01]\.\d\d \(/);

  // Exports: the results document (the CLI's schema), the cells as CSV, the heatmap as SVG.
  const json = JSON.parse(await downloaded(page, () => page.getByTestId("export-json").first().click()));
  assert.equal(json.schema, "ctxscope-sweep-results");
  assert.equal(json.cells.length, 8);
  const csv = (await downloaded(page, () => page.getByTestId("export-csv").first().click())).toString().trim().split("\n");
  assert.equal(csv.length, 9);
  assert.match(csv[0], /^experiment,task,length,depth,seed,/);
  const svg = (await downloaded(page, () => maps.first().getByTestId("export-svg").click())).toString();
  assert.match(svg, /^<svg .*<rect .*fill="#[0-9a-f]{6}"/s);
  await shoot(page, "recall");
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("the Results view opens the H200's NIAH grid: 270 cells in 3 heatmaps and the MECW per experiment", { timeout: 300_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openApp(context, app.baseUrl, "results");
  await page.getByTestId("results-file").setInputFiles(path.join(root, "examples/results/niah-grid-h200.json"));
  await page.getByTestId("results-summary").waitFor();
  assert.match(await page.getByTestId("results-summary").textContent(), /270 cells on gpu \(complete\)/);
  assert.equal(await page.getByTestId("heatmap").count(), 3);
  // 9 lengths × 5 depths per experiment; each cell aggregates its 2 seeds.
  assert.equal(await page.getByTestId("heatmap").first().getByRole("gridcell").count(), 45);
  assert.match(await page.getByTestId("heatmap").first().getByRole("gridcell").first().getAttribute("aria-label"), /over 2 trials/);
  assert.equal(await page.getByTestId("mecw-table").locator("tr").count(), 4);
  assert.match(await page.getByTestId("mecw-table").textContent(), /string.*8192 \(100 % of L\)/s);
  await shoot(page, "results");
  // A changed document is refused: its cells no longer match its result_hash.
  const bad = JSON.parse(readFileSync(path.join(root, "examples/results/niah-grid-h200.json"), "utf8"));
  bad.cells[0].correct = !bad.cells[0].correct;
  const badPath = path.join(outDir, "changed-results.json");
  (await import("node:fs")).writeFileSync(badPath, JSON.stringify(bad));
  await page.getByTestId("results-file").setInputFiles(badPath);
  await page.getByTestId("results-error").filter({ hasText: "do not match its result_hash" }).waitFor();
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("the Model view lists the cached model, the storage used and what a context costs", { timeout: 300_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openApp(context, app.baseUrl, "model");
  await page.getByTestId("model-layers").waitFor({ timeout: 120_000 });
  await page.getByTestId("cache-list").filter({ hasText: /smollm2-135m-instruct-q4_1\.gguf\s*98\.4 MB/ }).waitFor({ timeout: 30_000 });
  await page.getByTestId("storage-estimate").waitFor();
  await page.getByTestId("memory-tokens").fill("16384");
  assert.match(await page.getByTestId("memory-table").textContent(), /KV cache \(f32, one key region\)755\.0 MB/);
  assert.match(await page.getByTestId("memory-max").textContent(), /\d+ tokens on CPU/);
  await shoot(page, "model");
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
