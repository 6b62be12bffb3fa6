//! Events: the envelope and the in-process bus services publish on, the persisted log under
//! it, the topics readers ask for, and the stream that serves pages and live subscriptions.

pub mod envelope;
pub mod log;
pub mod stored_bus;
pub mod stream;
pub mod topic;
