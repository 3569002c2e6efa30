//! Classifier, retrieval agent and LLM provider chain. No Discord types, no SQL.

pub mod classifier;
pub mod decision;
pub mod llm;
pub mod tls;

pub use decision::{Acknowledger, Citation, Decision};
