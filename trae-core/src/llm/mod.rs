//! Language models: the chat every provider speaks, the [`chat::ChatModel`] port the agents
//! call, and the budget a run spends.

pub mod budget;
pub mod chat;
pub mod provider;
