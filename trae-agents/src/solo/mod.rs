//! The SOLO agent (issue 24). So far its genesis interview: [`interviews`] is the service
//! (start, answer, revise, read, specs) and [`interviewer`] the model's side of it.

pub mod interviewer;
pub mod interviews;
