//! Simple statistics over plain text.

pub mod stats;

pub use stats::{longest_word, word_count};
