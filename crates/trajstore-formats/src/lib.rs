//! Real-world trajectory formats, converted into native trajstore records.
//!
//! Every format module knows only its own layout and builds native records through the
//! shared normaliser ([`normalize`]): messages, tool calls (arguments become JSON objects
//! when they parse, strings otherwise), observations and content (null, a string or a list
//! of typed blocks). Whatever a source holds that the native model has no field for is
//! kept in the record's `metadata`, so nothing is lost.
//!
//! * [`detect`] names the format of a file from its content (a prefix is enough for the
//!   native check; other formats are recognised from their distinctive keys).
//! * [`convert`] turns one whole file into native records (as JSON values), each with
//!   its place in the file, or a per-record error.
//!
//! Native files are not converted here: the ingest crate streams them itself.

mod detect;
pub mod normalize;
mod usage;
mod zipfile;

mod atif;
mod inspect;
mod intercode;
mod mini_swe_agent;
mod openai_chat;
mod openhands;
mod responses;
mod swe_agent;
mod tau2;
mod tau_bench;
mod verl;

// Verifier reports (CTRF, SWE-bench) as `metadata.verifier_tests`, for several formats.
mod verifier;

// The second wave: coding-agent sessions, harness trials, RL environments, benchmarks.
mod agentdojo;
mod aider;
mod claude_code;
mod codex;
mod gemini_cli;
mod harbor;
mod opencode;
mod verifiers;

// OpenTelemetry traces of LLM agents (OTLP/JSON files; the server decodes protobuf too).
pub mod otlp;

use std::path::Path;

pub use detect::{detect, detect_native_prefix};
pub use trajstore_model::RecordError;

/// A trajectory format trajstore reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Native,
    OpenaiChat,
    TauBench,
    Tau2,
    Intercode,
    Responses,
    MiniSweAgent,
    SweAgent,
    Inspect,
    Openhands,
    Verl,
    Atif,
    ClaudeCode,
    Codex,
    GeminiCli,
    Opencode,
    Aider,
    Harbor,
    Verifiers,
    Agentdojo,
    Otlp,
}

impl Format {
    /// Every format, in the order detection and error messages list them.
    pub const ALL: [Format; 21] = [
        Format::Native,
        Format::OpenaiChat,
        Format::TauBench,
        Format::Tau2,
        Format::Intercode,
        Format::Responses,
        Format::MiniSweAgent,
        Format::SweAgent,
        Format::Inspect,
        Format::Openhands,
        Format::Verl,
        Format::Atif,
        Format::ClaudeCode,
        Format::Codex,
        Format::GeminiCli,
        Format::Opencode,
        Format::Aider,
        Format::Harbor,
        Format::Verifiers,
        Format::Agentdojo,
        Format::Otlp,
    ];

    /// The name used on the command line, over HTTP, in import reports and in ids.
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::OpenaiChat => "openai-chat",
            Format::TauBench => "tau-bench",
            Format::Tau2 => "tau2",
            Format::Intercode => "intercode",
            Format::Responses => "responses",
            Format::MiniSweAgent => "mini-swe-agent",
            Format::SweAgent => "swe-agent",
            Format::Inspect => "inspect",
            Format::Openhands => "openhands",
            Format::Verl => "verl",
            Format::Atif => "atif",
            Format::ClaudeCode => "claude-code",
            Format::Codex => "codex",
            Format::GeminiCli => "gemini-cli",
            Format::Opencode => "opencode",
            Format::Aider => "aider",
            Format::Harbor => "harbor",
            Format::Verifiers => "verifiers",
            Format::Agentdojo => "agentdojo",
            Format::Otlp => "otlp",
        }
    }

    /// The names, comma-separated, for error messages.
    pub fn names() -> String {
        Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    }

    /// Parses a format name (`_` and `-` are interchangeable, case is ignored).
    pub fn parse(name: &str) -> Result<Format, FormatError> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match wanted.as_str() {
            "openai" | "chat" => "openai-chat",
            "taubench" | "tau" => "tau-bench",
            "tau2-bench" => "tau2",
            "nemo-gym" | "openai-responses" => "responses",
            "sweagent" => "swe-agent",
            "mini-swe" | "minisweagent" => "mini-swe-agent",
            "inspect-ai" => "inspect",
            "claude" | "claudecode" => "claude-code",
            "codex-cli" => "codex",
            "gemini" | "geminicli" => "gemini-cli",
            "terminal-bench" => "harbor",
            "prime-rl" => "verifiers",
            "otel" | "opentelemetry" => "otlp",
            other => other,
        };
        Format::ALL
            .into_iter()
            .find(|f| f.name() == alias)
            .ok_or_else(|| FormatError::UnknownFormat { name: name.to_string(), known: Format::names() })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors about a whole file or a format name (a bad record is a [`RecordError`] instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown format {name:?}; known formats: auto, {known}")]
    UnknownFormat { name: String, known: String },
    #[error("{file}: not a recognised trajectory file (tried: {tried})")]
    Unrecognised { file: String, tried: String },
    #[error("{file}: not a valid {format} file: {message}")]
    Invalid { file: String, format: &'static str, message: String },
}

/// One file to convert: its bytes (decompressed) and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    /// The name the file goes by in errors and in each record's `source`.
    pub label: &'a str,
    /// The file on disk, when there is one (mini-swe-agent looks for its labels beside it).
    pub path: Option<&'a Path>,
    pub bytes: &'a [u8],
    /// A directory of `<instance_id>/report.json` labels (mini-swe-agent's `--labels`).
    pub labels_dir: Option<&'a Path>,
}

/// Where a converted record was in its file: the 1-based line of a JSON Lines file, the
/// 0-based position in a list (or in a dict, or the archive member order of a `.eval`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub line: Option<u64>,
    pub index: Option<u64>,
}

/// One native record (as JSON, ready for `Trajectory::from_json`) or why it could not be made.
#[derive(Debug, Clone)]
pub struct Converted {
    pub position: Position,
    pub record: Result<serde_json::Value, RecordError>,
}

/// Converts one whole file of `format` into native records, in file order.
/// `Native` is refused: native files are streamed by the ingest crate.
pub fn convert(format: Format, file: &SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let mut ctx = normalize::Context::new(format, file);
    match format {
        Format::Native => Err(FormatError::Invalid {
            file: file.label.to_string(),
            format: "native",
            message: "native files are read by the streaming reader".into(),
        }),
        Format::OpenaiChat => openai_chat::convert(&mut ctx, file),
        Format::TauBench => tau_bench::convert(&mut ctx, file),
        Format::Tau2 => tau2::convert(&mut ctx, file),
        Format::Intercode => intercode::convert(&mut ctx, file),
        Format::Responses => responses::convert(&mut ctx, file),
        Format::MiniSweAgent => mini_swe_agent::convert(&mut ctx, file),
        Format::SweAgent => swe_agent::convert(&mut ctx, file),
        Format::Inspect => inspect::convert(&mut ctx, file),
        Format::Openhands => openhands::convert(&mut ctx, file),
        Format::Verl => verl::convert(&mut ctx, file),
        Format::Atif => atif::convert(&mut ctx, file),
        Format::ClaudeCode => claude_code::convert(&mut ctx, file),
        Format::Codex => codex::convert(&mut ctx, file),
        Format::GeminiCli => gemini_cli::convert(&mut ctx, file),
        Format::Opencode => opencode::convert(&mut ctx, file),
        Format::Aider => aider::convert(&mut ctx, file),
        Format::Harbor => harbor::convert(&mut ctx, file),
        Format::Verifiers => verifiers::convert(&mut ctx, file),
        Format::Agentdojo => agentdojo::convert(&mut ctx, file),
        Format::Otlp => otlp::convert(&mut ctx, file),
    }
}

/// True for a file that a directory walk leaves out because a format reads it together
/// with another file (a label, a verifier report, a run's metadata): importing it on its
/// own would fail or import a record twice.
pub fn is_companion_file(path: &Path) -> bool {
    mini_swe_agent::is_label_file(path) || harbor::is_companion(path) || verifiers::is_companion(path)
}

/// Native trajectory JSON as one ATIF document (for `trajstore export --format atif`).
pub use atif::native_to_atif;
