//! `trae events tail`: follow the event stream from the terminal, as the operator.

use anyhow::Context;
use trae_agents::Trae;
use trae_core::{Config, Principal, Resume, StoredEvent, Topic};

use crate::write_stdout;

/// What `trae events tail` was asked for.
pub(crate) struct Tail {
    /// Topics, comma-separated; every topic when `None`.
    pub topics: Option<String>,
    /// Resume after this `seq`; from now when `None`.
    pub since: Option<i64>,
    /// The epoch `since` belongs to.
    pub epoch: Option<String>,
    /// One JSON object per line instead of readable lines.
    pub json: bool,
}

/// Prints events as they come until SIGINT or SIGTERM. History that is gone is reported on
/// stderr and the tail goes on from the end of the log.
pub(crate) async fn tail(config: &Config, tail: Tail) -> anyhow::Result<()> {
    let trae = Trae::open(config.clone())
        .await
        .context("cannot open the database")?;
    let result = follow(&trae, tail).await;
    trae.close().await;
    result
}

async fn follow(trae: &Trae, tail: Tail) -> anyhow::Result<()> {
    let stream = trae.events()?;
    let topics = Topic::parse_list(tail.topics.as_deref())?;
    let resume = Resume::parse(tail.since, tail.epoch)?;
    let (lost, mut subscription) = stream.follow(&Principal::System, &topics, &resume).await?;
    if let Some(lost) = lost {
        eprintln!(
            "history lost: {}; following from seq {} of epoch {}",
            lost.reason, lost.position.last_seq, lost.position.epoch
        );
    }
    if !tail.json {
        eprintln!(
            "following epoch {} after seq {} (Ctrl-C stops)",
            subscription.epoch(),
            subscription.last_seq()
        );
    }
    loop {
        tokio::select! {
            () = trae_server::serve::shutdown_signal() => return Ok(()),
            event = subscription.next() => {
                let event = event.context("the event stream failed")?;
                write_stdout(&line(&event, tail.json))?;
            }
        }
    }
}

/// One event as a line: JSON, or `time  #seq  topic  kind  payload`.
fn line(event: &StoredEvent, json: bool) -> String {
    if json {
        let mut text = serde_json::to_string(event).unwrap_or_default();
        text.push('\n');
        return text;
    }
    format!(
        "{}  #{}  {:<8} {:<24} {}\n",
        event
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        event.seq,
        event.topic,
        event.kind,
        event.payload
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_lines_name_time_seq_topic_kind_and_payload() {
        let event = StoredEvent {
            seq: 42,
            id: uuid::Uuid::nil(),
            ts: chrono::DateTime::parse_from_rfc3339("2026-12-07T09:00:00.5Z")
                .unwrap()
                .to_utc(),
            topic: "tasks".into(),
            source: "tasks".into(),
            kind: "task.completed".into(),
            owner_id: None,
            payload: serde_json::json!({"id": 1}),
        };
        assert_eq!(
            line(&event, false),
            "2026-12-07T09:00:00.500Z  #42  tasks    task.completed           {\"id\":1}\n"
        );
        let json: serde_json::Value = serde_json::from_str(&line(&event, true)).unwrap();
        assert_eq!(json["seq"], 42);
        assert_eq!(json["kind"], "task.completed");
    }
}
