#!/usr/bin/env python3
"""Independent reference values for ctxscope's RoPE frequency tables (issue 4).

Computes, in float64 with NumPy and straight from the published formulas (docs/methods.md,
"RoPE methods"; HF transformers' modeling_rope_utils.py for the exact
forms), the per-pair inv_freq and cos/sin factor of every frequency method for the default model
(b = 1e5, d = 64, L = 8192), plus the log-n logit scales. engine/tests/rope_reference.rs checks
the Rust tables against rope_reference.json to 1e-6 relative.

Regenerate: python3 tests/data/rope_reference.py > tests/data/rope_reference.json
"""
import json
import math

import numpy as np

B, D, L = 100_000.0, 64, 8192
K = np.arange(0, D, 2) / D  # 2k/d


def standard(base):
    return base ** -K


def ntk_base(base, s):
    return base * s ** (D / (D - 2))


def yarn(s, l=L, beta_fast=32.0, beta_slow=1.0):
    def corr_dim(rot):
        return D * math.log(l / (rot * 2 * math.pi)) / (2 * math.log(B))
    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), D - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(D // 2) - low) / (high - low), 0, 1)
    extrapolation = 1 - ramp
    theta = standard(B)
    inv = theta / s * (1 - extrapolation) + theta * extrapolation
    return inv, (0.1 * math.log(s) + 1) if s > 1 else 1.0


def llama3(f, lo=1.0, hi=4.0, l=L):
    theta = standard(B)
    wavelen = 2 * math.pi / theta
    smooth = (l / wavelen - lo) / (hi - lo)
    mid = (1 - smooth) * theta / f + smooth * theta
    return np.where(wavelen < l / hi, theta, np.where(wavelen > l / lo, theta / f, mid))


SHORT = [1.0 + 0.01 * k for k in range(D // 2)]
LONG = [1.0 + 0.5 * k for k in range(D // 2)]


def longrope(seq_len, factor=4.0, l=4096):
    lam = np.array(LONG if seq_len > l else SHORT)
    return standard(B) / lam, math.sqrt(1 + math.log(factor) / math.log(l))


def log_n(pos, ctx=L):
    return max(1.0, math.log(pos + 1) / math.log(ctx))


cases = []


def case(name, method, seq_len, inv, scaling=1.0):
    cases.append({"name": name, "method": method, "seq_len": seq_len, "inv_freq": [float(x) for x in inv], "attention_scaling": float(scaling)})


case("linear4", {"method": "linear", "factor": 4.0}, 1, standard(B) / 4)
case("ntk4", {"method": "ntk", "factor": 4.0}, 1, standard(ntk_base(B, 4.0)))
for n in (8192, 12288, 32768):
    ell = max(n, L)
    case(f"dynamic2_at_{n}", {"method": "dynamic", "factor": 2.0}, n, standard(B * (2.0 * ell / L - 1.0) ** (D / (D - 2))))
inv, t = yarn(4.0)
case("yarn4", {"method": "yarn", "factor": 4.0}, 1, inv, t)
inv, t = yarn(16.0, beta_fast=16.0, beta_slow=2.0)
case("yarn16_beta16_2", {"method": "yarn", "factor": 16.0, "beta_fast": 16.0, "beta_slow": 2.0}, 1, inv, t)
case("llama3_8", {"method": "llama3", "factor": 8.0}, 1, llama3(8.0))
case("llama3_4_lo2_hi8", {"method": "llama3", "factor": 4.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0}, 1, llama3(4.0, 2.0, 8.0))
for n in (4096, 5000):
    inv, a = longrope(n)
    case(f"longrope_at_{n}", {"method": "longrope", "short_factor": SHORT, "long_factor": LONG, "factor": 4.0, "original_ctx": 4096}, n, inv, a)
case("abf_5e5", {"method": "abf", "base": 500000.0}, 1, standard(500000.0))
case("eabf", {"method": "eabf"}, 1, standard(500000.0))
case("string", {"method": "string"}, 1, standard(B), 0.1 * math.log(2) + 1)

# Far-region tables of the position-map methods: leaky ReRoPE uses θ/k there.
far = [{"name": "leaky_rerope_k16_far", "method": {"method": "leaky-rerope", "factor": 16.0}, "seq_len": 4096,
        "inv_freq": [float(x) for x in standard(B) / 16], "attention_scaling": 1.0}]

scales = {
    "eabf": [[p, log_n(p)] for p in (0, 8191, 8192, 16383, 32767, 65535, 131071)],
    "rerope_ctx4096": [[p, log_n(p, 4096)] for p in (0, 4095, 4096, 10000)],
}

print(json.dumps({"base": B, "head_dim": D, "trained_ctx": L, "cases": cases, "far_regions": far, "log_n_scales": scales}, indent=1))
