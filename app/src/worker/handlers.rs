//! One handler per request: each runs through the engine's one API ([`Engine`], [`Session`], the
//! scoring, generation and sweep functions the CLI uses) and reports through `send`.

use std::sync::Arc;

use ctxscope_engine::backend::{Backend, BackendChoice, Interrupt, Session};
use ctxscope_engine::chat::{ChatMessage, ChatTemplate};
use ctxscope_engine::experiment::{Experiment, Plan};
use ctxscope_engine::generate::{generate_ids, GreedyDecoder};
use ctxscope_engine::gpu::GpuContext;
use ctxscope_engine::probes::entropy_scan::{entropy_scan, EntropyScanConfig};
use ctxscope_engine::probes::sweep::{run_sweep, sha256_hex, ModelIdentity, SweepConfig, SweepResults};
use ctxscope_engine::rope::precision::{deviation_probe, ProbeConfig};
use ctxscope_engine::rope::RopeTable;
use ctxscope_engine::score::score;
use ctxscope_engine::{Engine, Error, ModelFile, TextTokenizer};

use super::{load, now_ms};
use crate::protocol::{EventBody, Input, ModelInfo, Piece, RequestBody, Rows, Segment, Source, Stage};

type Send<'a> = &'a dyn Fn(EventBody);

/// The worker's model, with the engine of each backend once it has been needed (the CPU
/// weights are dequantized once per model, the GPU weights uploaded once).
pub struct Model {
    file: ModelFile,
    tokenizer: TextTokenizer,
    info: ModelInfo,
    /// The compiled chat template, or why chat is unavailable.
    chat: Result<ChatTemplate, Error>,
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
        RequestBody::Text { input } => {
            let ids = input_ids(&model.tokenizer, input)?;
            // The text is a prompt again later, which adds BOS itself.
            let t = &model.tokenizer;
            let body = if t.add_bos && ids.first() == t.bos_id.as_ref() { &ids[1..] } else { &ids[..] };
            let text = t.decode(body)?;
            send(EventBody::Text { text, tokens: ids.len() });
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
        RequestBody::AttentionMap { backend, experiment, input, layer, head, rows } => {
            let b = prepare(model, backend, &experiment, send).await?;
            map_request(model, b, input, (layer, head, rows), interrupt, send).await
        }
        RequestBody::EntropyScan { backend, experiments, config } => {
            entropy_request(model, backend, experiments, config, interrupt, send).await
        }
        RequestBody::Chat { backend, experiment, messages, max_tokens } => {
            let b = prepare(model, backend, &experiment, send).await?;
            chat_request(model, b, messages, max_tokens, interrupt, send).await
        }
        RequestBody::Sweep { backend, config, resume } => {
            sweep_request(model, backend, config, resume, interrupt, send).await
        }
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
            send(EventBody::Case {
                segments,
                tokens: case.ids.len(),
                target: case.target,
                answers: case.answers,
                generated,
            });
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
async fn prepare(
    model: &mut Model,
    backend: Option<Backend>,
    experiment: &Experiment,
    send: Send<'_>,
) -> Result<Backend, Error> {
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
            // The engine's API takes an `Arc` (natively the context is shared across threads);
            // in wasm the context is not `Send`, and the `Arc` is only reference counting.
            #[allow(clippy::arc_with_non_send_sync)]
            let ctx = Arc::new(ctx);
            model.gpu = Some(Engine::gpu(ctx, &model.file)?);
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
    let fail = |message: String, remedy: &str| EventBody::Error {
        code: "load-failed".into(),
        message,
        remedy: remedy.into(),
        partial: None,
    };
    let (bytes, label, from_cache) = match source {
        Source::Url { url } => match load::cached(&url).await {
            Some(bytes) => (bytes, url, true),
            None => {
                let downloaded = load::download(&url, |done, total| {
                    send(EventBody::Progress { stage: Stage::Download, done, total })
                })
                .await;
                match downloaded {
                    Ok(bytes) => {
                        // Cache only what parses (below); a failure to cache costs a re-download.
                        (bytes, url, false)
                    }
                    Err(message) => {
                        send(fail(
                            message,
                            "Check the URL (the server must allow this page to fetch it), or load a local file.",
                        ));
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
    send(EventBody::Progress {
        stage: if choice == BackendChoice::Cpu { Stage::CpuWeights } else { Stage::GpuUpload },
        done: 0,
        total: None,
    });
    breathe().await;
    let loaded = Engine::load(&file, choice).await?;
    let engine = loaded.engine;
    let info = ModelInfo {
        spec: file.spec().clone(),
        source: label,
        from_cache,
        sha256,
        file_bytes: file.bytes().len() as u64,
        backend: engine.backend(),
        backend_note: loaded.note,
        device: engine.device_label(),
        max_context: engine.max_context(),
        chat_template: TextTokenizer::chat_template(&file),
        chat_error: None,
    };
    let chat = ChatTemplate::from_model(&file, &tokenizer);
    let info = ModelInfo { chat_error: chat.as_ref().err().map(|e| e.to_string()), ..info };
    let (cpu, gpu) = match engine.backend() {
        Backend::Cpu => (Some(engine), None),
        Backend::Gpu => (None, Some(engine)),
    };
    // Only now does the new model replace the old one.
    state.model = Some(Model { file, tokenizer, info: info.clone(), chat, cpu, gpu });
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
    send(EventBody::Scored {
        backend,
        output,
        entropy: session.entropy().cloned(),
        row: session.attention_row(),
        seconds,
    });
    Ok(())
}

async fn generate_request(
    model: &mut Model,
    backend: Backend,
    prompt: String,
    max_tokens: usize,
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    let (tokenizer, engine) = split(model, backend);
    let (decoder, prompt_ids) = GreedyDecoder::new(tokenizer, &prompt, max_tokens)?;
    let mut session = engine.session(prompt_ids.len() + max_tokens)?;
    session.set_interrupt(interrupt.clone());
    let run = decode(&mut session, decoder, &prompt_ids, send).await?;
    send(EventBody::Generated {
        backend,
        prefill_tokens_per_s: run.prefill_tokens_per_s,
        decode_tokens_per_s: run.decode_tokens_per_s,
        generation: run.generation,
    });
    Ok(())
}

/// A finished greedy decode with its rates.
struct Decoded {
    generation: ctxscope_engine::generate::Generation,
    prefill_tokens_per_s: f64,
    decode_tokens_per_s: f64,
}

/// Prefills `prompt_ids`, then decodes greedily, sending a `Token` event per token.
async fn decode(
    session: &mut Session<'_>,
    mut decoder: GreedyDecoder<'_>,
    prompt_ids: &[u32],
    send: Send<'_>,
) -> Result<Decoded, Error> {
    send(EventBody::Progress { stage: Stage::Prefill, done: 0, total: Some(prompt_ids.len() as u64) });
    let t0 = now_ms();
    let logits = session.forward(prompt_ids, &[prompt_ids.len() - 1]).await?.remove(0);
    let prefill_s = ((now_ms() - t0) / 1000.0).max(1e-9);
    let t1 = now_ms();
    let mut index = 0;
    // Sends a `Token` event for each token the decoder kept; returns whether to feed `next`.
    let mut take = |decoder: &mut GreedyDecoder<'_>, next: Option<u32>, piece: String| -> bool {
        if let Some(&id) = decoder.generated().last().filter(|_| decoder.generated().len() > index) {
            index += 1;
            let rate = index as f64 / ((now_ms() - t1) / 1000.0).max(1e-9);
            send(EventBody::Token { id, text: piece, index, tokens_per_s: rate });
        }
        next.is_some()
    };
    let mut piece = String::new();
    let first = decoder.step(&logits, &mut |t| piece.push_str(t))?;
    if take(&mut decoder, first, piece) {
        let first = first.expect("take says a token follows");
        // Each later pick comes from `decode_greedy` (on the GPU, with the next step in flight).
        session
            .decode_greedy(first, &mut |pick| {
                let mut piece = String::new();
                let go = decoder.accept(pick, &mut |t| piece.push_str(t))?;
                Ok(take(&mut decoder, go.then_some(pick), piece))
            })
            .await?;
    }
    let decode_s = ((now_ms() - t1) / 1000.0).max(1e-9);
    let generation = decoder.finish();
    let decoded = generation.ids.len() as f64;
    Ok(Decoded {
        prefill_tokens_per_s: prompt_ids.len() as f64 / prefill_s,
        decode_tokens_per_s: decoded / decode_s,
        generation,
    })
}

/// Most messages and characters one chat request may carry (a chat longer than any context).
const MAX_CHAT_MESSAGES: usize = 10_000;
const MAX_CHAT_CHARS: usize = 4 << 20;

async fn chat_request(
    model: &mut Model,
    backend: Backend,
    messages: Vec<ChatMessage>,
    max_tokens: usize,
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    if messages.is_empty()
        || messages.len() > MAX_CHAT_MESSAGES
        || messages.iter().map(|m| m.content.len()).sum::<usize>() > MAX_CHAT_CHARS
    {
        return Err(Error::InvalidInput(format!(
            "a chat needs 1 … {MAX_CHAT_MESSAGES} messages and at most {MAX_CHAT_CHARS} characters"
        )));
    }
    let template = model.chat.as_ref().map_err(|e| Error::ChatTemplate(e.to_string()))?;
    let prompt = template.render(&messages, true)?;
    let (tokenizer, engine) = split(model, backend);
    // The template writes BOS itself where the model wants it (HF renders, then tokenizes
    // without adding special tokens).
    let prompt_ids = tokenizer.encode(&prompt)?;
    let decoder = GreedyDecoder::for_ids(tokenizer, prompt_ids.len(), max_tokens)?;
    let mut session = engine.session(prompt_ids.len() + max_tokens)?;
    session.set_interrupt(interrupt.clone());
    let run = decode(&mut session, decoder, &prompt_ids, send).await?;
    let ids = prompt_ids.iter().chain(&run.generation.ids).copied().collect();
    send(EventBody::ChatDone {
        backend,
        ids,
        prefill_tokens_per_s: run.prefill_tokens_per_s,
        decode_tokens_per_s: run.decode_tokens_per_s,
        generation: run.generation,
    });
    Ok(())
}

/// The token ids of an input, checked against the vocabulary.
fn input_ids(tokenizer: &TextTokenizer, input: Input) -> Result<Vec<u32>, Error> {
    let ids = match input {
        Input::Text { text } => tokenizer.encode_prompt(&text)?,
        Input::Ids { ids } => ids,
        Input::Haystack { haystack, tokens, seed } => {
            let bos: Vec<u32> = if tokenizer.add_bos { tokenizer.bos_id.into_iter().collect() } else { Vec::new() };
            let (hay, _) = haystack.tokens(tokenizer, tokens.saturating_sub(bos.len()), seed)?;
            bos.into_iter().chain(hay).collect()
        }
    };
    if ids.is_empty() {
        return Err(Error::InvalidInput("the input has no tokens".into()));
    }
    Ok(ids)
}

async fn map_request(
    model: &mut Model,
    backend: Backend,
    input: Input,
    (layer, head, rows): (usize, usize, Rows),
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    let (tokenizer, engine) = split(model, backend);
    let ids = input_ids(tokenizer, input)?;
    let (first, last) = match rows {
        Rows::Last => (ids.len() - 1, ids.len()),
        Rows::All => (0, ids.len()),
        Rows::At { position } if position < ids.len() => (position, position + 1),
        Rows::At { position } => {
            return Err(Error::InvalidInput(format!(
                "query position {position} is beyond the input's {} tokens (0 … {})",
                ids.len(),
                ids.len() - 1
            )));
        }
    };
    let mut session = engine.session(last)?;
    session.set_interrupt(interrupt.clone());
    session.capture_attention_map(layer, head, first..last)?;
    send(EventBody::Progress { stage: Stage::Prefill, done: 0, total: Some(last as u64) });
    let t0 = now_ms();
    session.forward(&ids[..last], &[]).await?;
    let seconds = (now_ms() - t0) / 1000.0;
    let map = session.attention_map().cloned().expect("requested above");
    send(EventBody::Map { backend, map, pieces: pieces(tokenizer, &ids[..last]), seconds });
    Ok(())
}

async fn entropy_request(
    model: &mut Model,
    backend: Option<Backend>,
    experiments: Vec<Experiment>,
    config: EntropyScanConfig,
    interrupt: &Interrupt,
    send: Send<'_>,
) -> Result<(), Error> {
    if experiments.is_empty() || experiments.len() > 4 {
        return Err(Error::InvalidInput("an entropy scan compares 1 … 4 experiments".into()));
    }
    let backend = backend.unwrap_or(model.info.backend);
    ensure_engine(model, backend, send).await?;
    let (tokenizer, engine) = split(model, backend);
    for (i, experiment) in experiments.iter().enumerate() {
        engine.set_experiment(experiment)?;
        let t0 = now_ms();
        let clock = move || (now_ms() - t0) / 1000.0;
        entropy_scan(engine, tokenizer, &config, interrupt, &clock, &mut |point| {
            send(EventBody::EntropyPoint { experiment: i, point: point.clone() })
        })
        .await?;
    }
    send(EventBody::EntropyScanDone { backend });
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
    let identity = ModelIdentity {
        name: spec.name.clone(),
        sha256: model.info.sha256.clone(),
        file_bytes: spec.file_size,
        trained_ctx: spec.context_length,
    };
    let (tokenizer, engine) = split(model, backend);
    let t0 = now_ms();
    let clock = move || (now_ms() - t0) / 1000.0;
    let outcome =
        run_sweep(&config, engine, tokenizer, identity, resume, interrupt, &clock, &mut |progress, results| {
            // Cells are kept in grid order, not run order: find the one that just finished.
            if let Some(cell) = results.cells.iter().find(|c| c.key == progress.cell) {
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
