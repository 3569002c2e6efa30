//! supportbot: config, CLI, pipeline wiring and the Discord adapter.
