//! The integration suite: store conformance on both backends, end-to-end runs of the real bot
//! against the fake Discord, and `models fetch` against the fake hub. One binary, to keep build
//! and link time down.

mod admission;
mod e2e;
mod edits;
mod feedback;
mod forum;
mod fuzz;
mod gateway;
mod knowledge_commands;
mod llm;
mod member_commands;
mod models;
mod moderation;
mod modes;
mod ops;
mod oracle;
mod permissions;
mod pipeline;
mod pipeline_data;
mod postgres_tls;
mod rate_limits;
mod redaction;
mod setup;
mod sharding;
mod store_conformance;
mod store_data;
mod store_faults;
mod streaming;
