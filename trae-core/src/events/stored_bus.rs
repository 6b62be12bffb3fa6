//! The bus every service publishes on when a database is open: each event goes to the
//! in-process bus (as before) and, once the event log is attached, into the log through the
//! [`EventStream`]'s batch writer, where other processes and later readers find it.
//!
//! Publishing stays as cheap as before for the caller: the log write is a queue send; a full
//! queue or a failed batch drops the event from the log only (counted in
//! [`EVENTS_DROPPED`](crate::events::stream::EVENTS_DROPPED)), never from the in-process bus
//! and never failing the operation that published it.

use std::sync::{Arc, OnceLock};

use uuid::Uuid;

use crate::events::envelope::{Event, EventBus, EventSubscription};
use crate::events::stream::EventStream;

/// An [`EventBus`] that keeps what it carries in the event log once one is attached.
pub struct StoredEventBus {
    local: Arc<dyn EventBus>,
    stream: OnceLock<EventStream>,
}

impl std::fmt::Debug for StoredEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredEventBus")
            .field("stored", &self.stream.get().is_some())
            .finish_non_exhaustive()
    }
}

impl StoredEventBus {
    /// A bus publishing on `local`, storing nothing until [`StoredEventBus::attach`].
    pub fn new(local: Arc<dyn EventBus>) -> Self {
        Self {
            local,
            stream: OnceLock::new(),
        }
    }

    /// Stores every event published from now on through `stream`; false when a stream was
    /// attached already (the first one stays).
    pub fn attach(&self, stream: EventStream) -> bool {
        self.stream.set(stream).is_ok()
    }

    /// The attached stream, if any.
    pub fn stream(&self) -> Option<&EventStream> {
        self.stream.get()
    }
}

impl EventBus for StoredEventBus {
    fn publish(&self, source: &str, kind: &str, payload: serde_json::Value) -> Arc<Event> {
        self.publish_owned(source, kind, None, payload)
    }

    fn publish_owned(
        &self,
        source: &str,
        kind: &str,
        owner: Option<Uuid>,
        payload: serde_json::Value,
    ) -> Arc<Event> {
        let event = self.local.publish_owned(source, kind, owner, payload);
        if let Some(stream) = self.stream.get() {
            stream.store(&event, owner);
        }
        event
    }

    fn subscribe(&self) -> EventSubscription {
        self.local.subscribe()
    }

    fn since(&self, after: u64) -> Vec<Arc<Event>> {
        self.local.since(after)
    }
}
