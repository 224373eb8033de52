//! Background failure-mode analyses: a registry of tasks with their stage and progress.
//! One analysis runs at a time (each uses every core); others wait their turn.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use trajstore::{FailureModes, FailureModesProgress, FailureModesRequest, Trajstore};

#[derive(Clone)]
enum Status {
    Queued,
    Running,
    Done(Arc<FailureModes>),
    Failed(String),
}

struct Task {
    id: String,
    status: Status,
    progress: Arc<FailureModesProgress>,
}

/// The analysis tasks of this server process (the most recent 20 are kept).
#[derive(Clone, Default)]
pub struct Analyses {
    tasks: Arc<Mutex<Vec<Task>>>,
    next: Arc<AtomicU64>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

const KEEP_TASKS: usize = 20;

/// An analysis task: where it stands, and its result when done or its error when failed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnalysisTask {
    pub task_id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: &'static str,
    /// `queued`, `reading`, `embedding`, `clustering`, `labelling`, `storing`, `done`.
    pub stage: &'static str,
    /// Items done of the stage's total (texts embedded, say).
    pub done: u64,
    pub total: u64,
    #[schema(value_type = Option<FailureModes>)]
    pub result: Option<Arc<FailureModes>>,
    pub error: Option<String>,
}

impl Analyses {
    fn with_task<R>(&self, id: &str, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.iter_mut().find(|t| t.id == id).map(f)
    }

    /// Starts a failure-mode analysis in the background; `None` while another is queued
    /// or running (each uses every core, and a second would relabel the same rows).
    pub fn start(&self, store: Trajstore, request: FailureModesRequest) -> Option<String> {
        let busy = {
            let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            tasks.iter().any(|t| matches!(t.status, Status::Queued | Status::Running))
        };
        if busy {
            return None;
        }
        let id = format!("analysis-{}-{}", std::process::id(), self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let progress = Arc::new(FailureModesProgress::default());
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            tasks.push(Task { id: id.clone(), status: Status::Queued, progress: progress.clone() });
            let excess = tasks.len().saturating_sub(KEEP_TASKS);
            tasks.drain(..excess);
        }
        let (this, task_id) = (self.clone(), id.clone());
        tokio::spawn(async move {
            let _turn = this.turn.lock().await;
            this.with_task(&task_id, |t| t.status = Status::Running);
            let status = match store.failure_modes(&request, progress).await {
                Ok(result) => Status::Done(Arc::new(result)),
                Err(e) => Status::Failed(e.to_string()),
            };
            this.with_task(&task_id, |t| t.status = status);
        });
        Some(id)
    }

    pub fn get(&self, id: &str) -> Option<AnalysisTask> {
        self.with_task(id, |t| {
            let (status, result, error) = match &t.status {
                Status::Queued => ("queued", None, None),
                Status::Running => ("running", None, None),
                Status::Done(r) => ("done", Some(r.clone()), None),
                Status::Failed(e) => ("failed", None, Some(e.clone())),
            };
            AnalysisTask {
                task_id: t.id.clone(),
                status,
                stage: t.progress.stage(),
                done: t.progress.done.load(Ordering::Relaxed),
                total: t.progress.total.load(Ordering::Relaxed),
                result,
                error,
            }
        })
    }
}
