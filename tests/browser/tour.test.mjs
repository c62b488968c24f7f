// The guided tour, end to end on the CPU fallback: every step opens its share link, runs with
// one click, and every sweep step reproduces the outcome recorded when the preset was measured
// natively on the CPU (scripts/measure-presets.py --variant cpu).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { root, startApp, openApp, shoot } from "./harness.mjs";

let app;
before(async () => { app = await startApp(); });
after(async () => { await app?.stop(); });

const presets = JSON.parse(readFileSync(path.join(root, "examples/tour/presets.json"), "utf8")).presets;

test("the tour runs end to end on the CPU fallback; every sweep step is reproduced", { timeout: 1_800_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openApp(context, app.baseUrl, "tour");
  assert.equal(await page.getByTestId("tour-card").count(), presets.length);
  assert.ok(presets.length >= 8);
  await page.getByTestId("tour-start").click();
  for (const [k, p] of presets.entries()) {
    await page.getByTestId("tour-title").filter({ hasText: p.title }).waitFor();
    assert.match(await page.getByTestId("tour-bar").textContent(), new RegExp(`step ${k + 1} of ${presets.length}`));
    assert.match(await page.getByTestId("tour-cpu").textContent(), /CPU fallback: /, "the page says it runs the reduced variant");
    const t0 = Date.now();
    await page.getByTestId("tour-run").click();
    if (p.cpu.sweep) {
      await page.getByTestId("link-verdict").waitFor({ timeout: 900_000 });
      const verdict = await page.getByTestId("link-verdict").textContent();
      assert.match(verdict, /^Reproduced/, `${p.id}: ${verdict}`);
    } else if (p.cpu.scan) {
      await page.getByTestId("entropy-export").waitFor({ timeout: 600_000 });
      await page.waitForFunction(() => !document.querySelector('[data-testid="entropy-run"]').disabled, null, { timeout: 600_000 });
    } else {
      await page.getByTestId("precision-export").waitFor({ timeout: 300_000 });
    }
    console.log(`# step ${k + 1} ${p.id}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (k === 0) {
      await shoot(page, "tour");
    }
    if (k + 1 < presets.length) await page.getByTestId("tour-next").click();
  }
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
