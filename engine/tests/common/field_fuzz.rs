//! A structured GGUF fuzzer: it walks a valid tiny model's header, records every numeric field
//! (counts, lengths, value types, metadata values, dimensions, tensor types, offsets) and sets
//! them — one or several at a time — to boundary values (0, 1, 2^31−1, 2^32, 2^63, u64::MAX,
//! negatives for signed types, NaN and ±∞ for floats) or random bits. Every case must end in a
//! valid load or a one-line error: never a panic, never an abort, and never more memory than a
//! small multiple of the file.
//!
//! Why hand-written: coverage-guided fuzzers (cargo-fuzz) mutate bytes and rarely keep a GGUF
//! valid past its first field; mutating *fields* of a valid file reaches every later check. Used
//! by `engine/tests/gguf_fuzz.rs` (briefly) and `engine/benches/gguf_field_fuzz.rs` (millions).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::{Engine, ModelFile, TextTokenizer};

// ---------------------------------------------------------------- memory accounting

/// The system allocator, counting this thread's live bytes and their peak.
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes this thread allocated at its peak while `f` ran, beyond what was live before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    (out, (PEAK.with(Cell::get) - start).max(0) as usize)
}

// ---------------------------------------------------------------- fields

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Width {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    Bool,
}

impl Width {
    fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// The GGUF value type id's width, if scalar.
    fn of_type(t: u32) -> Option<Self> {
        Some(match t {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }
}

/// One numeric field of the header: where it is, how wide, and what it means.
#[derive(Debug, Clone)]
pub struct Field {
    pub offset: usize,
    pub width: Width,
    pub what: String,
}

struct Walker<'a> {
    b: &'a [u8],
    pos: usize,
    out: Vec<Field>,
}

impl Walker<'_> {
    fn field(&mut self, width: Width, what: String) -> u64 {
        let n = width.bytes();
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&self.b[self.pos..self.pos + n]);
        self.out.push(Field { offset: self.pos, width, what });
        self.pos += n;
        u64::from_le_bytes(v)
    }
    fn string(&mut self, what: &str) -> String {
        let len = self.field(Width::U64, format!("length of {what}")) as usize;
        let s = String::from_utf8_lossy(&self.b[self.pos..self.pos + len]).into_owned();
        self.pos += len;
        s
    }
    fn value(&mut self, t: u32, key: &str) {
        if let Some(w) = Width::of_type(t) {
            self.field(w, format!("value of {key}"));
            return;
        }
        match t {
            8 => {
                self.string(&format!("string {key}"));
            }
            9 => {
                let et = self.field(Width::U32, format!("element type of {key}")) as u32;
                let len = self.field(Width::U64, format!("length of array {key}")) as usize;
                for i in 0..len {
                    // Record the first few and the last element's fields; skip the rest.
                    let keep = i < 3 || i + 1 == len;
                    let before = self.out.len();
                    self.value(et, &format!("{key}[{i}]"));
                    if !keep {
                        self.out.truncate(before);
                    }
                }
            }
            other => panic!("the valid model has value type {other}"),
        }
    }
}

/// Every numeric field of a *valid* GGUF's header.
pub fn fields(bytes: &[u8]) -> Vec<Field> {
    let mut w = Walker { b: bytes, pos: 4, out: Vec::new() };
    w.field(Width::U32, "version".into());
    let tensors = w.field(Width::U64, "tensor count".into());
    let kvs = w.field(Width::U64, "metadata count".into());
    for _ in 0..kvs {
        let key = w.string("key");
        let t = w.field(Width::U32, format!("value type of {key}")) as u32;
        w.value(t, &key);
    }
    for _ in 0..tensors {
        let name = w.string("tensor name");
        let dims = w.field(Width::U32, format!("dimension count of {name}"));
        for d in 0..dims {
            w.field(Width::U64, format!("dimension {d} of {name}"));
        }
        w.field(Width::U32, format!("type of {name}"));
        w.field(Width::U64, format!("offset of {name}"));
    }
    w.out
}

/// Boundary values for a field of `width` (as little-endian bit patterns), plus the original
/// value nudged by one and doubled.
pub fn special_values(width: Width, original: u64) -> Vec<u64> {
    let mut v: Vec<u64> = match width {
        Width::U8 | Width::I8 | Width::Bool => vec![0, 1, 2, 0x7f, 0x80, 0xff],
        Width::U16 | Width::I16 => vec![0, 1, 2, 0x7fff, 0x8000, 0xffff],
        Width::U32 | Width::I32 => {
            vec![0, 1, 2, 3, 7, 8, 9, 12, 13, 31, 32, 33, (1 << 31) - 1, 1 << 31, u32::MAX as u64]
        }
        Width::U64 | Width::I64 => {
            vec![
                0,
                1,
                2,
                3,
                31,
                32,
                33,
                (1 << 31) - 1,
                1 << 31,
                (1 << 32) - 1,
                1 << 32,
                1 << 63,
                u64::MAX,
                u64::MAX - 1,
                i64::MAX as u64,
            ]
        }
        Width::F32 => [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.5,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            f32::MAX,
            1e-30,
        ]
        .iter()
        .map(|x| x.to_bits() as u64)
        .collect(),
        Width::F64 => {
            [0.0f64, -0.0, 1.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE]
                .iter()
                .map(|x| x.to_bits())
                .collect()
        }
    };
    if !matches!(width, Width::F32 | Width::F64) {
        v.extend([original.wrapping_add(1), original.wrapping_sub(1), original.wrapping_mul(2)]);
    }
    v
}

/// Writes the low bytes of `value` into the field.
pub fn set(bytes: &mut [u8], field: &Field, value: u64) {
    let n = field.width.bytes();
    bytes[field.offset..field.offset + n].copy_from_slice(&value.to_le_bytes()[..n]);
}

pub fn get(bytes: &[u8], field: &Field) -> u64 {
    let n = field.width.bytes();
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(&bytes[field.offset..field.offset + n]);
    u64::from_le_bytes(v)
}

// ---------------------------------------------------------------- the target

/// How one case ended.
#[derive(Debug)]
pub enum Outcome {
    /// Parsed, tokenizer built, planned, loaded on the CPU and ran.
    Ran,
    /// A clean error.
    Refused(String),
    /// A panic — a bug.
    Panicked(String),
}

/// Everything a user can do with a file in the CLI's `info` path and the app's loader: parse it,
/// build its tokenizer and plan, and — when `forward` — load it on the CPU and run two tokens.
fn target(bytes: Vec<u8>, forward: bool) -> Result<(), String> {
    let file = ModelFile::from_bytes(bytes).map_err(|e| e.to_string())?;
    serde_json::to_string(file.spec()).map_err(|e| e.to_string())?;
    let tokenizer = TextTokenizer::from_model(&file).map_err(|e| e.to_string())?;
    tokenizer.encode("Hello there").map_err(|e| e.to_string())?;
    Plan::new(&Experiment::default(), file.spec()).map_err(|e| e.to_string())?;
    if forward {
        let engine = Engine::cpu(&file).map_err(|e| e.to_string())?;
        let mut session = engine.session(4).map_err(|e| e.to_string())?;
        session.forward_blocking(&[1, 2], &[1]).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs one case; returns its outcome and peak bytes.
pub fn run_case(bytes: Vec<u8>, forward: bool) -> (Outcome, usize) {
    IN_CASE.with(|c| c.set(true));
    let result = peak_during(|| catch_unwind(AssertUnwindSafe(|| target(bytes, forward))));
    IN_CASE.with(|c| c.set(false));
    let (result, peak) = result;
    let outcome = match result {
        Ok(Ok(())) => Outcome::Ran,
        Ok(Err(msg)) => Outcome::Refused(msg),
        Err(p) => Outcome::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
    };
    (outcome, peak)
}

/// What a case must not do, or None.
pub fn violation(outcome: &Outcome, peak: usize, file_len: usize) -> Option<String> {
    match outcome {
        Outcome::Panicked(msg) => Some(format!("panicked: {msg}")),
        Outcome::Refused(msg) if msg.is_empty() || msg.contains('\n') => {
            Some(format!("error is not one line: {msg:?}"))
        }
        _ if peak > MEMORY_FACTOR * file_len + MEMORY_SLACK => {
            Some(format!("peak {peak} bytes for a {file_len}-byte file"))
        }
        _ => None,
    }
}

/// Peak memory bound: f32 weights are up to 8× a 4-bit file, plus the tokenizer's tables.
pub const MEMORY_FACTOR: usize = 32;
pub const MEMORY_SLACK: usize = 16 << 20;

/// Picks mutations: the engine's SplitMix64 with indices as `usize`.
pub struct Rng(pub ctxscope_engine::rng::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(ctxscope_engine::rng::SplitMix64(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
}

/// A random case: 1–3 fields set to boundary values or random bits, sometimes truncated; with a
/// description of the mutations.
pub fn random_case(valid: &[u8], fields: &[Field], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = valid.to_vec();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let f = &fields[rng.below(fields.len())];
        let value = if rng.below(4) == 0 {
            rng.next_u64()
        } else {
            let specials = special_values(f.width, get(valid, f));
            specials[rng.below(specials.len())]
        };
        set(&mut b, f, value);
        what.push(format!("{} = {value:#x}", f.what));
    }
    if rng.below(16) == 0 {
        let keep = rng.below(b.len());
        b.truncate(keep);
        what.push(format!("truncated to {keep} bytes"));
    }
    (b, what.join(", "))
}

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent inside [`run_case`] (panics there are recorded
/// as outcomes) and reports every other panic as usual.
pub fn silence_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Library backtraces (candle attaches one to every error when RUST_BACKTRACE is set)
        // cost ~100 MB of symbol tables on first use: not the file's doing. Panics keep theirs.
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CASE.with(Cell::get) {
                default(info);
            }
        }));
    });
}
