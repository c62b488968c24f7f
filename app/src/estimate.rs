//! How long a sweep will take on this adapter, before it runs: two timed forward passes fitted
//! to t(n) = a·n + b·n² (the matmuls grow linearly with the prompt, attention quadratically).

use ctxscope_engine::backend::Backend;
use ctxscope_engine::probes::sweep::SweepConfig;

/// Seconds a forward pass of n tokens takes here: t(n) = linear·n + quadratic·n², fitted to
/// two timed runs (attention's cost grows as n²).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    pub linear: f64,
    pub quadratic: f64,
    pub backend: Backend,
}

impl Calibration {
    /// The two lengths timed.
    pub const LENGTHS: [usize; 2] = [128, 512];

    /// From (n, seconds) at the two lengths; the quadratic term is kept ≥ 0 (timer noise).
    pub fn fit(a: (usize, f64), b: (usize, f64), backend: Backend) -> Self {
        let (n1, t1, n2, t2) = (a.0 as f64, a.1, b.0 as f64, b.1);
        // Solve t = c1 n + c2 n² through both points.
        let quadratic = ((t2 / n2 - t1 / n1) / (n2 - n1)).max(0.0);
        let linear = (t1 / n1 - quadratic * n1).max(1e-9);
        Self { linear, quadratic, backend }
    }

    /// Seconds for every cell of `config` (prompt plus a few answer tokens each).
    pub fn estimate(&self, config: &SweepConfig) -> f64 {
        config.cells().iter().map(|k| self.seconds(k.length + 16)).sum()
    }

    fn seconds(&self, n: usize) -> f64 {
        let n = n as f64;
        self.linear * n + self.quadratic * n * n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_quadratic_and_sums_the_cells() {
        let t = |n: usize| 2e-3 * n as f64 + 5e-7 * (n * n) as f64;
        let c = Calibration::fit((128, t(128)), (512, t(512)), Backend::Cpu);
        assert!((c.linear - 2e-3).abs() < 1e-12 && (c.quadratic - 5e-7).abs() < 1e-15, "{c:?}");
        let config = SweepConfig::from_json(
            r#"{"version": 1, "name": "e", "tasks": [{"name": "p", "task": {"task": "passkey"}}], "lengths": [1000, 4000], "seeds": 2}"#,
        )
        .unwrap();
        let expected = 2.0 * (t(1016) + t(4016));
        assert!((c.estimate(&config) - expected).abs() < 1e-9);
        // Timer noise that would make the quadratic term negative is clamped to zero.
        let noisy = Calibration::fit((128, 1.0), (512, 1.0), Backend::Gpu);
        assert_eq!(noisy.quadratic, 0.0);
        assert!(noisy.linear > 0.0);
    }
}
