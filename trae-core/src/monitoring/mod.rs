//! Monitoring: component health, metric series and alert rules, request history and statistics, telemetry names.

pub mod alert;
pub mod component_health;
pub mod health;
pub mod metric_series;
pub mod request_history;
pub mod request_stats;
pub mod telemetry;
