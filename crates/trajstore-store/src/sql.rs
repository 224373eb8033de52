//! Read-only SQL over the store: DataFusion plans the query over the Lance datasets as
//! they are at the query's start.
//!
//! Tables: `trajectories`, the summary columns (times as UTC timestamps; the internal
//! columns `write_id`, `metadata_kv` and the vectors are not shown); `steps` and
//! `tool_calls`, the payloads' facts (`facts.rs`) one row per element.
//!
//! Only a query that reads is run. Three things make sure of it: the statement must parse
//! as one query (`SELECT`, `WITH`, `VALUES`), its plan must hold no DDL, DML or statement
//! node (DataFusion's `SQLOptions`), and the session knows no table but the store's: URL
//! and path tables are off (DataFusion's default) and the only table functions are
//! DataFusion's built-in generators. Spilling to disk is off too, so a query that needs
//! more memory than its limit fails rather than writing files.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use datafusion::common::config::Dialect;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{cast, col, Expr, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast;
use futures::StreamExt;
use lance::datafusion::LanceTableProvider;
use trajstore_model::{ColumnType, COLUMNS};

use crate::{Result, Store, StoreError};

/// The limits a query runs under (the time limit is the caller's: it drops the future).
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Rows returned at most; a longer result is cut and marked truncated.
    pub max_rows: usize,
    /// Memory for DataFusion's operators that hold data (sorts, aggregations, joins).
    pub memory_bytes: usize,
}

/// A query's result: its schema, its rows (at most `max_rows`), and whether it had more.
#[derive(Debug)]
pub struct SqlOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub truncated: bool,
}

/// Why a query did not run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A statement that is not a query (INSERT, COPY, CREATE, SET, ...).
    #[error("only queries that read are allowed (SELECT, WITH, VALUES), not {0}")]
    NotARead(String),
    /// The query does not parse or plan, or fails as written (an unknown column, say).
    #[error("{0}")]
    Invalid(String),
    #[error("the query needs more memory than its limit of {limit_mb} MB: {detail}")]
    MemoryLimit { limit_mb: usize, detail: String },
}

/// The statement's leading keywords, to name it in a refusal (`INSERT`, `CREATE TABLE`).
fn statement_kind(statement: &Statement) -> String {
    const QUALIFIERS: &[&str] = &["OR", "REPLACE", "EXTERNAL", "TEMPORARY", "UNBOUNDED", "IF", "EXISTS", "NOT"];
    let text = statement.to_string().to_ascii_uppercase();
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else { return "an empty statement".to_string() };
    if !matches!(first, "CREATE" | "DROP" | "ALTER") {
        return first.to_string();
    }
    let mut kind = vec![first];
    for word in words {
        kind.push(word);
        if !QUALIFIERS.contains(&word) {
            break;
        }
    }
    kind.join(" ")
}

/// A DataFusion error as the caller's fault or ours.
pub(crate) fn sql_error(e: DataFusionError, limits: &SqlLimits) -> StoreError {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(detail) => StoreError::Sql(SqlError::MemoryLimit {
            limit_mb: limits.memory_bytes.div_ceil(1 << 20),
            // The first line says which operator; the rest lists every reservation.
            detail: detail.lines().next().unwrap_or_default().to_string(),
        }),
        DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) | DataFusionError::External(_) => {
            StoreError::Corrupt(format!("reading for a SQL query: {e}"))
        }
        _ => StoreError::Sql(SqlError::Invalid(e.strip_backtrace())),
    }
}

pub(crate) fn session(limits: &SqlLimits) -> Result<SessionContext> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
        .build_arc()
        .map_err(|e| StoreError::Corrupt(format!("starting the SQL engine: {e}")))?;
    let config = SessionConfig::new().with_target_partitions(2).with_information_schema(false);
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// The `trajectories` table: the summary columns of the column table, with times
/// (stored as microseconds) as timestamps.
fn trajectories_columns() -> Vec<Expr> {
    COLUMNS
        .iter()
        .map(|c| match c.ty {
            ColumnType::Time => {
                cast(col(c.name), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))).alias(c.name)
            }
            _ => col(c.name),
        })
        .collect()
}

/// The `steps` and `tool_calls` tables: the facts of the payloads that a summary row
/// names (an unreferenced payload, of an import that lost a race or a deleted
/// trajectory, is left out), one row per list element.
const STEPS_TABLE: &str = "SELECT trajectory_id, f['step'] AS step, f['role'] AS role, f['tool_name'] AS tool_name, \
    arrow_cast(f['content'], 'Utf8') AS content, f['content_length'] AS content_length, f['is_error'] AS is_error, \
    f['reward'] AS reward, arrow_cast(f['timestamp'], 'Timestamp(Microsecond, Some(\"UTC\"))') AS timestamp \
    FROM (SELECT p.trajectory_id, unnest(p.step_facts) AS f FROM __payloads p \
          JOIN __summaries s ON p.trajectory_id = s.trajectory_id AND p.write_id = s.write_id)";
const TOOL_CALLS_TABLE: &str = "SELECT trajectory_id, f['step'] AS step, f['call_index'] AS call_index, \
    f['tool_name'] AS tool_name, f['call_id'] AS call_id, arrow_cast(f['arguments'], 'Utf8') AS arguments, \
    f['result_length'] AS result_length, f['result_is_error'] AS result_is_error \
    FROM (SELECT p.trajectory_id, unnest(p.call_facts) AS f FROM __payloads p \
          JOIN __summaries s ON p.trajectory_id = s.trajectory_id AND p.write_id = s.write_id)";

impl Store {
    /// Registers `trajectories`, `steps` and `tool_calls` over the datasets' current
    /// versions. The base tables they are defined on are dropped from the session again,
    /// so a query sees only these three.
    async fn register_tables(&self, ctx: &SessionContext) -> Result<()> {
        let invalid = |e: DataFusionError| StoreError::Sql(SqlError::Invalid(e.strip_backtrace()));
        self.register_base_tables(ctx).await?;
        let summaries = ctx.table("__summaries").await.map_err(invalid)?;
        let view = summaries.select(trajectories_columns()).map_err(invalid)?;
        ctx.register_table("trajectories", view.into_view()).map_err(invalid)?;
        for (name, definition) in [("steps", STEPS_TABLE), ("tool_calls", TOOL_CALLS_TABLE)] {
            let view = ctx.sql(definition).await.map_err(invalid)?;
            ctx.register_table(name, view.into_view()).map_err(invalid)?;
        }
        ctx.deregister_table("__summaries").map_err(invalid)?;
        ctx.deregister_table("__payloads").map_err(invalid)?;
        Ok(())
    }

    /// Registers the datasets themselves, at their current versions, as `__summaries`
    /// and `__payloads` (every column, as stored).
    pub(crate) async fn register_base_tables(&self, ctx: &SessionContext) -> Result<()> {
        let invalid = |e: DataFusionError| StoreError::Sql(SqlError::Invalid(e.strip_backtrace()));
        let no_dataset = || StoreError::Corrupt("the store's tables are not local Lance datasets".into());
        let summaries = self.summaries.dataset().ok_or_else(no_dataset)?.get().await?;
        let payloads = self.payloads.dataset().ok_or_else(no_dataset)?.get().await?;
        ctx.register_table("__summaries", Arc::new(LanceTableProvider::new(summaries, false, false)))
            .map_err(invalid)?;
        ctx.register_table("__payloads", Arc::new(LanceTableProvider::new(payloads, false, false))).map_err(invalid)?;
        Ok(())
    }

    /// Runs `query` if it only reads, and returns its first `limits.max_rows` rows.
    pub async fn sql(&self, query: &str, limits: &SqlLimits) -> Result<SqlOutput> {
        let ctx = session(limits)?;
        let statement = ctx
            .state()
            .sql_to_statement(query, &Dialect::Generic)
            .map_err(|e| StoreError::Sql(SqlError::Invalid(e.strip_backtrace())))?;
        match &statement {
            Statement::Statement(s) if matches!(**s, ast::Statement::Query(_)) => {}
            other => return Err(StoreError::Sql(SqlError::NotARead(statement_kind(other)))),
        }
        self.register_tables(&ctx).await.map_err(|e| match e {
            StoreError::Sql(SqlError::Invalid(m)) => StoreError::Corrupt(format!("defining the SQL tables: {m}")),
            e => e,
        })?;

        let plan = ctx.state().statement_to_plan(statement).await.map_err(|e| sql_error(e, limits))?;
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        read_only.verify_plan(&plan).map_err(|e| StoreError::Sql(SqlError::NotARead(e.strip_backtrace())))?;
        let frame = ctx.execute_logical_plan(plan).await.map_err(|e| sql_error(e, limits))?;
        let mut stream = frame.execute_stream().await.map_err(|e| sql_error(e, limits))?;
        let schema = stream.schema();
        let (mut batches, mut rows, mut truncated, mut bytes) = (Vec::new(), 0usize, false, 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| sql_error(e, limits))?;
            // The pool counts only sorts, aggregations and joins: the rows returned are
            // held to the same limit here, before they are copied into an answer.
            bytes += batch.get_array_memory_size();
            if bytes > limits.memory_bytes {
                return Err(StoreError::Sql(SqlError::MemoryLimit {
                    limit_mb: limits.memory_bytes.div_ceil(1 << 20),
                    detail: "the result itself is larger; select fewer columns or rows".into(),
                }));
            }
            let room = limits.max_rows - rows;
            if batch.num_rows() > room {
                batches.push(batch.slice(0, room));
                truncated = true;
                break;
            }
            rows += batch.num_rows();
            batches.push(batch);
        }
        Ok(SqlOutput { schema, batches, truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> String {
        let ctx = SessionContext::new();
        statement_kind(&ctx.state().sql_to_statement(sql, &Dialect::Generic).unwrap())
    }

    #[test]
    fn a_refusal_names_the_statement() {
        assert_eq!(kind("insert into t values (1)"), "INSERT");
        assert_eq!(kind("CREATE TABLE x AS SELECT 1"), "CREATE TABLE");
        assert_eq!(kind("create external table x stored as csv location '/etc/passwd'"), "CREATE EXTERNAL TABLE");
        assert_eq!(kind("COPY (SELECT 1) TO '/tmp/x.csv'"), "COPY");
    }
}
