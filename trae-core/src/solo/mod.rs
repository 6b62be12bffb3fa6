//! The SOLO agent's domain (issue 24): the genesis [`interview`] that turns a project idea
//! into a [`spec`], with the per-type [`templates`] that ask the first questions and stand in
//! for a model when there is none; and the [`plan`] that builds a spec, a validated graph of
//! tool steps.

pub mod interview;
pub mod plan;
pub mod spec;
pub mod templates;
