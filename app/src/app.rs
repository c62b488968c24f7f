//! The page: starts the engine worker, loads the default model, restores the view and the
//! experiments from the address, and switches between the views.

use leptos::prelude::*;

use crate::client::EngineClient;
use crate::components::link_panel::LinkPanel;
use crate::components::model_loader::{default_model_url, load};
use crate::components::share_box::ShareBox;
use crate::components::sweep_form::SweepInputs;
use crate::components::tour_bar::TourBar;
use crate::pages::attention::AttentionPage;
use crate::pages::chat::ChatPage;
use crate::pages::entropy::EntropyPage;
use crate::pages::experiment::ExperimentPage;
use crate::pages::model::ModelPage;
use crate::pages::precision::PrecisionPage;
use crate::pages::recall::RecallPage;
use crate::pages::results::ResultsPage;
use crate::pages::tour::TourPage;
use crate::pages::workbench::WorkbenchPage;
use crate::state::inside::Inside;
use crate::state::share::{self, Shared};
use crate::state::tour::Tour;
use crate::state::url::{self, View};
use crate::state::{AppState, LoadState, RecallRun};
use ctxscope_engine::backend::BackendChoice;

#[component]
pub fn App() -> impl IntoView {
    let from_url = url::read();
    let gpu = RwSignal::new(None);
    let client = EngineClient::spawn(move |info| gpu.set(Some(info)));
    let state = AppState {
        client: StoredValue::new_local(client),
        gpu,
        model: RwSignal::new(None),
        load: RwSignal::new(LoadState::Idle),
        backend_choice: RwSignal::new(BackendChoice::Auto),
        backend: RwSignal::new(None),
        experiment: RwSignal::new(from_url.experiment),
        experiment_b: RwSignal::new(from_url.experiment_b),
        view: RwSignal::new(from_url.view),
        url_problems: RwSignal::new(from_url.problems),
    };
    let shared = Shared::new();
    let inputs = SweepInputs::new();
    provide_context(state);
    provide_context(RecallRun::new());
    provide_context(Inside::new());
    provide_context(inputs);
    provide_context(shared);
    provide_context(Tour::new());
    // A share link in the fragment wins over the query; a bad one leaves the defaults.
    match share::from_fragment() {
        Some(Ok(link)) => {
            shared.written.set_value(share::fragment());
            let names_url = link.model.as_ref().is_some_and(|m| m.url.is_some());
            let problems = share::apply(state, shared, inputs, link);
            state.url_problems.update(|p| p.extend(problems));
            if !names_url {
                load(state, ctxscope_app::protocol::Source::Url { url: default_model_url() });
            }
        }
        Some(Err(e)) => {
            state
                .url_problems
                .update(|p| p.push(format!("this link could not be opened — {e}; the page shows the defaults")));
            load(state, ctxscope_app::protocol::Source::Url { url: default_model_url() });
        }
        None => load(state, ctxscope_app::protocol::Source::Url { url: default_model_url() }),
    }
    share::listen_for_links(state, shared, inputs);
    // The view and the experiments follow into the address.
    Effect::new(move |_| url::write(state.view.get(), &state.experiment.get(), state.experiment_b.get().as_ref()));

    let tab = move |v: View| {
        view! {
            <button role="tab" class="tab" data-testid=format!("tab-{}", v.slug()) aria-selected=move || (state.view.get() == v).to_string()
                on:click=move |_| state.view.set(v)>{v.title()}</button>
        }
    };
    view! {
        <header>
            <h1>"ctxscope"</h1>
            <p class="tagline">"Watch a language model's context window work — and fail — on your own GPU."</p>
            <nav role="tablist" aria-label="views">{View::ALL.into_iter().map(tab).collect_view()}</nav>
            <ShareBox />
        </header>
        <main>
            <TourBar />
            <LinkPanel />
            {move || (!state.url_problems.get().is_empty()).then(|| view! {
                <p class="notice" data-testid="url-problems">{state.url_problems.get().join("; ")} "."</p>
            })}
            {move || match state.load.get() {
                LoadState::Working { .. } if state.view.get() != View::Model => Some(view! { <p class="muted">"Loading the model… (Model view shows the progress)"</p> }),
                _ => None,
            }}
            {move || match state.view.get() {
                View::Model => view! { <ModelPage /> }.into_any(),
                View::Tour => view! { <TourPage /> }.into_any(),
                View::Experiment => view! { <ExperimentPage /> }.into_any(),
                View::Recall => view! { <RecallPage /> }.into_any(),
                View::Entropy => view! { <EntropyPage /> }.into_any(),
                View::Attention => view! { <AttentionPage /> }.into_any(),
                View::Precision => view! { <PrecisionPage /> }.into_any(),
                View::Chat => view! { <ChatPage /> }.into_any(),
                View::Results => view! { <ResultsPage /> }.into_any(),
                View::Workbench => view! { <WorkbenchPage /> }.into_any(),
            }}
        </main>
    }
}
