//! The engine worker: a dedicated Web Worker that owns the model and runs every request, so the
//! page never computes and never freezes.
//!
//! Requests run one at a time, in arrival order; a `Cancel` is handled as soon as it arrives
//! (the running request sees it at its next chunk boundary, a queued one is dropped). Long
//! forward passes pause every ~30 ms (a zero-delay timer) so that messages get through.

mod handlers;
mod load;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ctxscope_engine::backend::{Interrupt, Pause};
use gloo_worker::{HandlerId, Worker, WorkerScope};
use wasm_bindgen_futures::spawn_local;

use crate::protocol::{Event, EventBody, Request, RequestBody};

pub use load::{gpu_info, MODEL_CACHE};

/// Milliseconds since the worker started.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The worker (gloo-worker's actor model: one instance, messages in, events out).
pub struct EngineWorker {
    shared: Rc<Shared>,
}

struct Shared {
    scope: WorkerScope<EngineWorker>,
    queue: RefCell<VecDeque<(HandlerId, Request)>>,
    running: Cell<bool>,
    /// The running request's id and cancel flag.
    current: RefCell<Option<(u32, Arc<AtomicBool>)>>,
    state: RefCell<handlers::State>,
}

impl Shared {
    fn send(&self, to: HandlerId, id: u32, body: EventBody) {
        self.scope.respond(to, Event { id, body });
    }
}

impl Worker for EngineWorker {
    type Message = ();
    type Input = Request;
    type Output = Event;

    fn create(scope: &WorkerScope<Self>) -> Self {
        let shared = Rc::new(Shared {
            scope: scope.clone(),
            queue: RefCell::new(VecDeque::new()),
            running: Cell::new(false),
            current: RefCell::new(None),
            state: RefCell::new(handlers::State::default()),
        });
        Self { shared }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: ()) {}

    fn connected(&mut self, _scope: &WorkerScope<Self>, who: HandlerId) {
        let shared = self.shared.clone();
        spawn_local(async move {
            let gpu = gpu_info().await;
            shared.send(who, 0, EventBody::Ready { gpu });
        });
    }

    fn received(&mut self, _scope: &WorkerScope<Self>, request: Request, who: HandlerId) {
        if let RequestBody::Cancel { target } = request.body {
            self.cancel(who, target);
            return;
        }
        self.shared.queue.borrow_mut().push_back((who, request));
        if !self.shared.running.get() {
            self.shared.running.set(true);
            spawn_local(run_queue(self.shared.clone()));
        }
    }
}

impl EngineWorker {
    fn cancel(&self, who: HandlerId, target: u32) {
        if let Some((id, flag)) = self.shared.current.borrow().as_ref() {
            if *id == target {
                flag.store(true, Ordering::Relaxed);
                return;
            }
        }
        let mut queue = self.shared.queue.borrow_mut();
        if let Some(at) = queue.iter().position(|(_, r)| r.id == target) {
            queue.remove(at);
            drop(queue);
            let e = ctxscope_engine::Error::Cancelled;
            self.shared.send(who, target, handlers::error_body(&e, None));
        }
    }
}

/// Runs queued requests until the queue is empty.
// The model state stays borrowed across a request's awaits on purpose: requests run one at a time
// from this queue and nothing else borrows it (cancel and pause go through `current`).
#[allow(clippy::await_holding_refcell_ref)]
async fn run_queue(shared: Rc<Shared>) {
    loop {
        let next = shared.queue.borrow_mut().pop_front();
        let Some((who, request)) = next else { break };
        let flag = Arc::new(AtomicBool::new(false));
        *shared.current.borrow_mut() = Some((request.id, flag.clone()));
        let interrupt = Interrupt { cancel: Some(flag), pause: Some(pause()) };
        let id = request.id;
        let send = {
            let shared = shared.clone();
            move |body: EventBody| shared.send(who, id, body)
        };
        let mut state = shared.state.borrow_mut();
        handlers::handle(&mut state, request.body, &interrupt, &send).await;
        drop(state);
        *shared.current.borrow_mut() = None;
    }
    shared.running.set(false);
}

/// A pause that yields to the worker's event loop at most every 30 ms (a zero-delay timer lets
/// queued messages, such as a cancel, run).
fn pause() -> Pause {
    let last = Rc::new(Cell::new(now_ms()));
    Rc::new(move || {
        let last = last.clone();
        Box::pin(async move {
            if now_ms() - last.get() >= 30.0 {
                gloo_timers::future::TimeoutFuture::new(0).await;
                last.set(now_ms());
            }
        })
    })
}
