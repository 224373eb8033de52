//! Traces that arrive over OTLP (`POST /v1/traces`) in many requests: their spans are
//! held until the trajectory they make (a trace, or every trace of one conversation) has
//! been quiet for a while, then stored as one record, de-duplicated like any import.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use trajstore_formats::otlp::{assemble, trajectory_keys, OtlpOptions, Span};
use trajstore_model::Trajectory;

use crate::import::ImportErrorEntry;
use crate::{Result, Trajstore};

/// Spans held at most; beyond it the trajectories quiet the longest are stored early.
pub const MAX_HELD_SPANS: usize = 200_000;

/// A trace whose root span (the one without a parent, which ends last and is exported
/// last) has not arrived is waited for this many quiet times before it is stored anyway.
const ROOTLESS_WAIT: u32 = 6;

/// The spans of unfinished traces.
pub struct TraceBuffer {
    held: Mutex<Held>,
    quiet: Duration,
    options: OtlpOptions,
}

#[derive(Default)]
struct Held {
    traces: HashMap<String, HeldTrace>,
    spans: usize,
}

struct HeldTrace {
    spans: Vec<Span>,
    /// The span ids held: a span an exporter sends again is held once.
    span_ids: HashSet<String>,
    has_root: bool,
    last_seen: Instant,
}

/// What one flush stored.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TraceFlush {
    pub trajectories: u64,
    pub stored: u64,
    /// Already stored: spans that came after their trajectory was stored (they are not
    /// added to it).
    pub skipped: u64,
    pub failed: u64,
    pub errors: Vec<ImportErrorEntry>,
}

impl TraceBuffer {
    /// A trajectory is stored once no span of it has arrived for `quiet`.
    pub fn new(quiet: Duration, options: OtlpOptions) -> Self {
        TraceBuffer { held: Mutex::default(), quiet, options }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn push(&self, spans: Vec<Span>) {
        let now = Instant::now();
        let mut held = self.lock();
        for span in spans {
            let trace = held.traces.entry(span.trace_id.clone()).or_insert_with(|| HeldTrace {
                spans: Vec::new(),
                span_ids: HashSet::new(),
                has_root: false,
                last_seen: now,
            });
            trace.last_seen = now;
            if !trace.span_ids.insert(span.span_id.clone()) {
                continue;
            }
            trace.has_root |= span.parent_span_id.is_none();
            trace.spans.push(span);
            held.spans += 1;
        }
    }

    /// Traces and spans held.
    pub fn held(&self) -> (usize, usize) {
        let held = self.lock();
        (held.traces.len(), held.spans)
    }

    /// Takes the trajectories that have been quiet long enough (all of them with `all`,
    /// and the oldest beyond [`MAX_HELD_SPANS`]), each as its id and its spans. A trace
    /// still without its root span is given [`ROOTLESS_WAIT`] quiet times.
    fn take(&self, all: bool) -> Vec<(String, Vec<Span>)> {
        let now = Instant::now();
        let mut held = self.lock();
        let flat: Vec<&Span> = held.traces.values().flat_map(|t| t.spans.iter()).collect();
        let groups: Vec<(String, HashSet<String>)> = trajectory_keys(&flat)
            .into_iter()
            .map(|(key, members)| (key, members.iter().map(|&i| flat[i].trace_id.clone()).collect()))
            .collect();
        let mut by_age: Vec<(Instant, bool, String, HashSet<String>)> = groups
            .into_iter()
            .map(|(key, traces)| {
                let held_traces: Vec<&HeldTrace> = traces.iter().filter_map(|t| held.traces.get(t)).collect();
                let last = held_traces.iter().map(|t| t.last_seen).max();
                let rooted = held_traces.iter().all(|t| t.has_root);
                (last.unwrap_or(now), rooted, key, traces)
            })
            .collect();
        by_age.sort_by_key(|(last, _, _, _)| *last);
        let mut over = held.spans.saturating_sub(MAX_HELD_SPANS);
        let mut taken = Vec::new();
        for (last, rooted, key, traces) in by_age {
            let quiet_for = now.duration_since(last);
            let wait = if rooted { self.quiet } else { self.quiet * ROOTLESS_WAIT };
            if !(all || quiet_for >= wait || over > 0) {
                continue;
            }
            let mut spans = Vec::new();
            for t in traces {
                if let Some(trace) = held.traces.remove(&t) {
                    spans.extend(trace.spans);
                }
            }
            held.spans -= spans.len();
            over = over.saturating_sub(spans.len());
            taken.push((key, spans));
        }
        taken
    }
}

impl Trajstore {
    /// Stores the trajectories of `buffer` that are complete (all of them with `all`, as
    /// at shutdown).
    pub async fn store_quiet_traces(&self, buffer: &TraceBuffer, all: bool) -> Result<TraceFlush> {
        let taken = buffer.take(all);
        let mut flush = TraceFlush { trajectories: taken.len() as u64, ..Default::default() };
        if taken.is_empty() {
            return Ok(flush);
        }
        let options = buffer.options.clone();
        let (rows, errors, taken) = crate::on_blocking_thread(move || {
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            for (key, spans) in &taken {
                let refs: Vec<&Span> = spans.iter().collect();
                let record =
                    assemble(key, &refs, &options).and_then(|r| Trajectory::from_json(r.to_string().as_bytes()));
                match record {
                    Ok(t) => rows.push(t),
                    Err(e) => errors.push(ImportErrorEntry {
                        file: format!("trace {key}"),
                        line: None,
                        index: None,
                        field: e.field,
                        message: e.message,
                    }),
                }
            }
            (rows, errors, taken)
        })
        .await?;
        flush.failed = errors.len() as u64;
        flush.errors = errors;
        if !rows.is_empty() {
            match self.add(rows).await {
                Ok(added) => {
                    flush.stored = added.inserted;
                    flush.skipped = added.skipped;
                }
                Err(e) => {
                    // Held again, to be stored at the next flush.
                    buffer.push(taken.into_iter().flat_map(|(_, spans)| spans).collect());
                    return Err(e);
                }
            }
        }
        Ok(flush)
    }
}
