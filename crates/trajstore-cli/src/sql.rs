//! `trajstore sql` (one read-only query, printed as a table, JSON or CSV) and
//! `trajstore tools` (tool-call analytics).

use std::time::Duration;

use clap::Args;
use trajstore::{Error, Result, SqlRequest, SqlSettings, ToolsRequest};

use crate::commands::filter_pairs;
use crate::location::Location;
use crate::output::{cell, fmt_value, print_json};
use crate::FilterArgs;

/// The limits of SQL queries, for `trajstore sql` and `trajstore serve`.
#[derive(Args, Clone)]
pub struct SqlLimitArgs {
    /// Seconds a SQL query may run.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub sql_timeout: f64,
    /// Rows a SQL query returns at most (a longer result is cut and marked truncated).
    #[arg(long, value_name = "ROWS", default_value_t = 10_000)]
    pub sql_max_rows: usize,
    /// MiB a SQL query's sorts, aggregations and joins may hold.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub sql_memory_mb: usize,
}

impl SqlLimitArgs {
    pub fn settings(&self) -> Result<SqlSettings> {
        let timeout = Duration::try_from_secs_f64(self.sql_timeout).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
            Error::invalid("--sql-timeout", format!("expected seconds > 0, got {}", self.sql_timeout))
        })?;
        if self.sql_max_rows == 0 {
            return Err(Error::invalid("--sql-max-rows", "expected at least 1"));
        }
        if self.sql_memory_mb == 0 {
            return Err(Error::invalid("--sql-memory-mb", "expected at least 1"));
        }
        let memory_bytes = self
            .sql_memory_mb
            .checked_mul(1 << 20)
            .ok_or_else(|| Error::invalid("--sql-memory-mb", format!("too large: {}", self.sql_memory_mb)))?;
        Ok(SqlSettings { max_rows: self.sql_max_rows, timeout, memory_bytes })
    }
}

#[derive(Args)]
pub struct SqlArgs {
    /// One SELECT (or WITH, VALUES) over the tables `trajectories`, `steps` and
    /// `tool_calls` (docs/sql.md).
    pub query: String,
    /// Print CSV (a header line, then the rows) instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    #[command(flatten)]
    pub limits: SqlLimitArgs,
}

pub async fn sql(db: &Location, json: bool, args: SqlArgs) -> Result<i32> {
    let store = db.builder().sql_settings(args.limits.settings()?).open().await?;
    let result = store.sql(&SqlRequest { sql: args.query, max_rows: None }).await?;
    if args.csv {
        result.write_csv(std::io::stdout().lock())?;
    } else if json {
        print_json(&result.answer()?);
    } else {
        print_table(&result.answer()?);
    }
    if result.truncated() && !json {
        eprintln!("(truncated: the first {} rows; raise --sql-max-rows for more)", result.row_limit());
    }
    Ok(0)
}

fn print_table(answer: &trajstore::SqlAnswer) {
    let texts: Vec<Vec<String>> = answer.rows.iter().map(|r| r.iter().map(fmt_value).collect()).collect();
    let widths: Vec<usize> = answer
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| texts.iter().map(|r| r[i].chars().count()).chain([c.name.len()]).max().unwrap_or(1).min(60))
        .collect();
    let line = |cells: Vec<String>| cells.join(" ").trim_end().to_string();
    println!("{}", line(answer.columns.iter().zip(&widths).map(|(c, w)| cell(&c.name, *w)).collect()));
    for row in &texts {
        println!("{}", line(row.iter().zip(&widths).map(|(v, w)| cell(v, *w)).collect()));
    }
    eprintln!("{} rows · {:.0} ms", answer.rows.len(), answer.elapsed_ms);
}

#[derive(Args)]
pub struct ToolsArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Where is_success is absent, a trajectory succeeds when reward >= this.
    #[arg(long, default_value = "1.0")]
    pub success_threshold: String,
}

pub async fn tools(db: &Location, json: bool, args: ToolsArgs) -> Result<i32> {
    let pairs = filter_pairs(&args.filters)?;
    let mut params: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    params.push(("success_threshold", &args.success_threshold));
    let request = ToolsRequest::parse(params)?;
    let report = db.open().await?.tool_usage(&request).await?;
    if json {
        print_json(&report);
        return Ok(0);
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    println!(
        "{} {} {} {} {} {}",
        cell("TOOL", 24),
        cell("CALLS", 9),
        cell("USED BY", 8),
        cell("ERRORS", 8),
        cell("IN OK", 8),
        cell("IN FAILED", 9)
    );
    for t in &report.tools {
        println!(
            "{} {} {} {} {} {}",
            cell(t.tool_name.as_deref().unwrap_or("(no name)"), 24),
            cell(&t.calls.to_string(), 9),
            cell(&pct(Some(t.trajectory_share)), 8),
            cell(&pct(t.error_rate), 8),
            cell(&pct(t.share_in_successful), 8),
            cell(&pct(t.share_in_failed), 9),
        );
    }
    eprintln!("{} trajectories · {} successful · {} failed", report.trajectories, report.successful, report.failed);
    Ok(0)
}
