// Share links on the built app (CPU path, tiny sizes): a link printed by `ctxscope sweep` opens in
// a fresh browser profile, shows its plan, checks the model, reruns and says "reproduced"; the
// page's own link reproduces in another fresh profile and runs on the CLI with the same hash; a
// changed record is reported cell by cell; a link for another model is refused with both hashes;
// long links become a link file that restores the same state; and malformed links never crash
// the page or inject anything.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import path from "node:path";
import { root, outDir, startApp, openApp, tempDir, downloaded } from "./harness.mjs";

let app;
before(async () => { app = await startApp(); });
after(async () => { await app?.stop(); });

const model = path.join(root, "public/models/smollm2-135m-instruct-q4_1.gguf");
const cli = ["release", "debug"].map((p) => path.join(root, "target", p, "ctxscope")).find(existsSync);

/** A link's JSON (node's raw inflate, as the format documents). */
function decode(link) {
  const body = link.split("#v1.")[1];
  return JSON.parse(inflateRawSync(Buffer.from(body, "base64url")).toString());
}
function encode(json) {
  return "v1." + deflateRawSync(Buffer.from(JSON.stringify(json))).toString("base64url");
}


/** Opens `url` in a fresh profile; waits for the link panel and the model check. */
async function openLink(url) {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.getByTestId("link-panel").waitFor({ timeout: 60_000 });
  return { context, page, errors };
}

async function runAndJudge(page) {
  await page.getByTestId("link-model-ok").waitFor({ timeout: 180_000 });
  await page.getByTestId("link-estimate").filter({ hasText: /about \d+/ }).waitFor({ timeout: 180_000 });
  await page.getByTestId("link-run").click();
  await page.getByTestId("link-verdict").waitFor({ timeout: 300_000 });
  return page.getByTestId("link-verdict").textContent();
}

test("a CLI link reproduces in a fresh profile; the page's link reproduces again and on the CLI", { timeout: 900_000 }, async () => {
  assert.ok(cli, "the CLI is built (cargo test builds target/debug/ctxscope)");
  const dir = tempDir();
  const config = path.join(dir, "sweep.json");
  writeFileSync(config, JSON.stringify({
    version: 1, name: "share test", tasks: [{ name: "passkey", task: { task: "passkey" } }],
    lengths: [96, 128], depths: [0.5], seeds: 1, haystack: { kind: "noise" },
  }));
  const out = path.join(dir, "cli.json");
  const printed = execFileSync(cli, ["sweep", "--backend", "cpu", "--model", model, "--config", config, "--out", out,
    "--page", app.baseUrl, "--model-url", "models/smollm2-135m-instruct-q4_1.gguf"], { encoding: "utf8" }).trim();
  const cliResults = JSON.parse(readFileSync(out, "utf8"));
  assert.ok(printed.startsWith(`${app.baseUrl}#v1.`), printed);
  assert.ok(printed.length < 2000, `a typical link is short: ${printed.length}`);
  const json = decode(printed);
  assert.equal(json.result.hash, cliResults.result_hash);
  assert.equal(json.model.sha256, cliResults.model.sha256);
  assert.equal(json.sweep.haystack.kind, "noise");
  assert.equal(json.sweep.depths, undefined, "the link leaves defaults out (depths [0.5])");

  // 1. CLI → page, fresh profile: the plan shows before anything runs, then "reproduced".
  const a = await openLink(printed);
  assert.match(await a.page.getByTestId("link-plan").textContent(), /2 cells \(1 experiments × 1 tasks × 2 lengths up to 128 tokens × 1 depths × 1 seeds\)/);
  assert.match(await runAndJudge(a.page), /^Reproduced/);
  await a.page.screenshot({ path: path.join(outDir, "share.png"), fullPage: true });
  copyFileSync(path.join(outDir, "share.png"), path.join(root, "docs/share.png"));

  // 2. The page's own link (it recorded the browser's run) reproduces in another fresh profile.
  await a.page.getByTestId("share").click();
  const pageLink = await a.page.getByTestId("share-link").inputValue();
  const pageJson = decode(pageLink);
  assert.equal(pageJson.result.hash, cliResults.result_hash, "the page's CPU run has the CLI's hash");
  assert.equal(pageJson.result.backend, "cpu");
  const b = await openLink(pageLink);
  assert.match(await runAndJudge(b.page), /^Reproduced/);

  // 3. page → CLI: the page's link runs natively with the same hash.
  const out2 = path.join(dir, "from-link.json");
  execFileSync(cli, ["sweep", "--backend", "cpu", "--model", model, "--link", pageLink, "--out", out2, "--page", app.baseUrl], { encoding: "utf8" });
  assert.equal(JSON.parse(readFileSync(out2, "utf8")).result_hash, cliResults.result_hash);

  // 4. A record that disagrees in one cell: "differs in 1 cell", outlined.
  const changed = structuredClone(json);
  const bytes = Buffer.from(changed.result.outcomes, "base64url");
  bytes[1] ^= 1;
  changed.result.outcomes = bytes.toString("base64url");
  const c = await openLink(`${app.baseUrl}#${encode(changed)}`);
  assert.match(await runAndJudge(c.page), /^Differs in 1 cell/);
  assert.equal(await c.page.locator(".hm-differs").count(), 1);
  assert.match(await c.page.locator(".hm-differs").getAttribute("aria-label"), /length 128 tokens.*differs from the share link's run/);

  // 5. A link made with another model file is refused, both hashes shown, nothing runs.
  const other = structuredClone(json);
  other.model.sha256 = "0".repeat(64);
  const d = await openLink(`${app.baseUrl}#${encode(other)}`);
  await d.page.getByTestId("link-model-differs").waitFor({ timeout: 180_000 });
  const refusal = await d.page.getByTestId("link-model-differs").textContent();
  assert.ok(refusal.includes("0".repeat(64)) && refusal.includes(cliResults.model.sha256), refusal);
  assert.ok(await d.page.getByTestId("link-run").isDisabled());

  for (const x of [a, b, c, d]) {
    assert.deepEqual(x.errors, [], "no page errors");
    await x.context.close();
  }
});

test("a long link is offered as a file, which restores the same state in a fresh profile", { timeout: 300_000 }, async () => {
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const { page, errors } = await openApp(context, app.baseUrl, "results");
  await page.getByTestId("results-file").setInputFiles(path.join(root, "examples/results/niah-grid-h200.json"));
  await page.getByTestId("results-summary").waitFor();
  await page.getByTestId("share").click();
  const link = await page.getByTestId("share-link").inputValue();
  const length = await page.getByTestId("share-length").textContent();
  console.log(`# the H200 NIAH grid (270 cells, 3 experiments) with its record: ${link.length} characters`);
  const json = decode(link);
  assert.equal(json.sweep.experiments.length, 3);
  assert.equal(Buffer.from(json.result.outcomes, "base64url").length, 270);
  if (link.length > 2000) assert.match(length, /over 2000.*link file/);
  const file = path.join(outDir, "ctxscope-link.json");
  writeFileSync(file, await downloaded(page, () => page.getByTestId("share-file").click()));
  assert.equal(JSON.parse(readFileSync(file, "utf8")).schema, "ctxscope-link");

  const fresh = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page: p2, errors: e2 } = await openApp(fresh, app.baseUrl, "results");
  await p2.getByTestId("results-file").setInputFiles(file);
  await p2.getByTestId("link-panel").waitFor();
  assert.match(await p2.getByTestId("link-plan").textContent(), /270 cells \(3 experiments × 1 tasks × 9 lengths up to 16384 tokens × 5 depths × 2 seeds\)/);
  assert.equal(decode(p2.url()).result.hash, json.result.hash, "the address holds the same link");

  // A pasted haystack makes a link too long to share as a URL: the page says so, and its link
  // file restores the text in a fresh profile.
  await page.getByTestId("tab-recall").click();
  await page.getByTestId("sweep-haystack").selectOption("text");
  let x = 7;
  const words = Array.from({ length: 900 }, () => { x = (x * 1103515245 + 12345) % 2147483648; return x.toString(36); });
  const text = words.join(" ") + ".";
  await page.getByTestId("sweep-text").fill(text);
  await page.getByTestId("sweep-text").press("Tab");
  // The Results document is still open: share from Recall, which has not run, so the form's sweep.
  await page.getByTestId("share").click();
  const long = await page.getByTestId("share-link").inputValue();
  assert.ok(long.length > 2000, `${long.length}`);
  assert.match(await page.getByTestId("share-length").textContent(), /over 2000, which chat and mail apps may cut — share the link file/);
  const longFile = path.join(outDir, "ctxscope-long-link.json");
  writeFileSync(longFile, await downloaded(page, () => page.getByTestId("share-file").click()));
  const fresh2 = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page: p3, errors: e3 } = await openApp(fresh2, app.baseUrl);
  await p3.getByTestId("share").click();
  await p3.getByTestId("share-open-file").setInputFiles(longFile);
  await p3.getByTestId("recall-view").waitFor();
  assert.equal(await p3.getByTestId("sweep-text").inputValue(), text, "the same text, restored");
  assert.deepEqual([...errors, ...e2, ...e3], [], "no page errors");
  await context.close();
  await fresh.close();
  await fresh2.close();
});

/** Malformed links: each layer of the format broken, markup in every string, absurd values. */
function hostileCorpus() {
  const good = {
    view: "recall", model: { name: "m", bytes: 10, sha256: "a".repeat(64) },
    sweep: { version: 1, name: "s", tasks: [{ name: "p", task: { task: "passkey" } }], lengths: [64] },
  };
  const corpus = [];
  const link = encode(good);
  for (let i = 3; i < link.length; i += Math.max(1, Math.floor(link.length / 40))) corpus.push(link.slice(0, i));
  for (let i = 0; i < 40; i++) {
    const chars = link.split("");
    const k = 3 + ((i * 7919) % (chars.length - 3));
    chars[k] = chars[k] === "A" ? "B" : "A";
    corpus.push(chars.join(""));
  }
  corpus.push("v2.AAAA", "v0.AAAA", "vv.AAAA", "v1.", "v1.!!!!", "v1." + "A".repeat(70_000), "nonsense");
  // A decompression bomb: 4 MB of spaces deflates to a few kB.
  corpus.push("v1." + deflateRawSync(Buffer.alloc(4 << 20, 32)).toString("base64url"));
  const evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>';
  const variants = [
    { ...good, view: evil }, { ...good, model: { ...good.model, name: evil } },
    { ...good, model: { ...good.model, url: "javascript:window.__pwned=1" } },
    { ...good, sweep: { ...good.sweep, name: evil } },
    { ...good, sweep: { ...good.sweep, tasks: [{ name: evil, task: { task: "passkey" } }] } },
    { ...good, sweep: { ...good.sweep, lengths: [1e9] } }, { ...good, sweep: { ...good.sweep, seeds: 1e6 } },
    { ...good, sweep: { ...good.sweep, seed_base: -1 } }, { ...good, sweep: { ...good.sweep, lengths: [-5] } },
    { ...good, extra: 1 }, { ...good, sweep: { ...good.sweep, version: 7 } }, [1, 2], "text", null,
    { ...good, a: { rope: { method: "yarn", factor: "big" } } }, { ...good, a: { rope: { method: evil } } },
  ];
  for (const v of variants) corpus.push(encode(v));
  corpus.push("v1." + deflateRawSync(Buffer.from("{\"view\":")).toString("base64url"));
  return corpus;
}

test("malformed links show a reason, never crash the page, and inject nothing", { timeout: 600_000 }, async () => {
  const corpus = hostileCorpus();
  assert.ok(corpus.length >= 100, `${corpus.length} links`);
  const context = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  // At load: the reason and the defaults.
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${app.baseUrl}#v2.AAAA`);
  await page.getByTestId("url-problems").filter({ hasText: /newer than this page reads.*the page shows the defaults/ }).waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("tab-model").getAttribute("aria-selected"), "true");
  // Later, through the address bar: each one reported, the page alive, nothing injected.
  const scripts = await page.locator("script").count();
  let reported = 0;
  for (const link of corpus) {
    await page.evaluate((f) => { location.hash = f; }, link);
    await page.waitForFunction(() => true);
    const problems = await page.getByTestId("url-problems").textContent().catch(() => "");
    if (/could not be opened/.test(problems)) reported++;
  }
  await page.getByTestId("tab-recall").click();
  await page.getByTestId("recall-view").waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "no markup from a link ran");
  assert.equal(await page.locator("script").count(), scripts);
  assert.equal(await page.locator("img").count(), 0);
  console.log(`# ${corpus.length} malformed links, ${reported} reported as could-not-be-opened, 0 page errors`);
  assert.ok(reported >= corpus.length * 0.8, `${reported} of ${corpus.length} reported`);
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
