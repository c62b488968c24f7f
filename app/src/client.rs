//! The page's side of the engine worker: spawns it, sends typed requests and routes each event
//! to the callback of the request it belongs to.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use ctxscope_app::protocol::{Codec, Event, EventBody, GpuInfo, Request, RequestBody, WORKER_SCRIPT};
use ctxscope_app::worker::EngineWorker;
use gloo_worker::{Spawnable, WorkerBridge};

type Handler = Box<dyn FnMut(EventBody)>;

/// A running engine worker.
pub struct EngineClient {
    bridge: RefCell<Option<WorkerBridge<EngineWorker>>>,
    handlers: Rc<RefCell<HashMap<u32, Handler>>>,
    next_id: Cell<u32>,
}

impl EngineClient {
    /// Starts the worker; `on_ready` gets what WebGPU offers there.
    pub fn spawn(on_ready: impl Fn(GpuInfo) + 'static) -> Rc<Self> {
        let handlers: Rc<RefCell<HashMap<u32, Handler>>> = Rc::default();
        let routes = handlers.clone();
        let bridge = EngineWorker::spawner()
            .encoding::<Codec>()
            .callback(move |event: Event| {
                if let EventBody::Ready { gpu } = event.body {
                    on_ready(gpu);
                    return;
                }
                let done = event.body.is_terminal();
                // Take the handler out while it runs: it may send new requests.
                let handler = routes.borrow_mut().remove(&event.id);
                if let Some(mut handler) = handler {
                    handler(event.body);
                    if !done {
                        routes.borrow_mut().insert(event.id, handler);
                    }
                }
            })
            .spawn_with_loader(WORKER_SCRIPT);
        Rc::new(Self { bridge: RefCell::new(Some(bridge)), handlers, next_id: Cell::new(1) })
    }

    /// Sends a request; `on_event` receives its events until (and including) the terminal one.
    /// Returns the request id (for [`EngineClient::cancel`]).
    pub fn send(&self, body: RequestBody, on_event: impl FnMut(EventBody) + 'static) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.handlers.borrow_mut().insert(id, Box::new(on_event));
        if let Some(bridge) = self.bridge.borrow().as_ref() {
            bridge.send(Request { id, body });
        }
        id
    }

    /// Asks the worker to stop request `id` at its next chunk boundary.
    pub fn cancel(&self, id: u32) {
        if let Some(bridge) = self.bridge.borrow().as_ref() {
            let cancel_id = self.next_id.get();
            self.next_id.set(cancel_id + 1);
            bridge.send(Request { id: cancel_id, body: RequestBody::Cancel { target: id } });
        }
    }
}
