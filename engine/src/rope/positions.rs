//! Position maps: where a query or key is rotated, as a function of its token index. The
//! relative position a logit sees is query map(i) − key map(j) (docs/methods.md#key-regions-and-the-merge), so every
//! position-remapping method (STRING, Self-Extend, ReRoPE, StreamingLLM's cache positions) is a
//! pair of these per key region.

/// Rotation position as a function of the token's index p.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionMap {
    /// p.
    Identity,
    /// p + c, never below 0 (a negative result only arises for queries with no key in the
    /// region that uses it).
    Offset(f64),
    /// ⌊p / size⌋ + offset (Self-Extend's grouped positions).
    Group { size: f64, offset: f64 },
    /// c for every token (ReRoPE's far region: queries at w, keys unrotated).
    Constant(f64),
    /// min(p, c) (StreamingLLM: a query's index inside a cache of c + 1 entries).
    ClampMax(f64),
}

impl PositionMap {
    pub fn at(&self, p: usize) -> f64 {
        let p = p as f64;
        match *self {
            Self::Identity => p,
            Self::Offset(c) => (p + c).max(0.0),
            Self::Group { size, offset } => (p / size).floor() + offset,
            Self::Constant(c) => c,
            Self::ClampMax(c) => p.min(c),
        }
    }
}
