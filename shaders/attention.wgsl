// attention.wgsl — causal grouped-query flash attention (online softmax; never an n×n buffer),
// with a logical mask per (layer, head) and the attention entropy of every query.
//
// Workgroup = 64 consecutive queries of one query head. Keys stream through workgroup memory in
// tiles of KEY_TILE; each tile is scored, then folded into the running (max m, sum l, o) once.
// Query at absolute position i sees key j iff j <= i and (window == 0 || i - j < window ||
// j < sinks). Tiles that no query of the workgroup can see are never loaded: the loop visits the
// sink tiles, then only the tiles from the window's lower edge to the last query.
//
// Entropy: alongside l = Σ e^(s-m) we track t = Σ e^(s-m)(s-m); then H = ln l - t / l. When the
// max moves from m to m', t' = e^(m-m')·(t + (m-m')·l). Masked keys are skipped, so they add
// exactly 0 to l, t and o. HEAD_DIM and KEY_TILE are generated constants (kernels.rs).

struct Params {
    n: u32,          // queries in this chunk
    start: u32,      // absolute position of query 0
    heads: u32,
    kv_heads: u32,
    capacity: u32,   // rows per KV head in the cache
    layer: u32,
    scale: f32,      // 1/sqrt(d) times any logit scale
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [n, heads, d]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<f32>>;  // [kv_heads, capacity, d]
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> mask: array<vec2<u32>>;     // [layer * heads + h] = (window, sinks)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // [n, heads, d]
@group(0) @binding(6) var<storage, read_write> entropy: array<f32>;  // [layers, heads, n]
@group(0) @binding(7) var<storage, read_write> lse: array<f32>;      // [layers, heads, n]

const QUADS: u32 = HEAD_DIM / 4u;
const NEG_BIG: f32 = -3.0e38;

var<workgroup> k_tile: array<array<vec4<f32>, QUADS>, KEY_TILE>;
var<workgroup> v_tile: array<array<vec4<f32>, QUADS>, KEY_TILE>;

var<private> qv: array<vec4<f32>, QUADS>;
var<private> acc: array<vec4<f32>, QUADS>;
var<private> m: f32;
var<private> l: f32;
var<private> t: f32;

fn load_tile(kv_head: u32, key0: u32, lid: u32) {
    let total = p.start + p.n;
    for (var e = lid; e < KEY_TILE * QUADS; e += 64u) {
        let row = e / QUADS;
        let quad = e % QUADS;
        let j = key0 + row;
        var kq = vec4<f32>(0.0);
        var vq = vec4<f32>(0.0);
        if (j < total) {
            let at = (kv_head * p.capacity + j) * QUADS + quad;
            kq = k_cache[at];
            vq = v_cache[at];
        }
        k_tile[row][quad] = kq;
        v_tile[row][quad] = vq;
    }
}

// Scores the loaded tile for query position i (keys key0..), keeping keys in [lo, hi] that
// `visible` allows, and folds them into (m, l, t, acc).
fn fold_tile(i: u32, in_range: bool, key0: u32, lo: u32, window: u32, sinks: u32, sink_pass: bool) {
    var s: array<f32, KEY_TILE>;
    var tile_max = NEG_BIG;
    for (var jj = 0u; jj < KEY_TILE; jj++) {
        let j = key0 + jj;
        var ok = in_range && j <= i;
        if (sink_pass) {
            ok = ok && j < sinks && j < lo;
        } else {
            ok = ok && j >= lo && (window == 0u || i - j < window || j < sinks);
        }
        s[jj] = NEG_BIG;
        if (ok) {
            var d = 0.0;
            for (var c = 0u; c < QUADS; c++) {
                d += dot(qv[c], k_tile[jj][c]);
            }
            s[jj] = d;
            tile_max = max(tile_max, d);
        }
    }
    if (tile_max <= NEG_BIG) {
        return;
    }
    let m_new = max(m, tile_max);
    if (l > 0.0) {
        let corr = exp(m - m_new);
        t = corr * (t + (m - m_new) * l);
        l *= corr;
        for (var c = 0u; c < QUADS; c++) {
            acc[c] *= corr;
        }
    }
    m = m_new;
    for (var jj = 0u; jj < KEY_TILE; jj++) {
        if (s[jj] > NEG_BIG) {
            let z = s[jj] - m;
            let e = exp(z);
            l += e;
            t += e * z;
            for (var c = 0u; c < QUADS; c++) {
                acc[c] += e * v_tile[jj][c];
            }
        }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let kv_head = h / (p.heads / p.kv_heads);
    let r0 = wg.x * 64u;                       // first query row of this workgroup
    let r = r0 + lid;
    let in_range = r < p.n;
    let i = p.start + r;                       // absolute position of this query
    let first = p.start + r0;
    let last = p.start + min(r0 + 64u, p.n) - 1u;
    let mp = mask[p.layer * p.heads + h];
    let window = mp.x;
    let sinks = mp.y;
    // Keys below `lo` are outside every query's window; only sinks can reach them.
    var lo = 0u;
    if (window != 0u && first + 1u > window) {
        lo = first + 1u - window;
    }

    m = NEG_BIG;
    l = 0.0;
    t = 0.0;
    for (var c = 0u; c < QUADS; c++) {
        acc[c] = vec4<f32>(0.0);
        qv[c] = vec4<f32>(0.0);
        if (in_range) {
            qv[c] = q[(r * p.heads + h) * QUADS + c] * p.scale;
        }
    }

    let sink_end = min(sinks, lo);
    for (var key0 = 0u; key0 < sink_end; key0 += KEY_TILE) {
        load_tile(kv_head, key0, lid);
        workgroupBarrier();
        fold_tile(i, in_range, key0, lo, window, sinks, true);
        workgroupBarrier();
    }
    for (var key0 = (lo / KEY_TILE) * KEY_TILE; key0 <= last; key0 += KEY_TILE) {
        load_tile(kv_head, key0, lid);
        workgroupBarrier();
        fold_tile(i, in_range, key0, lo, window, sinks, false);
        workgroupBarrier();
    }

    if (in_range) {
        let inv = 1.0 / l;
        for (var c = 0u; c < QUADS; c++) {
            out[(r * p.heads + h) * QUADS + c] = acc[c] * inv;
        }
        let at = (p.layer * p.heads + h) * p.n + r;
        entropy[at] = log(l) - t * inv;
        lse[at] = m + log(l);
    }
}
