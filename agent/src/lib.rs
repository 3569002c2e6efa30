//! Classifier, retrieval agent and LLM provider chain. No Discord types, no SQL.

pub mod answer;
pub mod classifier;
pub mod decision;
pub mod intent;
pub mod llm;
pub mod retriever;
pub mod tls;

pub use answer::{Agent, AgentSettings, Answer, Language, Progress, Question, Speaker, Turn};
pub use decision::{Citation, Decision, HandoffReason, Trace};
pub use retriever::{Passage, RetrievalError, Retrieved, Retriever, RetrieverFuture, TermStat};
