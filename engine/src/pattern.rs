//! Attention patterns: which keys each (layer, head) may see (docs/methods.md#attention-patterns). Every pattern resolves to
//! a [`HeadMask`] (window, sinks) per (layer, head), a logical mask evaluated inside the attention
//! kernels (invisible key tiles are skipped, never materialised).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The visible keys of one head: key j is visible to query i iff j ≤ i and (window = 0 or
/// i − j < window or j < sinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeadMask {
    /// Keys including the query itself; 0 = unlimited.
    pub window: u32,
    /// Leading keys always visible (attention sinks).
    pub sinks: u32,
}

impl HeadMask {
    pub const FULL: Self = Self { window: 0, sinks: 0 };

    pub fn visible(&self, i: usize, j: usize) -> bool {
        j <= i && (self.window == 0 || i - j < self.window as usize || j < self.sinks as usize)
    }
}

/// Where StreamingLLM rotates its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SinkPositions {
    /// Positions inside the rolling cache (the paper's `pos_shift`): a query sees its recent
    /// keys at their true distance and the sinks as if they sat just before the window.
    #[default]
    Cache,
    /// The tokens' original positions.
    Original,
}

/// The MSWA allocation (docs/methods.md#pattern-mswa): window(layer, head) = w · layer_factors[layer group] ·
/// head_factors[head group], with the layers (shallow to deep) and the heads split into as many
/// consecutive groups as there are factors (group = ⌊index · groups / count⌋, so counts that do
/// not divide evenly still work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MswaPreset {
    /// {w/4, w/2, w, 2w} for both heads and layers: the scheme the paper's text and summaries
    /// describe ("w/4 to 2w", ≈ 7/8 of SWA's budget: (15/16)²). We could not read the paper's §3
    /// itself; see `paper_factors`.
    Paper,
    /// AMD-AIG-AIMA/AMD_MSWA `finetune_llm/new_modify_llama.py`: heads {2w, w, w/2, w/2}, layers
    /// (shallow to deep) {w/2, w/2, w, 2w} — the official fine-tuning code, which averages 1·w.
    Code,
}

impl MswaPreset {
    /// (head factors, layer factors shallow → deep).
    pub fn factors(self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Self::Paper => (vec![0.25, 0.5, 1.0, 2.0], vec![0.25, 0.5, 1.0, 2.0]),
            Self::Code => (vec![2.0, 1.0, 0.5, 0.5], vec![0.5, 0.5, 1.0, 2.0]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "pattern", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AttentionPattern {
    /// Full causal attention.
    #[default]
    Full,
    /// Sliding window: the last `window` keys, the query included (flash-attn window_size =
    /// (window − 1, 0)).
    Window { window: u32 },
    /// StreamingLLM (Xiao et al. 2023, arXiv 2309.17453; mit-han-lab/streaming-llm): `sinks`
    /// initial tokens plus the last `window` keys.
    Sinks {
        sinks: u32,
        window: u32,
        #[serde(default)]
        positions: SinkPositions,
    },
    /// Multi-scale window attention (Xu et al. 2025, arXiv 2501.01039).
    Mswa {
        window: u32,
        #[serde(default = "paper_head_factors")]
        head_factors: Vec<f64>,
        #[serde(default = "paper_layer_factors")]
        layer_factors: Vec<f64>,
        #[serde(default)]
        sinks: u32,
    },
    /// An explicit window per (layer, head) (0 = full), plus sinks for every head.
    Custom {
        windows: Vec<Vec<u32>>,
        #[serde(default)]
        sinks: u32,
    },
}

fn paper_head_factors() -> Vec<f64> {
    MswaPreset::Paper.factors().0
}
fn paper_layer_factors() -> Vec<f64> {
    MswaPreset::Paper.factors().1
}

impl AttentionPattern {
    pub fn mswa(window: u32, preset: MswaPreset) -> Self {
        let (head_factors, layer_factors) = preset.factors();
        Self::Mswa { window, head_factors, layer_factors, sinks: 0 }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Window { .. } => "window",
            Self::Sinks { .. } => "sinks",
            Self::Mswa { .. } => "mswa",
            Self::Custom { .. } => "custom",
        }
    }

    /// One mask per (layer, head), layer-major; checks the pattern against the model's shape.
    pub fn masks(&self, layers: usize, heads: usize) -> Result<Vec<HeadMask>> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        let uniform = |m: HeadMask| Ok(vec![m; layers * heads]);
        match self {
            Self::Full => uniform(HeadMask::FULL),
            Self::Window { window: 0 } | Self::Sinks { window: 0, .. } | Self::Mswa { window: 0, .. } => {
                bad("an attention window must hold at least 1 key".into())
            }
            Self::Window { window } => uniform(HeadMask { window: *window, sinks: 0 }),
            Self::Sinks { sinks, window, .. } => uniform(HeadMask { window: *window, sinks: *sinks }),
            Self::Mswa { window, head_factors, layer_factors, sinks } => {
                for (name, f) in [("head_factors", head_factors), ("layer_factors", layer_factors)] {
                    if f.is_empty() || f.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                        return bad(format!("MSWA {name} must be a non-empty list of positive numbers"));
                    }
                }
                let group = |index: usize, count: usize, groups: usize| index * groups / count.max(1);
                let mut masks = Vec::with_capacity(layers * heads);
                for l in 0..layers {
                    let lf = layer_factors[group(l, layers, layer_factors.len())];
                    for h in 0..heads {
                        let hf = head_factors[group(h, heads, head_factors.len())];
                        let w = (*window as f64 * lf * hf).round().max(1.0) as u32;
                        masks.push(HeadMask { window: w, sinks: *sinks });
                    }
                }
                Ok(masks)
            }
            Self::Custom { windows, sinks } => {
                if windows.len() != layers || windows.iter().any(|w| w.len() != heads) {
                    return bad(format!("a custom pattern needs {layers} rows (layers) of {heads} windows (heads)"));
                }
                Ok(windows.iter().flatten().map(|&w| HeadMask { window: w, sinks: *sinks }).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_mswa_allocates_w_over_4_to_2w_and_seven_eighths_of_the_budget() {
        let w = 1024;
        let masks = AttentionPattern::mswa(w, MswaPreset::Paper).masks(8, 8).unwrap();
        // Shallowest layers, first heads: w/16; deepest layers, last heads: 4w.
        assert_eq!(masks[0].window, w / 16);
        assert_eq!(masks[63].window, 4 * w);
        let mean = masks.iter().map(|m| m.window as f64).sum::<f64>() / 64.0;
        assert!((mean / w as f64 - (15.0f64 / 16.0).powi(2)).abs() < 1e-9, "mean {mean}");
        // Within a layer the head windows are {w/4, w/2, w, 2w} times the layer's factor.
        let layer7: Vec<u32> = masks[56..64].iter().map(|m| m.window).collect();
        assert_eq!(layer7, [512, 512, 1024, 1024, 2048, 2048, 4096, 4096]);
    }

    #[test]
    fn code_mswa_averages_w_and_uneven_counts_still_group() {
        let masks = AttentionPattern::mswa(512, MswaPreset::Code).masks(4, 4).unwrap();
        let mean = masks.iter().map(|m| m.window as f64).sum::<f64>() / 16.0;
        assert_eq!(mean, 512.0);
        // 30 layers × 9 heads (the default model): every group used, windows within w/16 … 4w.
        let masks = AttentionPattern::mswa(1000, MswaPreset::Paper).masks(30, 9).unwrap();
        let windows: std::collections::BTreeSet<u32> = masks.iter().map(|m| m.window).collect();
        assert_eq!(windows.first(), Some(&63));
        assert_eq!(windows.last(), Some(&4000));
    }

    #[test]
    fn bad_patterns_are_rejected_with_reasons() {
        assert!(AttentionPattern::Window { window: 0 }.masks(2, 2).is_err());
        let custom = AttentionPattern::Custom { windows: vec![vec![1, 2]], sinks: 0 };
        assert!(custom.masks(2, 2).unwrap_err().to_string().contains("2 rows"));
        let p: AttentionPattern = serde_json::from_str(r#"{"pattern":"sinks","sinks":4,"window":2000}"#).unwrap();
        assert_eq!(p, AttentionPattern::Sinks { sinks: 4, window: 2000, positions: SinkPositions::Cache });
    }
}
