// The views that look inside the model, on the built app (CPU path, tiny sizes): an entropy
// scan whose chart equals its exported JSON, an attention row that is a distribution with its
// argmax highlighted (and a 32k-key row opened from a file drawn in < 100 ms), the precision
// probe with one series per mode, and a chat turn that streams and stops on end-of-turn.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, copyFileSync } from "node:fs";
import path from "node:path";
import { root, outDir, startApp, openApp, tempDir, shoot, downloaded } from "./harness.mjs";

let app;

before(async () => { app = await startApp(); });
after(async () => { await app?.stop(); });


/** The ECharts option of the chart inside the element with `testid`. */
async function chartOption(page, testid) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="${id}"] .chart-canvas`);
    return JSON.parse(JSON.stringify(window.echarts.getInstanceByDom(el).getOption()));
  }, testid);
}

test("an entropy scan at 3 lengths draws one series per layer equal to its exported JSON", { timeout: 600_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const { page, errors } = await openApp(context, app.baseUrl, "entropy");
  await page.getByTestId("entropy-b-logn").click();
  await page.getByTestId("entropy-lengths").fill("64, 128, 256");
  await page.getByTestId("entropy-tail").fill("16");
  await page.getByTestId("entropy-run").click();
  await page.getByTestId("entropy-results").waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => !document.querySelector('[data-testid="entropy-progress"]'), null, { timeout: 480_000 });
  assert.equal(await page.getByTestId("entropy-error").count(), 0, "the scan failed");
  // 30 layers: the layer × length map by default, with the B − A difference.
  await page.getByTestId("entropy-layer-map").first().waitFor();
  assert.equal(await page.getByTestId("entropy-layer-map").count(), 2);
  await page.getByTestId("entropy-layer-diff").waitFor();
  const cells = await page.getByTestId("entropy-layer-map").first().getByRole("gridcell").count();
  assert.equal(cells, 30 * 3, "a cell per layer and length");
  const exported = JSON.parse(await downloaded(page, () => page.getByTestId("entropy-export").click()));
  assert.equal(exported.unit, "nats");
  assert.equal(exported.curves.length, 2);
  // Lines: one series per layer and experiment, plus ln(n).
  await page.getByTestId("entropy-lines").check();
  await page.getByTestId("entropy-chart").locator("canvas").first().waitFor();
  const option = await chartOption(page, "entropy-chart");
  const layerSeries = option.series.filter((s) => / · layer \d+$/.test(s.name));
  assert.equal(layerSeries.length, 2 * 30, "one series per layer for A and for B");
  for (const curve of exported.curves) {
    assert.deepEqual(curve.points.map((p) => p.length), [64, 128, 256]);
    for (let layer = 0; layer < 30; layer++) {
      const series = layerSeries.find((s) => s.name === `${curve.label} · layer ${layer}`);
      assert.ok(series, `${curve.label} layer ${layer}`);
      curve.points.forEach((p, i) => {
        assert.equal(series.data[i][0], p.length);
        assert.ok(Math.abs(series.data[i][1] - p.per_layer[layer]) < 1e-6, `${curve.label} layer ${layer} at ${p.length}`);
      });
    }
    curve.points.forEach((p) => assert.ok(Math.abs(p.uniform - (Math.log(p.length - 15) + Math.log(p.length)) / 2) < 0.1, "ln(n) of the averaged queries"));
  }
  const uniform = option.series.find((s) => s.name === "uniform attention ln(n)");
  assert.equal(uniform.data.length, 3);
  // Log-n scaling holds the deep layers' mean entropy below the model's own RoPE's at 256.
  const mean = (curve, i) => curve.points[i].per_layer.slice(2).reduce((a, b) => a + b, 0) / 28;
  const [a, b] = exported.curves;
  assert.ok(mean(b, 2) < mean(a, 2), `log-n ${mean(b, 2)} vs default ${mean(a, 2)} at 256 tokens`);
  assert.ok(mean(a, 2) > mean(a, 0), "entropy climbs with length under the model's own RoPE");
  const png = await downloaded(page, () => page.getByTestId("entropy-chart").getByTestId("export-png").click());
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  await page.getByTestId("entropy-head-map").first().waitFor();
  await shoot(page, "entropy");
  assert.deepEqual(errors, []);
  await context.close();
});

test("an attention row sums to 1 with its argmax highlighted; a full map; a 32k-key row from a file draws in < 100 ms", { timeout: 600_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  const { page, errors } = await openApp(context, app.baseUrl, "attention");
  await page.getByTestId("attention-tokens").fill("160");
  await page.getByTestId("attention-tokens").press("Tab");
  await page.getByTestId("attention-layer").fill("5");
  await page.getByTestId("attention-layer").press("Tab");
  await page.getByTestId("attention-head").fill("3");
  await page.getByTestId("attention-head").press("Tab");
  await page.getByTestId("attention-run").click();
  await page.getByTestId("row-sum").waitFor({ timeout: 240_000 });
  const sum = Number(await page.getByTestId("row-sum").getAttribute("data-sum"));
  assert.ok(Math.abs(sum - 1) < 1e-3, `row sums to ${sum}`);
  assert.match(await page.getByTestId("attention-summary").textContent(), /Layer 5, head 3, query 159 .* over 160 keys/);
  // The argmax: named, highlighted in the top-keys table, and the largest weight of the CSV.
  const argmax = Number(await page.getByTestId("row-argmax").getAttribute("data-key"));
  const top = page.getByTestId("attention-top").locator("tr.argmax");
  assert.equal(await top.count(), 1);
  assert.equal(Number(await top.getAttribute("data-key")), argmax);
  const csv = (await downloaded(page, () => page.getByTestId("export-csv").click())).toString().trim().split("\n").slice(2);
  const weights = csv.map((line) => Number(line.slice(line.lastIndexOf(",") + 1)));
  assert.equal(weights.length, 160);
  assert.equal(weights.indexOf(Math.max(...weights)), argmax);
  const png = await downloaded(page, () => page.getByTestId("export-png").click());
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  // Hovering a key names it.
  const box = await page.getByTestId("attention-canvas").boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await page.getByText(/key \d+ «.*»: p = /).waitFor();
  // Zoom to the first 64 keys.
  await page.getByTestId("zoom-start").click();
  assert.match(await page.getByTestId("attention-range").textContent(), /keys 0 … 63/);
  // The full map of this 160-token prompt.
  await page.getByTestId("attention-full").click();
  await page.getByTestId("attention-map").waitFor({ timeout: 240_000 });
  const size = await page.getByTestId("attention-map").evaluate((c) => [c.width, c.height]);
  assert.deepEqual(size, [160, 160]);
  await shoot(page, "attention");

  // A 32k-key row in the CLI's format, opened from a file: drawn in under 100 ms.
  const n = 32768;
  const probs = Array.from({ length: n }, (_, j) => (j < 4 ? 2000 : 1) / (4 * 2000 + n - 4));
  const file = path.join(tempDir(), "row32k.json");
  writeFileSync(file, JSON.stringify({ backend: "gpu", attention_row: { layer: 3, head: 1, position: n - 1, probs } }));
  await page.getByTestId("attention-file").setInputFiles(file);
  await page.getByText(/over 32768 keys/).waitFor();
  await page.getByTestId("attention-log").check();
  const ms = Number(await page.getByTestId("row-draw-ms").getAttribute("data-ms"));
  assert.ok(ms < 100, `a 32k-key row drew in ${ms} ms`);
  assert.equal(Number(await page.getByTestId("row-argmax").getAttribute("data-key")), 0);
  console.log(`32k-key row drawn in ${ms.toFixed(1)} ms`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the precision probe draws one series per mode; f32 and bf16 scores side by side", { timeout: 600_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const { page, errors } = await openApp(context, app.baseUrl, "precision");
  await page.getByTestId("precision-deltas").fill("16");
  await page.getByTestId("precision-run").click();
  await page.getByTestId("precision-chart").locator("canvas").first().waitFor({ timeout: 120_000 });
  const option = await chartOption(page, "precision-chart");
  assert.deepEqual(option.series.map((s) => s.name).sort(), ["bf16 · Δ=16", "bf16-angles · Δ=16", "f16 · Δ=16", "f16-angles · Δ=16", "f32 · Δ=16"]);
  // bf16 drifts far more than f32 at the largest position.
  const last = (name) => option.series.find((s) => s.name === name).data.at(-1)[1];
  assert.ok(last("bf16 · Δ=16") > 10 * last("f32 · Δ=16"), `bf16 ${last("bf16 · Δ=16")} vs f32 ${last("f32 · Δ=16")}`);
  const png = await downloaded(page, () => page.getByTestId("precision-chart").getByTestId("export-png").click());
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  await page.getByTestId("precision-tokens").fill("200");
  await page.getByTestId("precision-tokens").press("Tab");
  await page.getByTestId("precision-score-run").click();
  await page.getByTestId("precision-parting").waitFor({ timeout: 300_000 });
  assert.match(await page.getByTestId("precision-parting").textContent(), /Σ log p: f32 -?\d+\.\d+, bf16 -?\d+\.\d+/);
  await page.getByTestId("precision-scores-chart").locator("canvas").first().waitFor();
  await shoot(page, "precision");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a chat turn streams tokens and stops on the end-of-turn token; what did it look at?", { timeout: 600_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openApp(context, app.baseUrl, "chat");
  // Count the distinct partial answers the page shows while the answer streams.
  await page.evaluate(() => {
    window.__partials = new Set();
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="chat-streaming"] .chat-text');
      if (el) window.__partials.add(el.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByTestId("chat-input").fill("What is the capital of France?");
  await page.getByTestId("chat-input").press("Enter");
  await page.getByTestId("chat-stats").waitFor({ timeout: 300_000 });
  assert.equal(await page.getByTestId("chat-stats").getAttribute("data-stopped-at-eos"), "true", await page.getByTestId("chat-stats").textContent());
  const partials = await page.evaluate(() => window.__partials.size);
  assert.ok(partials >= 3, `the answer streamed in ${partials} steps`);
  const answer = await page.locator('.chat-msg[data-role="assistant"] .chat-text').last().textContent();
  assert.match(answer, /Paris/);
  assert.match(await page.getByTestId("chat-stats").textContent(), /ended by the end-of-turn token/);
  assert.match(await page.getByTestId("chat-context").textContent(), /tokens used of the 8192 the model was trained on/);
  await shoot(page, "chat");
  // The conversation goes to the Attention view.
  await page.getByTestId("chat-look").click();
  await page.getByTestId("attention-view").waitFor();
  assert.ok(await page.getByTestId("attention-source-chat").isChecked());
  await page.getByTestId("attention-run").click();
  await page.getByTestId("row-sum").waitFor({ timeout: 240_000 });
  assert.ok(Math.abs(Number(await page.getByTestId("row-sum").getAttribute("data-sum")) - 1) < 1e-3);
  assert.deepEqual(errors, []);
  await context.close();
});
