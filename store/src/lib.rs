//! Persistence with sqlx on SQLite and Postgres.
