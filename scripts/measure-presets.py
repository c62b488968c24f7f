#!/usr/bin/env python3
"""Runs every teaching preset (examples/tour/presets.json) with the CLI and prints what it measured.

    scripts/measure-presets.py --variant cpu  --backend cpu --out /tmp/presets-cpu
    scripts/measure-presets.py --variant full --backend gpu --out /tmp/presets-full   # a GPU box

Each sweep writes its results document (OUT/ID.json, the CLI's format), each entropy scan
OUT/ID.a.json and OUT/ID.b.json, the precision probe OUT/ID.json; OUT/summary.txt holds the
numbers the presets' captions quote. `--record` then copies each sweep's result record (hash and
per-cell outcomes, docs/share-links.md) into the preset, so that the page can say "reproduced".
"""
import argparse
import base64
import json
import math
import os
import subprocess
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, stdout=None):
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=stdout)
    return time.time() - t0


def sweep_summary(results):
    lines = []
    by = {}
    for c in results["cells"]:
        k = (c["experiment"], c["task"], c["length"])
        by.setdefault(k, []).append(c["correct"])
    for (e, t, n), v in sorted(by.items(), key=lambda x: (x[0][0], x[0][1], x[0][2])):
        lines.append(f"  {e:>22} {t:>14} L={n:>6}: {sum(v)}/{len(v)} correct")
    for s in results["summaries"]:
        m = s["mecw"]
        lines.append(f"  MECW {s['experiment']} / {s['task']}: absolute {m.get('mecw_absolute')}, relative {m.get('mecw_relative')}")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["full", "cpu"], required=True)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--cli", default=os.path.join(ROOT, "target/release/ctxscope"))
    ap.add_argument("--model", default=os.path.join(ROOT, "public/models/smollm2-135m-instruct-q4_1.gguf"))
    ap.add_argument("--presets", default=os.path.join(ROOT, "examples/tour/presets.json"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="", help="comma-separated preset ids")
    ap.add_argument("--record", action="store_true", help="copy the sweeps' result records from --out into the presets file")
    a = ap.parse_args()
    doc = json.load(open(a.presets))
    presets = doc["presets"]
    os.makedirs(a.out, exist_ok=True)
    if a.record:
        record(doc, a)
        return
    summary = []
    for p in presets:
        if a.only and p["id"] not in a.only.split(","):
            continue
        v = p[a.variant]
        base = os.path.join(a.out, p["id"])
        summary.append(f"{p['id']} ({a.variant}, {a.backend}):")
        if v.get("sweep"):
            cfg = base + ".config.json"
            json.dump(v["sweep"], open(cfg, "w"))
            with open(base + ".link", "w") as f:
                secs = run([a.cli, "sweep", "--config", cfg, "--out", base + ".json", "--backend", a.backend, "--model", a.model], stdout=f)
            summary.append(f"  {secs:.0f} s")
            summary += sweep_summary(json.load(open(base + ".json")))
        if v.get("scan"):
            for key in ("a", "b"):
                exp = base + f".{key}.experiment.json"
                json.dump(v[key], open(exp, "w"))
                with open(base + f".{key}.json", "w") as f:
                    secs = run([a.cli, "entropy-scan", "--lengths", ",".join(map(str, v["scan"])), "--tail", str(v.get("tail", 64)), "--config", exp, "--backend", a.backend, "--model", a.model], stdout=f)
                scan = json.load(open(base + f".{key}.json"))
                means = [f"{pt['length']}: {sum(pt['per_layer']) / len(pt['per_layer']):.3f} (ln n {math.log(pt['length']):.2f})" for pt in scan["points"]]
                summary.append(f"  {key} mean over layers, {secs:.0f} s: " + ", ".join(means))
        if v.get("deltas"):
            with open(base + ".json", "w") as f:
                run([a.cli, "precision-probe", "--deltas", ",".join(map(str, v["deltas"])), "--samples", "256", "--model", a.model], stdout=f)
            probe = json.load(open(base + ".json"))
            summary.append("  " + json.dumps(probe)[:600])
        print("\n".join(summary[-12:]), flush=True)
    open(os.path.join(a.out, "summary.txt"), "w").write("\n".join(summary) + "\n")


def decode_link(link):
    """A share link's JSON (docs/share-links.md: base64url of raw deflate)."""
    body = link.strip().split("#v1.", 1)[1]
    return json.loads(zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), -15))


def record(doc, a):
    """Copies the result record of each sweep's share link (printed by `ctxscope sweep`, so the
    engine's own code computed it) into the presets."""
    for p in doc["presets"]:
        v = p[a.variant]
        path = os.path.join(a.out, p["id"] + ".link")
        if not v.get("sweep") or not os.path.exists(path):
            continue
        state = decode_link(open(path).read())
        if state["sweep"]["name"] != v["sweep"]["name"]:
            raise SystemExit(f"{path} is not the run of preset {p['id']}")
        v["result"] = state["result"]
        print(p["id"], a.variant, state["result"]["hash"][:12], state["result"]["backend"])
    with open(a.presets, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
