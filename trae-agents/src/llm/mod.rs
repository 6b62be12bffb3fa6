//! Language models over the OpenAI chat-completions API: the [`gateway::ModelGateway`] every
//! model call goes through, the wire format, server-sent events and schema-checked answers.

pub mod gateway;
pub mod openai;
pub mod sse;
pub mod structured;
