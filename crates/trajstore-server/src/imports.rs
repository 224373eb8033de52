//! Background imports: a registry of tasks with live progress.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use trajstore::{ImportOptions, ImportProgress, ImportReport, Input, ReadOptions, Trajstore};

/// One import to start: what to read, the name to report it under, and how to read it.
pub struct Job {
    pub input: Input,
    pub source: String,
    /// A spooled upload, removed when the import is done.
    pub keep: Option<tempfile::TempPath>,
    pub read: ReadOptions,
}

#[derive(Clone)]
enum Status {
    Queued,
    Running,
    Done(Arc<ImportReport>),
    Failed(String),
}

struct Task {
    id: String,
    source: String,
    status: Status,
    progress: Arc<ImportProgress>,
    created: std::time::SystemTime,
}

/// All import tasks of this server process (the most recent 100 are kept).
#[derive(Clone, Default)]
pub struct Imports {
    tasks: Arc<Mutex<Vec<Task>>>,
    next: Arc<AtomicU64>,
    /// Set on shutdown: running imports finish their current batch and stop.
    pub cancel: Arc<AtomicBool>,
    running: Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
}

const KEEP_TASKS: usize = 100;

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Queued,
    Running,
    Done,
    Failed,
}

/// An import task: its progress, and its report when done or its error when failed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportTask {
    pub task_id: String,
    /// The file on the server, or the name an upload was sent with.
    pub source: String,
    pub status: TaskStatus,
    /// Seconds since the Unix epoch.
    pub created_at: f64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub records_done: u64,
    pub imported: u64,
    pub skipped: u64,
    pub failed: u64,
    #[schema(value_type = Option<ImportReport>)]
    pub result: Option<Arc<ImportReport>>,
    pub error: Option<String>,
}

impl Imports {
    fn with_task<R>(&self, id: &str, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.iter_mut().find(|t| t.id == id).map(f)
    }

    /// Starts `job` in the background; its spooled upload lives until it is done.
    pub async fn start(&self, store: Trajstore, job: Job) -> String {
        let Job { input, source, keep, read } = job;
        let id = format!("import-{}-{}", std::process::id(), self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let progress = Arc::new(ImportProgress::default());
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            tasks.push(Task {
                id: id.clone(),
                source: source.clone(),
                status: Status::Queued,
                progress: progress.clone(),
                created: std::time::SystemTime::now(),
            });
            let excess = tasks.len().saturating_sub(KEEP_TASKS);
            tasks.drain(..excess);
        }
        let this = self.clone();
        let task_id = id.clone();
        let opts = ImportOptions { cancel: self.cancel.clone(), read, ..Default::default() };
        // An upload is reported under the name it was sent with, not its temporary file.
        let upload = keep.as_ref().map(|path| (path.display().to_string(), source));
        self.running.lock().await.spawn(async move {
            this.with_task(&task_id, |t| t.status = Status::Running);
            let mut result = store.import(vec![input], opts, progress).await;
            drop(keep);
            if let (Ok(report), Some((path, name))) = (&mut result, &upload) {
                report.rename_file(path, name);
            }
            let status = match result {
                Ok(report) => Status::Done(Arc::new(report)),
                Err(e) => Status::Failed(match &upload {
                    Some((path, name)) => e.to_string().replace(path.as_str(), name),
                    None => e.to_string(),
                }),
            };
            this.with_task(&task_id, |t| t.status = status);
        });
        id
    }

    fn describe(t: &Task) -> ImportTask {
        let p = &t.progress;
        let (status, result, error) = match &t.status {
            Status::Queued => (TaskStatus::Queued, None, None),
            Status::Running => (TaskStatus::Running, None, None),
            Status::Done(r) => (TaskStatus::Done, Some(r.clone()), None),
            Status::Failed(e) => (TaskStatus::Failed, None, Some(e.clone())),
        };
        let created = t.created.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        ImportTask {
            task_id: t.id.clone(),
            source: t.source.clone(),
            status,
            created_at: created,
            bytes_done: p.read.bytes_read.load(Ordering::Relaxed),
            bytes_total: p.bytes_total.load(Ordering::Relaxed),
            records_done: p.read.records.load(Ordering::Relaxed),
            imported: p.imported.load(Ordering::Relaxed),
            skipped: p.skipped.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
            result,
            error,
        }
    }

    pub fn get(&self, id: &str) -> Option<ImportTask> {
        self.with_task(id, |t| Self::describe(t))
    }

    pub fn list(&self) -> Vec<ImportTask> {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.iter().rev().map(Self::describe).collect()
    }

    /// Waits for every running import (after `cancel` was set, each stops after its batch).
    pub async fn wait_all(&self) {
        let mut running = self.running.lock().await;
        while running.join_next().await.is_some() {}
    }
}
