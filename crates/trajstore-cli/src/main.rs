//! `trajstore`: the command line. Parses arguments, calls the library, prints.
//! With `--json` every command prints exactly one JSON document on stdout (an error
//! too, as `{"error": {...}}`); everything else goes to stderr.

mod commands;
mod failure_modes;
mod follow;
mod location;
mod output;
mod search;
mod sql;
mod training;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// jemalloc instead of glibc's allocator: an import's many short-lived buffers of all
/// sizes left glibc holding freed memory (the process's resident size grew with every
/// batch written, to twice its live heap), where jemalloc returns it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "trajstore", version, about = "Store, query and explore LLM-agent trajectories")]
struct Cli {
    /// The store: a directory (created when missing) or an object-store URI.
    #[arg(long, global = true, env = "TRAJSTORE_DB", default_value = "./trajstore-data")]
    db: String,
    /// An option of the object store, KEY=VALUE (repeatable), e.g. aws_endpoint=URL,
    /// aws_region=us-east-1, aws_virtual_hosted_style_request=true; the standard AWS_*
    /// environment variables are read too.
    #[arg(long = "storage-option", global = true, value_name = "KEY=VALUE")]
    storage_options: Vec<String>,
    /// Write to an s3:// store without checking that it honours conditional writes:
    /// only when no other process writes to it.
    #[arg(long, global = true)]
    single_writer: bool,
    /// Print exactly one JSON document on stdout and nothing else.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
pub struct FilterArgs {
    /// A filter NAME=VALUE (repeatable; all must hold), e.g. reward_min=0.5,
    /// training_id=run-*, termination_reason=error,timeout, metadata.model=qwen.
    #[arg(long = "filter", short = 'f', value_name = "NAME=VALUE")]
    pub filters: Vec<String>,
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Require `Authorization: Bearer TOKEN` on every write endpoint.
    #[arg(long, env = "TRAJSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Require the token for reads too.
    #[arg(long)]
    pub token_reads: bool,
    /// A directory whose files `POST /api/imports {"path"}` may read (repeatable; none
    /// refuses server-side paths).
    #[arg(long = "import-root", value_name = "DIR")]
    pub import_roots: Vec<PathBuf>,
    /// The largest request body accepted, in MiB (uploads included).
    #[arg(long, default_value_t = 1024)]
    pub max_body_mb: usize,
    /// Fill missing embeddings (for similarity search) in the background every 30 s.
    #[arg(long)]
    pub embed: bool,
    /// Answer every list and statistic from the store instead of an in-memory copy of
    /// the summary rows (which costs about their size in memory).
    #[arg(long)]
    pub no_memory_index: bool,
    /// Seconds without a new span after which a trace sent to /v1/traces (OTLP) is
    /// stored as a trajectory.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub otlp_quiet: f64,
    /// The prefix of the span and resource attributes that carry RL keys and labels
    /// (PREFIXtraining_id, PREFIXiteration_id, PREFIXreward, ...).
    #[arg(long, value_name = "PREFIX", default_value = "trajstore.")]
    pub otlp_prefix: String,
    /// Seconds between two looks for rows that the full-text index does not cover yet
    /// (imports leave them unindexed), which are then folded in; 0 turns this off.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub index_interval: f64,
    /// Seconds within which writes by other processes (importers, other servers) become
    /// visible here. Default: 0 (every read looks) for a local store, 2 for an object
    /// store, where each look is a request.
    #[arg(long, value_name = "SECONDS")]
    pub refresh_interval: Option<f64>,
    #[command(flatten)]
    pub sql: sql::SqlLimitArgs,
    // For `llm_labels=true` on POST /api/failure-modes.
    #[command(flatten)]
    pub llm: failure_modes::LlmArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Import trajectory files (native JSONL/JSON or the formats of agent frameworks and
    /// RL trainers; .gz, .zst; directories, globs, - for stdin).
    Import(ImportArgs),
    /// List trajectories: filtered, sorted over the whole set, paged.
    Query(QueryArgs),
    /// Show one trajectory with its steps.
    Show { id: String },
    /// Export every matching trajectory (JSONL, Parquet, ATIF or Arrow, chosen by --format or the extension).
    Export(ExportArgs),
    /// Success rate, pass@k, pass^k and reward statistics, overall and per group; or a
    /// curve over epochs or iterations with --curve.
    Stats(StatsArgs),
    /// RL prompt groups: the samples of each data_id within a training step (or the keys
    /// --by names), with reward spread and kind; --show lists one group's members with
    /// their GRPO and RLOO advantages.
    Groups(training::GroupsArgs),
    /// Tasks learned and forgotten between two sides of a run (two steps, epochs or runs).
    DiffRuns(training::DiffArgs),
    /// Compact the store, update its indexes and prune old versions.
    Optimize,
    /// Trajectories similar in meaning to trajectory ID, or to --text TEXT.
    Similar {
        id: Option<String>,
        #[arg(long)]
        text: Option<String>,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Full-text search (BM25) over questions, messages, tool calls and tool outputs.
    Search {
        text: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Run one read-only SQL query (SELECT, WITH, VALUES) over the tables `trajectories`,
    /// `steps` and `tool_calls`.
    Sql(sql::SqlArgs),
    /// Per tool: calls, the share of trajectories that use it, its error rate, and its
    /// share in successful against failed trajectories.
    Tools(sql::ToolsArgs),
    /// Cluster the failed trajectories by what went wrong (offline), label each cluster
    /// by its distinctive words, and store the labels as the column failure_mode.
    FailureModes(failure_modes::FailureModesArgs),
    /// Compute the embeddings that similarity search needs, for rows that lack one.
    Embed {
        /// Text embedded: question+answer (the question and the last assistant message) or question.
        #[arg(long, default_value = "question+answer")]
        text_source: String,
        /// Rows per commit: each commit rewrites the embedding column of the (up to
        /// 65,536-row) fragments it touches, so small batches write much more.
        #[arg(long, default_value_t = 16_384)]
        batch: usize,
        /// Stop after this many rows.
        #[arg(long)]
        max: Option<u64>,
        /// Only make the model ready (distilling its static tier from all-MiniLM-L6-v2
        /// once, which takes a minute or two) and embed nothing: for setup scripts.
        #[arg(long)]
        prepare_model: bool,
    },
    /// Serve the JSON API (and the web UI) over HTTP.
    Serve {
        #[command(flatten)]
        server: ServeArgs,
    },
    /// Generate realistic demo data, import it, and serve it.
    Demo(DemoArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Input format: auto (detected per file from its content) or one of native,
    /// openai-chat, tau-bench, tau2, intercode, responses, mini-swe-agent, swe-agent,
    /// inspect, openhands, verl, atif, claude-code, codex, gemini-cli, opencode, aider,
    /// harbor, verifiers, agentdojo, otlp (docs/formats.md).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// mini-swe-agent labels: a directory of `<instance_id>/report.json` (default: the
    /// `logs/` folder beside `trajs/`).
    #[arg(long, value_name = "DIR")]
    pub labels: Option<PathBuf>,
    /// Import nothing if any record is bad.
    #[arg(long)]
    pub strict: bool,
    /// Do not look for ids already stored: only for a fresh store and one import of
    /// unique ids (a repeated id is stored twice).
    #[arg(long)]
    pub skip_duplicate_check: bool,
    /// Fold the imported rows into the full-text and other indexes (and optimize)
    /// before exiting. Without it the command exits once the rows are stored: they are
    /// visible to every query at once, and full-text search scans the rows its index
    /// does not cover yet until `trajstore serve` (in the background) or
    /// `trajstore optimize` folds them in.
    #[arg(long)]
    pub wait_for_index: bool,
    /// Accepted for scripts written for earlier versions: imports no longer optimize
    /// unless --wait-for-index is given.
    #[arg(long, hide = true)]
    pub no_optimize: bool,
    /// Keep importing the files that appear in the one folder given, and the lines
    /// appended to them, until Ctrl-C; a restart resumes where the last run stopped.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: seconds between two looks at the folder.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, requires = "follow")]
    pub interval: f64,
    /// With --follow: seconds a file that is imported whole (not line by line) must stay
    /// unchanged first.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, requires = "follow")]
    pub settle: f64,
    /// With --follow: the file that records where the import stands (default: one per
    /// folder under the store's `follow/` folder; required for a store on object storage).
    #[arg(long, value_name = "FILE", requires = "follow")]
    pub state: Option<PathBuf>,
}

#[derive(Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Sort column (trajectory_id, reward, created_at, step_count, ...).
    #[arg(long, default_value = "created_at")]
    pub sort: String,
    #[arg(long, default_value = "desc")]
    pub order: String,
    #[arg(long, default_value_t = 1)]
    pub page: u64,
    #[arg(long, default_value_t = 20)]
    pub page_size: u64,
    /// Continue after the page that returned this next_cursor.
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Output file, or - for stdout.
    pub out: PathBuf,
    /// jsonl (native), parquet, atif (one ATIF v1.8 document per line), arrow (an Arrow
    /// IPC stream; `.arrow`/`.arrows`), or arrow-summary (the summary columns only).
    #[arg(long)]
    pub format: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Group by these columns (comma-separated): training_id, agent_name, data_id,
    /// termination_reason, source, epoch_id, iteration_id, sample_id.
    #[arg(long)]
    pub group_by: Option<String>,
    /// The k of pass@k and pass^k (comma-separated).
    #[arg(long, default_value = "1")]
    pub k: String,
    /// Where is_success is absent, a trajectory succeeds when reward >= this.
    #[arg(long, default_value = "1.0")]
    pub success_threshold: String,
    /// Points for a training curve over epoch_id or iteration_id.
    #[arg(long)]
    pub curve: Option<String>,
    /// One curve per value of this column (with --curve).
    #[arg(long, default_value = "training_id")]
    pub series: String,
}

#[derive(Args)]
pub struct DemoArgs {
    /// How many trajectories to generate.
    #[arg(long, default_value_t = 2400)]
    pub trajectories: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Import only; do not start the server.
    #[arg(long)]
    pub no_serve: bool,
    #[command(flatten)]
    pub server: ServeArgs,
}

fn main() {
    // Rust ignores SIGPIPE, which turns a closed pipe into a panic on the next print;
    // a command-line tool should end quietly instead, as `cat` does.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // SAFETY: the first thing main does; no other thread exists yet.
    unsafe { trajstore::configure_process() };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => output::report_usage_error(e, std::env::args_os().any(|a| a == "--json")),
    };
    let json = cli.json;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => output::report_error(&e, json),
    };
    // Lance may keep background tasks; leave without waiting for them.
    runtime.shutdown_background();
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn import_help_names_every_format() {
        let cli = Cli::command();
        let import = cli.find_subcommand("import").expect("an import command");
        let format = import.get_arguments().find(|a| a.get_id() == "format").expect("a --format flag");
        let help = format.get_help().expect("help for --format").to_string();
        for f in trajstore::Format::ALL {
            assert!(help.contains(f.name()), "--format's help does not name {}", f.name());
        }
    }
}
