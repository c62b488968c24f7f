//! ctxscope in the browser: a Leptos CSR app built by Trunk.

mod app;
mod components;
mod gpu;
mod model_source;
mod state;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
