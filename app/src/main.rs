//! ctxscope in the browser: the page (Leptos CSR, built by Trunk). All model work happens in the
//! engine worker (`src/bin/ctxscope-worker.rs`); the page sends requests and draws events.

mod app;
mod client;
mod components;
mod download;
mod offline;
mod pages;
mod state;

fn main() {
    console_error_panic_hook::set_once();
    // The static "loading" note of index.html has done its job.
    if let Some(boot) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("boot")) {
        boot.remove();
    }
    offline::register_service_worker();
    leptos::mount::mount_to_body(app::App);
}
