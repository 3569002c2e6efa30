//! The schema as the database itself reports it. Guild purge and the checks that prove an
//! erasure read the tables from here, never from a list in code, so a table a later migration
//! adds cannot be forgotten.

use sqlx::AssertSqlSafe;

use crate::{Pool, Result, Store, TableCount, on_pool};

/// What to look for in every column of every table.
#[derive(Debug, Clone)]
pub enum Needle {
    /// A column whose text form is exactly this (an ID).
    Exact(String),
    /// A column whose text form contains this (a piece of message text, inside JSON too).
    Contains(String),
}

/// Table and column names come from the database's own catalogue; quoting keeps any of them
/// an identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Every (table, column) of the application's tables, sqlx's bookkeeping left out, ordered
    /// by table.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'
                     ORDER BY m.name, p.cid",
                )
                .fetch_all(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT c.table_name::text, c.column_name::text
                     FROM information_schema.columns c
                     JOIN information_schema.tables t
                       ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                       AND c.table_name <> '_sqlx_migrations'
                     ORDER BY c.table_name, c.ordinal_position",
                )
                .fetch_all(pool)
                .await?
            }
        })
    }

    /// The application's tables, by name.
    pub async fn tables(&self) -> Result<Vec<String>> {
        let mut tables: Vec<String> = self
            .schema_columns()
            .await?
            .into_iter()
            .map(|(table, _)| table)
            .collect();
        tables.dedup();
        Ok(tables)
    }

    /// The tables that hold rows of a guild (every table with a `guild_id` column).
    pub(crate) async fn guild_tables(&self) -> Result<Vec<String>> {
        Ok(self
            .schema_columns()
            .await?
            .into_iter()
            .filter(|(_, column)| column == "guild_id")
            .map(|(table, _)| table)
            .collect())
    }

    /// How many rows each table holds for a guild; tables without any are listed with 0.
    pub async fn guild_row_counts(&self, guild_id: i64) -> Result<Vec<TableCount>> {
        let mut counts = Vec::new();
        for table in self.guild_tables().await? {
            let sql = format!("SELECT COUNT(*) FROM {} WHERE guild_id = $1", ident(&table));
            let rows: i64 = on_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.clone()))
                .bind(guild_id)
                .fetch_one(pool)
                .await)?;
            counts.push(TableCount {
                table,
                rows: rows.max(0) as u64,
            });
        }
        Ok(counts)
    }

    /// Every column, in every table, where `needle` appears, with the number of rows: what an
    /// erasure must leave empty. Reads every row of every table, so it is for checks and tests,
    /// not for the message path.
    pub async fn occurrences(&self, needle: &Needle) -> Result<Vec<(String, String, u64)>> {
        let (test, value) = match (needle, &self.pool) {
            (Needle::Exact(v), _) => ("CAST({c} AS TEXT) = $1", v),
            (Needle::Contains(v), Pool::Sqlite(_)) => ("instr(CAST({c} AS TEXT), $1) > 0", v),
            (Needle::Contains(v), Pool::Postgres(_)) => ("strpos(CAST({c} AS TEXT), $1) > 0", v),
        };
        let mut found = Vec::new();
        for (table, column) in self.schema_columns().await? {
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE {}",
                ident(&table),
                test.replace("{c}", &ident(&column))
            );
            let rows: i64 = on_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.clone()))
                .bind(value.as_str())
                .fetch_one(pool)
                .await)?;
            if rows > 0 {
                found.push((table, column, rows as u64));
            }
        }
        Ok(found)
    }
}
