//! The engine worker's entry point (built by Trunk as a worker with a loader shim).

use ctxscope_app::protocol::Codec;
use ctxscope_app::worker::EngineWorker;
use gloo_worker::Registrable;

fn main() {
    console_error_panic_hook::set_once();
    EngineWorker::registrar().encoding::<Codec>().register();
}
