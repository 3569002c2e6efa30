//! supportbot: configuration, CLI, pipeline wiring and the Discord adapter.

pub mod app;
pub mod audit_cli;
pub mod audit_view;
pub mod cli;
pub mod clock;
pub mod config;
pub mod data;
pub mod data_cli;
pub mod discord;
pub mod doctor;
pub mod eval_answers;
pub mod eval_cli;
pub mod guild_settings;
pub mod knowledge_cli;
pub mod metrics;
pub mod models_cli;
pub mod ops;
pub mod pipeline;
pub mod policy_cli;
pub mod retention;
pub mod retriever;
pub mod semantic;
pub mod services;
pub mod stats_view;
pub mod telemetry;
pub mod terminal;
