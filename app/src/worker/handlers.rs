//! One handler per request: each runs through the engine's one API ([`Engine`], [`Session`], the
//! scoring, generation and sweep functions the CLI uses) and reports through `send`.

use std::sync::Arc;

use ctxscope_engine::backend::{Backend, BackendChoice, Interrupt};
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::generate::{generate_ids, GreedyDecoder};
use ctxscope_engine::gpu::GpuContext;
use ctxscope_engine::probes::sweep::{run_sweep, sha256_hex, ModelIdentity, SweepConfig, SweepResults};
use ctxscope_engine::rope::precision::{deviation_probe, ProbeConfig};
use ctxscope_engine::rope::RopeTable;
use ctxscope_engine::score::score;
use ctxscope_engine::{Engine, Error, ModelFile, TextTokenizer};

use super::{load, now_ms};
use crate::protocol::{EventBody, ModelInfo, Piece, RequestBody, Segment, Source, Stage};

type Send<'a> = &'a dyn Fn(EventBody);

/// The worker's model, with the engine of each backend once it has been needed (the CPU
/// weights are dequantized once per model, the GPU weights uploaded once).
pub struct Model {
    file: ModelFile,
    tokenizer: TextTokenizer,
    info: ModelInfo,
    cpu: Option<Engine>,
    gpu: Option<Engine>,
}

#[derive(Default)]
pub struct State {
    model: Option<Model>,
}

/// An `Error` event for `e`.
pub fn error_body(e: &Error, partial: Option<SweepResults>) -> EventBody {
    EventBody::Error { code: e.code().into(), message: e.to_string(), remedy: e.remedy(), partial }
}

/// Gives the worker's event loop a turn (lets progress events out before a long synchronous step).
async fn breathe() {
    gloo_timers::future::TimeoutFuture::new(0).await;
}

pub async fn handle(state: &mut State, body: RequestBody, interrupt: &Interrupt, send: Send<'_>) {
    let result = match body {
        RequestBody::Load { source, backend } => load_model(state, source, backend, send).await,
        RequestBody::Cancel { .. } => Ok(()),
        other => match state.model.as_mut() {
            None => Err(Error::InvalidInput("no model is loaded yet".into())),
            Some(model) => run(model, other, interrupt, send).await,
        },
    };
    if let Err(e) = result {
        send(error_body(&e, None));
    }
}

async fn run(model: &mut Model, body: RequestBody, interrupt: &Interrupt, send: Send<'_>) -> Result<(), Error> {
    let result = match body {
        RequestBody::Tokenize { text } => {
            let ids = model.tokenizer.encode(&text)?;
            send(EventBody::Tokenized { pieces: pieces(&model.tokenizer, &ids) });
            Ok(())
        }
        RequestBody::RopeTable { experiment, seq_len } => {
            let plan = Plan::new(&experiment, model.file.spec())?;
            send(EventBody::RopeTable { table: RopeTable::new(&plan, seq_len) });
            Ok(())
        }
        RequestBody::PrecisionProbe { experiment, config } => precision_probe(model, &experiment, config, send),
        RequestBody::Score { backend, experiment, prompt, continuation, entropy, attention_row } => {
            let b = prepare(model, backend, &experiment, send).await?;
            score_request(model, b, prompt, continuation, entropy, attention_row, interrupt, send).await
        }
        RequestBody::Generate { backend, experiment, prompt, max_tokens } => {
            let b = prepare(model, backend, &experiment, send).await?;
            generate_request(model, b, prompt, max_tokens, interrupt, send).await
        }
        RequestBody::AttentionRow { backend, experiment, text, layer, head, position } => {
            let b = prepare(model, backend, &experiment, send).await?;
            row_request(model, b, text, layer, head, position, interrupt, send).await
        }
        RequestBody::Sweep { backend, config, resume } => sweep_request(model, backend, config, resume, interrupt, send).await,
        RequestBody::Case { task, haystack, length, depth, seed, experiment, backend, generate } => {
            let case = task.build(&haystack, &model.tokenizer, length, depth, seed)?;
            let mut segments = Vec::new();
            let mut at = 0;
            for &(start, end) in &case.needle_spans {
                if start > at {
                    segments.push(Segment { text: model.tokenizer.decode(&case.ids[at..start])?, needle: false });
                }
                segments.push(Segment { text: model.tokenizer.decode(&case.ids[start..end])?, needle: true });
                at = end;
            }
            segments.push(Segment { text: model.tokenizer.decode(&case.ids[at..])?, needle: false });
            let generated = match generate {
                None => None,
                Some(max_tokens) => {
                    let b = prepare(model, backend, &experiment, send).await?;
                    let (tokenizer, engine) = split(model, b);
                    let mut session = engine.session(case.ids.len() + max_tokens)?;
                    session.set_interrupt(interrupt.clone());
                    Some(generate_ids(&mut session, tokenizer, &case.ids, max_tokens, &mut |_| {}).await?.text)
                }
            };
            send(EventBody::Case { segments, tokens: case.ids.len(), target: case.target, answers: case.answers, generated });
            Ok(())
        }
        RequestBody::Load { .. } | RequestBody::Cancel { .. } => Ok(()),
    };
    // A lost device is gone for good: the next GPU request starts a fresh one.
    if matches!(result, Err(Error::DeviceLost(_))) {
        model.gpu = None;
    }
    result
}

/// The backend a request runs on, its engine created if needed, with the request's experiment.
async fn prepare(model: &mut Model, backend: Option<Backend>, experiment: &Experiment, send: Send<'_>) -> Result<Backend, Error> {
    let backend = backend.unwrap_or(model.info.backend);
    ensure_engine(model, backend, send).await?;
    engine_mut(model, backend).set_experiment(experiment)?;
    Ok(backend)
}

async fn ensure_engine(model: &mut Model, backend: Backend, send: Send<'_>) -> Result<(), Error> {
    match backend {
        Backend::Cpu if model.cpu.is_none() => {
            send(EventBody::Progress { stage: Stage::CpuWeights, done: 0, total: None });
            breathe().await;
            model.cpu = Some(Engine::cpu(&model.file)?);
        }
        Backend::Gpu if model.gpu.is_none() => {
            send(EventBody::Progress { stage: Stage::GpuUpload, done: 0, total: None });
            let ctx = GpuContext::new().await?;
            model.gpu = Some(Engine::gpu(Arc::new(ctx), &model.file)?);
        }
        _ => {}
    }
    Ok(())
}

fn engine_mut(model: &mut Model, backend: Backend) -> &mut Engine {
    split(model, backend).1
}

/// The tokenizer and the backend's engine, borrowed together.
fn split(model: &mut Model, backend: Backend) -> (&TextTokenizer, &mut Engine) {
    let Model { tokenizer, cpu, gpu, .. } = model;
    let engine = match backend {
        Backend::Cpu => cpu.as_mut(),
        Backend::Gpu => gpu.as_mut(),
    };
    (tokenizer, engine.expect("ensure_engine created it"))
}

fn pieces(tokenizer: &TextTokenizer, ids: &[u32]) -> Vec<Piece> {
    ids.iter()
        .map(|&id| {
            let text = tokenizer.piece(id);
            let bytes = text.contains('\u{FFFD}').then(|| tokenizer.token_bytes(id)).flatten();
            Piece { id, text, bytes }
        })
        .collect()
}

async fn load_model(state: &mut State, source: Source, choice: BackendChoice, send: Send<'_>) -> Result<(), Error> {
    let fail = |message: String, remedy: &str| EventBody::Error { code: "load-failed".into(), message, remedy: remedy.into(), partial: None };
    let (bytes, label, from_cache) = match source {
        Source::Url { url } => match load::cached(&url).await {
            Some(bytes) => (bytes, url, true),
            None => {
                let downloaded = load::download(&url, |done, total| send(EventBody::Progress { stage: Stage::Download, done, total })).await;
                match downloaded {
                    Ok(bytes) => {
                        // Cache only what parses (below); a failure to cache costs a re-download.
                        (bytes, url, false)
                    }
                    Err(message) => {
                        send(fail(message, "Check the URL (the server must allow this page to fetch it), or load a local file."));
                        return Ok(());
                    }
                }
            }
        },
        Source::File { file } => {
            send(EventBody::Progress { stage: Stage::ReadFile, done: 0, total: Some(file.size() as u64) });
            match load::read_file(&file).await {
                Ok(bytes) => (bytes, format!("local file {}", file.name()), false),
                Err(message) => {
                    send(fail(message, "Pick the file again."));
                    return Ok(());
                }
            }
        }
    };
    send(EventBody::Progress { stage: Stage::Parse, done: 0, total: None });
    breathe().await;
    let file = ModelFile::from_bytes(bytes)?;
    let tokenizer = TextTokenizer::from_model(&file)?;
    send(EventBody::Progress { stage: Stage::Hash, done: 0, total: None });
    breathe().await;
    let sha256 = sha256_hex(file.bytes());
    if !from_cache && !label.starts_with("local file") {
        if let Err(e) = load::store(&label, file.bytes()).await {
            web_sys::console::warn_1(&format!("the model was not cached: {e}").into());
        }
    }
    send(EventBody::Progress { stage: if choice == BackendChoice::Cpu { Stage::CpuWeights } else { Stage::GpuUpload }, done: 0, total: None });
    breathe().await;
    let loaded = Engine::load(&file, choice).await?;
    let engine = loaded.engine;
    let info = ModelInfo {
        spec: file.spec().clone(),
        source: label,
        from_cache,
        sha256,
        backend: engine.backend(),
        backend_note: loaded.note,
        device: engine.device_label(),
        max_context: engine.max_context(),
        chat_template: TextTokenizer::chat_template(&file),
    };
    let (cpu, gpu) = match engine.backend() {
        Backend::Cpu => (Some(engine), None),
        Backend::Gpu => (None, Some(engine)),
    };
    // Only now does the new model replace the old one.
    state.model = Some(Model { file, tokenizer, info: info.clone(), cpu, gpu });
    send(EventBody::Loaded { model: info });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn score_request(
    model: &mut Model,
    backend: Backend,
    prompt: String,
    continuation: String,
    entropy: bool,
    attention_row: Option<(usize, usize, usize)>,
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    let (tokenizer, engine) = split(model, backend);
    let total = tokenizer.encode_prompt(&prompt)?.len() + tokenizer.encode(&continuation)?.len();
    let mut session = engine.session(total.max(1))?;
    session.set_interrupt(interrupt.clone());
    if entropy {
        session.record_entropy();
    }
    if let Some((layer, head, position)) = attention_row {
        session.capture_attention_row(layer, head, position)?;
    }
    send(EventBody::Progress { stage: Stage::Prefill, done: 0, total: Some(total as u64) });
    let t0 = now_ms();
    let output = score(&mut session, tokenizer, &prompt, &continuation).await?;
    let seconds = (now_ms() - t0) / 1000.0;
    send(EventBody::Scored { backend, output, entropy: session.entropy().cloned(), row: session.attention_row(), seconds });
    Ok(())
}

async fn generate_request(model: &mut Model, backend: Backend, prompt: String, max_tokens: usize, interrupt: &Interrupt, send: Send<'_>) -> Result<(), Error> {
    let (tokenizer, engine) = split(model, backend);
    let (mut decoder, prompt_ids) = GreedyDecoder::new(tokenizer, &prompt, max_tokens)?;
    let mut session = engine.session(prompt_ids.len() + max_tokens)?;
    session.set_interrupt(interrupt.clone());
    send(EventBody::Progress { stage: Stage::Prefill, done: 0, total: Some(prompt_ids.len() as u64) });
    let t0 = now_ms();
    let mut logits = session.forward(&prompt_ids, &[prompt_ids.len() - 1]).await?.remove(0);
    let prefill_s = ((now_ms() - t0) / 1000.0).max(1e-9);
    let t1 = now_ms();
    let mut index = 0;
    loop {
        let mut piece = String::new();
        let next = decoder.step(&logits, &mut |t| piece.push_str(t))?;
        if let Some(&id) = decoder.generated().last().filter(|_| decoder.generated().len() > index) {
            index += 1;
            let rate = index as f64 / ((now_ms() - t1) / 1000.0).max(1e-9);
            send(EventBody::Token { id, text: piece, index, tokens_per_s: rate });
        }
        let Some(next) = next else { break };
        logits = session.forward(&[next], &[0]).await?.remove(0);
    }
    let decode_s = ((now_ms() - t1) / 1000.0).max(1e-9);
    let generation = decoder.finish();
    let decoded = generation.ids.len() as f64;
    send(EventBody::Generated {
        backend,
        prefill_tokens_per_s: prompt_ids.len() as f64 / prefill_s,
        decode_tokens_per_s: decoded / decode_s,
        generation,
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn row_request(
    model: &mut Model,
    backend: Backend,
    text: String,
    layer: usize,
    head: usize,
    position: usize,
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    let (tokenizer, engine) = split(model, backend);
    let ids = tokenizer.encode_prompt(&text)?;
    if position >= ids.len() {
        return Err(Error::InvalidInput(format!("query position {position} is beyond the text's {} tokens", ids.len())));
    }
    let mut session = engine.session(ids.len())?;
    session.set_interrupt(interrupt.clone());
    session.capture_attention_row(layer, head, position)?;
    session.forward(&ids[..=position], &[]).await?;
    let row = session.attention_row().expect("requested above");
    send(EventBody::Row { backend, row, pieces: pieces(tokenizer, &ids[..=position]) });
    Ok(())
}

fn precision_probe(model: &Model, experiment: &Experiment, config: ProbeConfig, send: Send<'_>) -> Result<(), Error> {
    if config.deltas.is_empty() || config.starts.is_empty() || config.samples == 0 || config.samples > 100_000 {
        return Err(Error::InvalidInput("the precision probe needs deltas, starts and 1 … 100 000 samples".into()));
    }
    let plan = Plan::new(experiment, model.file.spec())?;
    let seq_len = config.starts.iter().max().unwrap_or(&0) + config.deltas.iter().max().unwrap_or(&0) + 1;
    let freqs = plan.regions(seq_len).remove(0).freqs;
    send(EventBody::PrecisionProbe { result: deviation_probe(&freqs, &config) });
    Ok(())
}

async fn sweep_request(
    model: &mut Model,
    backend: Option<Backend>,
    config: SweepConfig,
    resume: Option<SweepResults>,
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    let backend = backend.unwrap_or(model.info.backend);
    ensure_engine(model, backend, send).await?;
    let spec = model.file.spec();
    let identity = ModelIdentity { name: spec.name.clone(), sha256: model.info.sha256.clone(), file_bytes: spec.file_size, trained_ctx: spec.context_length };
    let (tokenizer, engine) = split(model, backend);
    let t0 = now_ms();
    let clock = move || (now_ms() - t0) / 1000.0;
    let outcome = run_sweep(&config, engine, tokenizer, identity, resume, interrupt, &clock, &mut |progress, results| {
        if let Some(cell) = results.cells.last() {
            send(EventBody::Cell { cell: cell.clone(), progress: progress.clone() });
        }
    })
    .await;
    match outcome {
        Ok(results) => send(EventBody::SweepDone { results }),
        Err(stopped) => {
            if matches!(stopped.error, Error::DeviceLost(_)) {
                model.gpu = None;
            }
            send(error_body(&stopped.error, stopped.partial));
        }
    }
    Ok(())
}
