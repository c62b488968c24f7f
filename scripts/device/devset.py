#!/usr/bin/env python3
"""Scores every case × RoPE variant of the HF devset with `ctxscope score` and compares with HF.

Usage: devset.py CTXSCOPE MODEL DEVSET OUTDIR [--backend gpu] [--precision f32,fast]

For each (case, variant, precision) it prints |Δ logprob_sum|, the largest |Δ logprob| and
|Δ top-5 logit|, whether the token counts and the top-1 id agree, and exits 1 when any of them
is off: |Δ logprob_sum| or a |Δ logprob| > 1e-4 with the exact f32 kernels (the tolerance the CPU
reference keeps, README), > 0.05 with `fast` (f16 operands: the tolerance
`engine/tests/real_model_hf.rs` gives the CPU path); a top-5 logit > 0.05 off (that test's
tolerance) with either. `score` does not say which kernels ran and `fast` falls back to the f32
kernels where the device has no cooperative matrices, so a `fast` run that gives the f32 run's
logprob_sum to the last digit is reported as a fallback (an error). The HF values
(hf-devset.json) come from transformers on an H200, f32, TF32 off.
"""
import json
import os
import subprocess
import sys

# The devset's variant names → `ctxscope score` flags.
def variant_flags(v):
    rope = v["rope"]
    flags = ["--rope", rope]
    if "factor" in v:
        flags += ["--rope-factor", str(v["factor"])]
    if "original_ctx" in v:
        flags += ["--rope-original-ctx", str(v["original_ctx"])]
    if "low_freq_factor" in v:
        flags += ["--rope-low-freq-factor", str(v["low_freq_factor"])]
    if "high_freq_factor" in v:
        flags += ["--rope-high-freq-factor", str(v["high_freq_factor"])]
    return flags


TOLERANCE = {"f32": 1e-4, "fast": 0.05}
TOP5_TOLERANCE = 0.05


def main():
    exe, model, devset_path, out = sys.argv[1:5]
    backend = "gpu"
    precisions = ["f32", "fast"]
    rest = sys.argv[5:]
    if "--backend" in rest:
        backend = rest[rest.index("--backend") + 1]
    if "--precision" in rest:
        precisions = rest[rest.index("--precision") + 1].split(",")
    unknown = [p for p in precisions if p not in TOLERANCE]
    if unknown:
        sys.exit(f"unknown precision {unknown}: expected f32, fast or both")
    with open(devset_path, encoding="utf-8") as f:
        devset = json.load(f)
    os.makedirs(out, exist_ok=True)
    failed = []
    rows = []
    for case in devset["cases"]:
        name = case["name"]
        prompt = os.path.join(out, name + ".prompt.txt")
        cont = os.path.join(out, name + ".continuation.txt")
        with open(prompt, "w", encoding="utf-8") as f:
            f.write(case["prompt"])
        with open(cont, "w", encoding="utf-8") as f:
            f.write(case["continuation"])
        for variant, reference in devset["score"][name].items():
            sums = {}
            for precision in precisions:
                cmd = [exe, "score", "--model", model, "--prompt-file", prompt, "--continuation-file", cont,
                       "--backend", backend, "--precision-kernels", precision] + variant_flags(devset["variants"][variant])
                run = subprocess.run(cmd, capture_output=True, text=True)
                label = f"{name} {variant} {backend}-{precision}"
                if run.returncode != 0:
                    failed.append(label)
                    print(f"{label}: ctxscope failed: {run.stderr.strip()[-400:]}")
                    continue
                got = json.loads(run.stdout)
                d_sum = abs(got["logprob_sum"] - reference["logprob_sum"])
                d_each = max(abs(a - b) for a, b in zip(got["logprobs"], reference["logprobs"]))
                d_top = max(abs(a - b) for a, b in zip(got["top5_logits"], reference["top5_logits"]))
                same = (got["prompt_tokens"] == reference["prompt_tokens"]
                        and got["continuation_ids"] == reference["continuation_ids"]
                        and got["top5_ids"][0] == reference["top5_ids"][0])
                sums[precision] = got["logprob_sum"]
                fell_back = precision == "fast" and sums.get("f32") == got["logprob_sum"]
                ok = (same and not fell_back and d_sum <= TOLERANCE[precision] and d_each <= TOLERANCE[precision]
                      and d_top <= TOP5_TOLERANCE)
                rows.append({"case": name, "variant": variant, "backend": backend, "precision": precision,
                             "prompt_tokens": got["prompt_tokens"], "abs_d_logprob_sum": d_sum,
                             "max_abs_d_logprob": d_each, "max_abs_d_top5_logit": d_top,
                             "tokens_and_top1_agree": same, "within_tolerance": ok})
                print(f"{label}: {got['prompt_tokens']} tokens, |Δ sum| {d_sum:.2e}, max |Δ logprob| {d_each:.2e}, "
                      f"max |Δ top-5 logit| {d_top:.2e}, ids {'same' if same else 'DIFFER'}"
                      f"{'  (fast fell back to the f32 kernels?)' if fell_back else ''}{'' if ok else '  <-- FAIL'}")
                if not ok:
                    failed.append(label)
    with open(os.path.join(out, "devset.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    print(f"{len(rows)} runs, {len(failed)} outside tolerance")
    sys.exit(1 if failed else 0)


main()
