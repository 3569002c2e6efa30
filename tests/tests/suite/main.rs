//! The integration suite: store conformance on both backends and end-to-end runs of the real
//! bot against the fake Discord. One binary, to keep build and link time down.

mod e2e;
mod llm;
mod moderation;
mod pipeline;
mod store_conformance;
