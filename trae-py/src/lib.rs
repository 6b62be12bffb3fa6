//! Python bindings for trae: the native module `trae._native` behind the `trae` package.
//!
//! The binding is thin on purpose. Each method converts its Python arguments, calls one
//! `trae_core` or `trae_auth` service method over a `trae_storage::Store`, and converts the
//! answer back; every rule (names, ages, tags, species, page sizes, passwords, permissions)
//! lives in those crates, and every error they return becomes a `trae.TraeError` subclass
//! through [`errors::to_py_err`]. Calls act as the store's principal (the system, or
//! the user of `store.as_user(token)`) unless given a `trae.Principal`.
//!
//! The synchronous API (`trae.Store`) releases the GIL and blocks on one shared multi-threaded
//! tokio runtime; the asyncio API (`trae.aio`) hands the same futures to that runtime through
//! `pyo3-async-runtimes` and resolves an asyncio future when they finish.

use std::sync::{LazyLock, Once};

use pyo3::prelude::*;
use tokio::runtime::Runtime;

mod aio;
mod apis;
mod args;
mod backup;
mod content;
mod contradiction;
mod convert;
mod errors;
mod events;
mod handle;
mod health;
mod identity;
mod llm;
mod metrics;
mod rate_limit;
mod secrets;
mod services;
mod solo;
mod sync;
mod tasks;
mod tdd;
mod types;
mod worker;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trae-py")
        .build()
        .expect("cannot start the tokio runtime for trae")
});

/// The tokio runtime every database call of this module runs on, started on first use.
///
/// One runtime for the synchronous and the asyncio API, so connection pools opened by one are
/// always driven by the same worker threads.
pub(crate) fn runtime() -> &'static Runtime {
    static BRIDGE: Once = Once::new();
    let runtime = LazyLock::force(&RUNTIME);
    BRIDGE.call_once(|| {
        // Fails only when pyo3-async-runtimes already has a runtime, which in this module can
        // only be this one.
        let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime);
    });
    runtime
}

/// The native part of the `trae` package; import `trae` (or `trae.aio`) instead.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<sync::Store>()?;
    m.add_class::<rate_limit::RateLimiter>()?;
    m.add_class::<rate_limit::RateDecision>()?;
    m.add_class::<rate_limit::RateWindow>()?;
    m.add_class::<sync::Pets>()?;
    m.add_class::<types::Pet>()?;
    m.add_class::<types::Page>()?;
    m.add_class::<identity::Principal>()?;
    m.add_class::<identity::User>()?;
    m.add_class::<identity::TokenPair>()?;
    m.add_class::<identity::ApiKey>()?;
    m.add_class::<identity::CreatedApiKey>()?;
    m.add_class::<identity::Role>()?;
    m.add_class::<identity::AuditEntry>()?;
    m.add_class::<services::Auth>()?;
    m.add_class::<services::Users>()?;
    m.add_class::<services::ApiKeys>()?;
    m.add_class::<services::Policy>()?;
    m.add_class::<services::Audit>()?;
    m.add_class::<secrets::Secrets>()?;
    m.add_class::<secrets::Secret>()?;
    m.add_class::<secrets::SecretVersion>()?;
    m.add_class::<apis::Apis>()?;
    m.add_class::<apis::Orchestrator>()?;
    m.add_class::<apis::ApiEndpoint>()?;
    m.add_class::<apis::ApiUsage>()?;
    m.add_class::<apis::ApiAttempt>()?;
    m.add_class::<apis::ApiCallResult>()?;
    m.add_class::<apis::ApiCallAttempt>()?;
    m.add_class::<llm::Llm>()?;
    m.add_class::<llm::ChatResponse>()?;
    m.add_class::<llm::ChatStream>()?;
    m.add_class::<llm::ModelEndpoint>()?;
    m.add_class::<llm::Budget>()?;
    m.add_class::<health::Health>()?;
    m.add_class::<health::HealthReport>()?;
    m.add_class::<health::ComponentStatus>()?;
    m.add_class::<health::HealthTransition>()?;
    m.add_class::<metrics::Metrics>()?;
    m.add_class::<metrics::MetricSeries>()?;
    m.add_class::<metrics::AlertRule>()?;
    m.add_class::<metrics::Alert>()?;
    m.add_class::<events::Events>()?;
    m.add_class::<events::EventSubscription>()?;
    m.add_class::<tasks::Tasks>()?;
    m.add_class::<tasks::Task>()?;
    m.add_class::<tasks::QueueSettings>()?;
    m.add_class::<tasks::QueueStats>()?;
    m.add_class::<tasks::TaskStats>()?;
    m.add_class::<worker::Worker>()?;
    m.add_class::<worker::WorkerSummary>()?;
    m.add_class::<worker::TaskContext>()?;
    m.add_class::<tdd::Tdd>()?;
    m.add_class::<tdd::TddRun>()?;
    m.add_class::<tdd::TddStep>()?;
    m.add_class::<tdd::TddEdit>()?;
    m.add_class::<tdd::TestReport>()?;
    m.add_class::<tdd::TestFailure>()?;
    m.add_class::<tdd::TddFileDiff>()?;
    m.add_class::<tdd::TddRunDiff>()?;
    m.add_class::<tdd::TddReplay>()?;
    m.add_class::<solo::Solo>()?;
    m.add_class::<solo::SoloInterview>()?;
    m.add_class::<solo::SoloTurn>()?;
    m.add_class::<solo::SoloSpec>()?;
    m.add_class::<content::Channels>()?;
    m.add_class::<content::Personas>()?;
    m.add_class::<content::Evidence>()?;
    m.add_class::<content::Contradictions>()?;
    // The asyncio classes are called Store and Pets in `trae.aio`; here they need other names.
    let py = m.py();
    m.add("AsyncStore", py.get_type::<aio::AsyncStore>())?;
    m.add("AsyncPets", py.get_type::<aio::AsyncPets>())?;
    m.add("StoreOpener", py.get_type::<aio::StoreOpener>())?;
    m.add("AsyncAuth", py.get_type::<services::AsyncAuth>())?;
    m.add("AsyncUsers", py.get_type::<services::AsyncUsers>())?;
    m.add("AsyncApiKeys", py.get_type::<services::AsyncApiKeys>())?;
    m.add("AsyncPolicy", py.get_type::<services::AsyncPolicy>())?;
    m.add("AsyncAudit", py.get_type::<services::AsyncAudit>())?;
    m.add("AsyncTasks", py.get_type::<tasks::AsyncTasks>())?;
    m.add("AsyncSecrets", py.get_type::<secrets::AsyncSecrets>())?;
    m.add("AsyncApis", py.get_type::<apis::AsyncApis>())?;
    m.add("AsyncLlm", py.get_type::<llm::AsyncLlm>())?;
    m.add("AsyncChatStream", py.get_type::<llm::AsyncChatStream>())?;
    m.add("AsyncTdd", py.get_type::<tdd::AsyncTdd>())?;
    m.add("AsyncSolo", py.get_type::<solo::AsyncSolo>())?;
    m.add("AsyncHealth", py.get_type::<health::AsyncHealth>())?;
    m.add("AsyncMetrics", py.get_type::<metrics::AsyncMetrics>())?;
    m.add("AsyncEvents", py.get_type::<events::AsyncEvents>())?;
    m.add(
        "AsyncEventSubscription",
        py.get_type::<events::AsyncEventSubscription>(),
    )?;
    m.add("AsyncChannels", py.get_type::<content::AsyncChannels>())?;
    m.add("AsyncPersonas", py.get_type::<content::AsyncPersonas>())?;
    m.add("AsyncEvidence", py.get_type::<content::AsyncEvidence>())?;
    m.add(
        "AsyncContradictions",
        py.get_type::<content::AsyncContradictions>(),
    )?;
    m.add(
        "AsyncOrchestrator",
        py.get_type::<apis::AsyncOrchestrator>(),
    )?;
    m.add(
        "AsyncTaskContext",
        py.get_type::<worker::AsyncTaskContext>(),
    )?;
    errors::register(m)?;
    worker::register(m)?;
    backup::register(m)?;
    contradiction::register(m)?;
    Ok(())
}
