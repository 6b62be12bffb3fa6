//! The durable task queue: tasks and their states, the queue service, workers and recurring schedules.

pub mod queue_bench;
pub mod recurring;
pub mod task;
pub mod task_queue;
pub mod worker;
