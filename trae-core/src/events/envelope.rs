//! The event envelope and the bus that carries it.
//!
//! Every event has the same shape, `{id, seq, ts, source, kind, payload}`. `seq` grows by one
//! per event on a bus, so a subscriber that lost its connection can ask for everything after
//! the last `seq` it saw ([`EventBus::since`]) and then follow the live stream.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::Clock;

/// One thing that happened, as every subscriber sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id of this event.
    pub id: Uuid,
    /// Position on the bus; strictly increasing.
    pub seq: u64,
    /// When the event was published.
    pub ts: DateTime<Utc>,
    /// The part of the system that published it, e.g. "pets".
    pub source: String,
    /// What happened, e.g. "pet.created".
    pub kind: String,
    /// Details, shaped by `kind`.
    pub payload: serde_json::Value,
}

/// Why [`EventSubscription::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The subscriber fell behind and this many events were dropped; resume with
    /// [`EventBus::since`].
    #[error("subscriber lagged behind by {0} events")]
    Lagged(u64),
    /// The bus is gone.
    #[error("event bus closed")]
    Closed,
}

/// A live stream of events published after the subscription was made.
#[derive(Debug)]
pub struct EventSubscription(broadcast::Receiver<Arc<Event>>);

impl EventSubscription {
    /// Waits for the next event.
    pub async fn recv(&mut self) -> Result<Arc<Event>, RecvError> {
        self.0.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }
}

/// Publishes events to every subscriber; in-process now, carried across nodes later.
pub trait EventBus: Send + Sync + 'static {
    /// Publishes an event and returns it as subscribers will see it.
    fn publish(&self, source: &str, kind: &str, payload: serde_json::Value) -> Arc<Event>;
    /// Publishes an event that belongs to the user `owner` (a task they enqueued): a stored
    /// stream shows it to that user without wider read rights. In-process buses ignore it.
    fn publish_owned(
        &self,
        source: &str,
        kind: &str,
        owner: Option<Uuid>,
        payload: serde_json::Value,
    ) -> Arc<Event> {
        let _ = owner;
        self.publish(source, kind, payload)
    }
    /// Subscribes to events published from now on.
    fn subscribe(&self) -> EventSubscription;
    /// The retained events with `seq` greater than `after`, oldest first.
    fn since(&self, after: u64) -> Vec<Arc<Event>>;
}

/// An in-process [`EventBus`] over a tokio broadcast channel, retaining the most recent events
/// for resumption.
pub struct BroadcastBus {
    sender: broadcast::Sender<Arc<Event>>,
    clock: Arc<dyn Clock>,
    state: Mutex<BusState>,
    retain: usize,
}

struct BusState {
    seq: u64,
    recent: VecDeque<Arc<Event>>,
}

impl BroadcastBus {
    /// A bus that buffers `capacity` events per subscriber and retains as many for
    /// [`EventBus::since`].
    pub fn new(clock: Arc<dyn Clock>, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (sender, _) = broadcast::channel(capacity);
        Self {
            sender,
            clock,
            state: Mutex::new(BusState {
                seq: 0,
                recent: VecDeque::with_capacity(capacity),
            }),
            retain: capacity,
        }
    }
}

impl std::fmt::Debug for BroadcastBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastBus")
            .field("subscribers", &self.sender.receiver_count())
            .finish_non_exhaustive()
    }
}

impl EventBus for BroadcastBus {
    fn publish(&self, source: &str, kind: &str, payload: serde_json::Value) -> Arc<Event> {
        // Numbering, retaining and sending happen under one lock so subscribers see events in
        // `seq` order.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.seq += 1;
        let event = Arc::new(Event {
            id: Uuid::now_v7(),
            seq: state.seq,
            ts: self.clock.now(),
            source: source.to_owned(),
            kind: kind.to_owned(),
            payload,
        });
        if state.recent.len() == self.retain {
            state.recent.pop_front();
        }
        state.recent.push_back(Arc::clone(&event));
        // No subscribers is not an error: the event is still retained.
        let _ = self.sender.send(Arc::clone(&event));
        metrics::counter!(crate::monitoring::telemetry::EVENTS_PUBLISHED, "source" => source.to_owned())
            .increment(1);
        event
    }

    fn subscribe(&self) -> EventSubscription {
        EventSubscription(self.sender.subscribe())
    }

    fn since(&self, after: u64) -> Vec<Arc<Event>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .recent
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;
    use serde_json::json;

    fn bus(capacity: usize) -> BroadcastBus {
        BroadcastBus::new(Arc::new(SystemClock), capacity)
    }

    #[tokio::test]
    async fn subscribers_receive_events_in_seq_order() {
        let bus = bus(16);
        let mut sub = bus.subscribe();
        bus.publish("pets", "pet.created", json!({"n": 1}));
        bus.publish("pets", "pet.deleted", json!({"n": 2}));
        let first = sub.recv().await.unwrap();
        let second = sub.recv().await.unwrap();
        assert_eq!((first.seq, first.kind.as_str()), (1, "pet.created"));
        assert_eq!((second.seq, second.kind.as_str()), (2, "pet.deleted"));
        assert_ne!(first.id, second.id);
    }

    #[test]
    fn since_returns_retained_events_after_seq() {
        let bus = bus(3);
        for n in 0..5 {
            bus.publish("test", "tick", json!(n));
        }
        let seqs: Vec<u64> = bus.since(0).iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            vec![3, 4, 5],
            "only the last `capacity` events are retained"
        );
        let seqs: Vec<u64> = bus.since(4).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5]);
    }

    #[tokio::test]
    async fn slow_subscriber_is_told_it_lagged() {
        let bus = bus(2);
        let mut sub = bus.subscribe();
        for n in 0..4 {
            bus.publish("test", "tick", json!(n));
        }
        assert_eq!(sub.recv().await.unwrap_err(), RecvError::Lagged(2));
        assert_eq!(sub.recv().await.unwrap().seq, 3);
    }

    #[test]
    fn envelope_serializes_with_the_documented_fields() {
        let bus = bus(4);
        let event = bus.publish("pets", "pet.created", json!({"name": "Rex"}));
        let value = serde_json::to_value(&*event).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["id", "kind", "payload", "seq", "source", "ts"]);
    }
}
