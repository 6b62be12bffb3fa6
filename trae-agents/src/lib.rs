//! The agents of trae: LLM providers speaking the OpenAI-compatible chat API, test runners
//! and failure parsing, edit application, the TDD agent and the SOLO agent.
//!
//! The crate is part of the fixed workspace layout; its contents arrive with the agents
//! issues. It exports nothing yet.
