//! Joins the results documents of a sweep's shards (docs/sharding.md) into the document an
//! unsharded run of the same config writes: the same cells in the same order, so the same
//! summaries and `result_hash`.

use std::collections::HashMap;

use super::sweep::{finish, CellKey, SweepResults, RESULTS_SCHEMA, RESULTS_VERSION};
use crate::error::{Error, Result};

/// A merged document and the grid cells no input held.
#[derive(Debug)]
pub struct Merged {
    /// `complete` is false when `missing` is not empty; `shard` is None.
    pub results: SweepResults,
    /// (index in [`super::sweep::SweepConfig::cells`], key) of every cell no input held.
    pub missing: Vec<(usize, CellKey)>,
}

/// Merges `inputs` (a label for messages, usually the file name, and its document). Refuses,
/// naming the inputs: documents of another schema, differing configs, models, engine versions or
/// backends, a cell outside the grid or outside its document's shard, and a cell held twice.
/// Missing cells are not an error here: the caller decides (see [`Merged::missing`]).
pub fn merge(inputs: &[(String, SweepResults)]) -> Result<Merged> {
    let bad = |m: String| Err(Error::InvalidInput(m));
    let Some((first_label, first)) = inputs.first() else {
        return bad("nothing to merge".into());
    };
    for (label, r) in inputs {
        if r.schema != RESULTS_SCHEMA || r.version != RESULTS_VERSION {
            return bad(format!(
                "{label} is {} version {}; this build merges {RESULTS_SCHEMA} version {RESULTS_VERSION}",
                r.schema, r.version
            ));
        }
        if r.config != first.config {
            return bad(format!(
                "{label} and {first_label} were run with different sweep configs{}; merge shards of one config",
                config_difference(&r.config, &first.config)
            ));
        }
        if r.model.sha256 != first.model.sha256 {
            return bad(format!(
                "{label} was run on another model file (sha256 {}) than {first_label} ({})",
                r.model.sha256, first.model.sha256
            ));
        }
        if r.model != first.model {
            return bad(format!("{label} and {first_label} describe the same model file differently"));
        }
        if r.engine_version != first.engine_version {
            return bad(format!(
                "{label} was written by ctxscope engine {}, {first_label} by {}; rerun the shards with one version",
                r.engine_version, first.engine_version
            ));
        }
        if r.backend != first.backend {
            // Backends agree to within rounding, not bit for bit, so a mixed document would
            // have a hash that neither backend reproduces.
            return bad(format!(
                "{label} ran on the {} backend, {first_label} on the {}; rerun the shards on one backend",
                r.backend, first.backend
            ));
        }
        if let Some(s) = r.shard {
            s.validate().map_err(|e| Error::InvalidInput(format!("{label}: {e}")))?;
        }
    }
    first.config.validate().map_err(|e| Error::InvalidInput(format!("{first_label}: {e}")))?;

    let grid = first.config.cells();
    // Slots by key without the depth (an f64), then a scan over the few depths: a depth that
    // went through JSON may differ from the config's computed one in the last bit.
    let mut slots: HashMap<(&str, &str, usize, u64), Vec<usize>> = HashMap::new();
    for (i, k) in grid.iter().enumerate() {
        slots.entry((k.experiment.as_str(), k.task.as_str(), k.length, k.seed)).or_default().push(i);
    }
    let mut filled: Vec<Option<(usize, usize)>> = vec![None; grid.len()];
    for (doc, (label, r)) in inputs.iter().enumerate() {
        for (c, cell) in r.cells.iter().enumerate() {
            let k = &cell.key;
            let same_key: Vec<usize> = slots
                .get(&(k.experiment.as_str(), k.task.as_str(), k.length, k.seed))
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| (grid[i].depth - k.depth).abs() <= 1e-12)
                .collect();
            if same_key.is_empty() {
                return bad(format!("{label}: cell {} is not in the sweep's grid", describe(k)));
            }
            let candidates: Vec<usize> =
                same_key.into_iter().filter(|&i| r.shard.is_none_or(|s| s.contains(i))).collect();
            if let (Some(shard), true) = (r.shard, candidates.is_empty()) {
                return bad(format!("{label}: cell {} is not in its shard {shard}", describe(k)));
            }
            match candidates.iter().find(|&&i| filled[i].is_none()) {
                Some(&i) => filled[i] = Some((doc, c)),
                None => {
                    let (other, _) = filled[candidates[0]].expect("every candidate is filled");
                    let other = &inputs[other].0;
                    return bad(if other == label {
                        format!("cell {} is in {label} twice", describe(k))
                    } else {
                        format!(
                            "cell {} is in both {other} and {label}; each cell must come from one file (a shard given twice?)",
                            describe(k)
                        )
                    });
                }
            }
        }
    }

    let mut missing = Vec::new();
    let mut cells = Vec::with_capacity(grid.len());
    for (i, (slot, key)) in filled.iter().zip(grid).enumerate() {
        match slot {
            Some((doc, c)) => {
                let mut cell = inputs[*doc].1.cells[*c].clone();
                // The config's own value, as an unsharded run records it.
                cell.key = key;
                cells.push(cell);
            }
            None => missing.push((i, key)),
        }
    }
    let total = filled.len();
    let mut results = SweepResults {
        schema: RESULTS_SCHEMA.into(),
        version: RESULTS_VERSION,
        config: first.config.clone(),
        model: first.model.clone(),
        backend: first.backend.clone(),
        engine_version: first.engine_version.clone(),
        complete: false,
        shard: None,
        cells,
        summaries: Vec::new(),
        result_hash: String::new(),
    };
    finish(&mut results, total);
    Ok(Merged { results, missing })
}

/// "experiment/task L=… depth=… seed=…", for messages.
pub fn describe(k: &CellKey) -> String {
    format!("{}/{} L={} depth={} seed={}", k.experiment, k.task, k.length, k.depth, k.seed)
}

/// " (they differ in `lengths`)": the first top-level config field that differs.
fn config_difference(a: &super::sweep::SweepConfig, b: &super::sweep::SweepConfig) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return String::new();
    };
    a.iter().find(|(k, v)| b.get(*k) != Some(*v)).map_or(String::new(), |(k, _)| format!(" (they differ in `{k}`)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::scoring::CaseScore;
    use crate::probes::sweep::{result_hash, Cell, ModelIdentity, Shard, SweepConfig};

    fn config() -> SweepConfig {
        SweepConfig::from_json(
            r#"{"version": 1, "name": "t", "tasks": [{"name": "passkey", "task": {"task": "passkey"}}],
                "lengths": [100, 200], "depths": {"spacing": "linear", "count": 3}, "seeds": 2}"#,
        )
        .unwrap()
    }

    /// A document holding `shard` of the grid, with made-up scores that depend on the cell.
    fn doc(shard: Option<Shard>) -> SweepResults {
        let config = config();
        let cells: Vec<Cell> = config
            .shard_cells(shard)
            .into_iter()
            .map(|key| {
                // Quarters: exact in binary and in JSON.
                let score = ((key.length / 100) as f64 + key.depth * 2.0 + key.seed as f64) % 4.0 / 4.0;
                let outcome: CaseScore = serde_json::from_value(serde_json::json!({
                    "correct": score > 0.5, "score": score, "logprob": null, "answer_rank": 0, "generated": null
                }))
                .unwrap();
                Cell { key, needle_depth: 0.5, outcome, entropy: None, seconds: 0.1 }
            })
            .collect();
        let mut r = SweepResults {
            schema: RESULTS_SCHEMA.into(),
            version: RESULTS_VERSION,
            config: config.clone(),
            model: ModelIdentity { name: None, sha256: "ab".into(), file_bytes: 1, trained_ctx: 8192 },
            backend: "cpu".into(),
            engine_version: "0.1.0".into(),
            complete: false,
            shard,
            cells,
            summaries: Vec::new(),
            result_hash: String::new(),
        };
        let total = config.shard_cells(shard).len();
        finish(&mut r, total);
        r
    }

    /// Through JSON, as files are.
    fn reread(r: &SweepResults) -> SweepResults {
        serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap()
    }

    fn shards(n: usize) -> Vec<(String, SweepResults)> {
        (0..n).rev().map(|i| (format!("s{i}.json"), reread(&doc(Some(Shard::new(i, n).unwrap()))))).collect()
    }

    #[test]
    fn shards_merge_into_the_unsharded_document() {
        let whole = doc(None);
        for n in [1, 2, 3, 5, 12, 13] {
            let merged = merge(&shards(n)).unwrap();
            assert!(merged.missing.is_empty());
            let r = merged.results;
            assert_eq!(r.cells, whole.cells, "{n} shards");
            assert_eq!(r.result_hash, whole.result_hash);
            assert_eq!(r.summaries, whole.summaries);
            assert!(r.complete && r.shard.is_none());
            assert_eq!(serde_json::to_string(&r).unwrap(), serde_json::to_string(&whole).unwrap());
        }
    }

    #[test]
    fn shards_partition_the_grid() {
        let all = config().cells();
        for n in 1..=13 {
            let mut seen: Vec<CellKey> =
                (0..n).flat_map(|i| config().shard_cells(Some(Shard::new(i, n).unwrap()))).collect();
            assert_eq!(seen.len(), all.len());
            seen.sort_by_key(describe);
            let mut sorted = all.clone();
            sorted.sort_by_key(describe);
            assert_eq!(seen, sorted);
        }
        assert_eq!("1/3".parse::<Shard>().unwrap(), Shard { index: 1, count: 3 });
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mismatches_are_refused_by_name() {
        let check = |inputs: Vec<(String, SweepResults)>, want: &str| {
            let e = merge(&inputs).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        let mut s = shards(2);
        s[1].1.config.lengths = vec![100, 300];
        check(s, "s0.json and s1.json were run with different sweep configs (they differ in `lengths`)");
        let mut s = shards(2);
        s[1].1.model.sha256 = "cd".into();
        check(s, "s0.json was run on another model file (sha256 cd) than s1.json (ab)");
        let mut s = shards(2);
        s[1].1.engine_version = "0.2.0".into();
        check(s, "s0.json was written by ctxscope engine 0.2.0, s1.json by 0.1.0");
        let mut s = shards(2);
        s[1].1.backend = "gpu".into();
        check(s, "s0.json ran on the gpu backend, s1.json on the cpu");
        let mut s = shards(2);
        s.push(s[0].clone());
        check(s, "cell default/passkey L=100 depth=0 seed=1 is in s1.json twice");
        let mut s = shards(2);
        s.push(("copy.json".into(), s[1].1.clone()));
        check(s, "cell default/passkey L=100 depth=0 seed=0 is in both s0.json and copy.json");
        let mut s = shards(2);
        s[0].1.cells[0].key.length = 150;
        check(s, "s1.json: cell default/passkey L=150 depth=0 seed=1 is not in the sweep's grid");
        let mut s = shards(2);
        let stray = s[0].1.cells[0].clone();
        s[1].1.cells.push(stray);
        check(s, "s0.json: cell default/passkey L=100 depth=0 seed=1 is not in its shard 0/2");
        check(vec![], "nothing to merge");
    }

    #[test]
    fn missing_cells_are_reported() {
        let mut s = shards(3);
        s.remove(1); // shard 1/3
        s[0].1.cells.pop(); // and the last cell of shard 2/3
        let merged = merge(&s).unwrap();
        let grid = config().cells();
        assert_eq!(merged.missing.len(), grid.len() / 3 + 1);
        assert!(merged.missing.iter().all(|(i, k)| grid[*i] == *k));
        assert!(!merged.results.complete);
        assert_eq!(merged.results.result_hash, result_hash(&merged.results.cells));
    }
}
