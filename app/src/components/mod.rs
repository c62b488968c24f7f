//! One component per file; each takes the signals it reads or writes as props.

pub mod generate_panel;
pub mod gpu_panel;
pub mod model_info;
pub mod model_loader;
pub mod tokenizer_view;

/// "98.4 MB": byte counts as people read them.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
