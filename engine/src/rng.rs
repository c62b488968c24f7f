//! Seeded randomness for probes and task generators.

/// A deterministic, dependency-free generator (SplitMix64, with Box–Muller normals): probes and
/// task generators must give byte-identical output natively and in wasm for a given seed, across
/// library upgrades — a 15-line generator we own guarantees that where `rand`'s value streams
/// may change between versions.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1), from the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

impl SplitMix64 {
    /// Uniform integer in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [-1, 1), from the top 24 bits (test data for kernels and fuzzers).
    pub fn signed_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// A uniformly chosen element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An independent generator for a sub-stream keyed by `key` (e.g. a cell of a sweep).
    pub fn derive(seed: u64, key: &str) -> Self {
        let mut h = seed ^ 0xD6E8_FEB8_6659_FD93;
        for b in key.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
        }
        let mut r = Self(h);
        r.next_u64();
        r
    }
}
