//! JSON Lines, parsed in parallel: while one chunk of lines is read, the one before it is
//! parsed, split across the cores, and then its items are emitted in input order.

use std::io::BufRead;
use std::ops::Range;
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

use serde::de::IgnoredAny;

use super::{emit_document, Item, ItemError, Location, Progress};

/// JSON Lines are parsed in chunks of about this many bytes (or [`CHUNK_LINES`] lines).
pub(super) const CHUNK_BYTES: usize = 4 << 20;
pub(super) const CHUNK_LINES: usize = 2048;

/// Threads that parse one chunk: parsing is the import's longest single task, and with
/// one thread the writer waited for it at the start and end of every import.
pub(super) fn parse_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// Lines read back to back, with each line's number and byte range.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    lines: Vec<(u64, usize, usize)>,
}

impl Chunk {
    fn is_full(&self) -> bool {
        self.data.len() >= CHUNK_BYTES || self.lines.len() >= CHUNK_LINES
    }

    fn clear(&mut self) {
        self.data.clear();
        self.lines.clear();
    }

    /// Splits the lines into up to `threads` runs of about equal bytes (one line may hold
    /// megabytes, so lines are not counted).
    fn parts(&self, threads: usize) -> Vec<Range<usize>> {
        let share = self.data.len() / threads.max(1) + 1;
        let mut parts = Vec::with_capacity(threads);
        let mut first = 0;
        while first < self.lines.len() {
            let start = self.lines[first].1;
            let n = self.lines[first..].iter().take_while(|l| l.1 < start + share).count().max(1);
            parts.push(first..first + n);
            first += n;
        }
        parts
    }

    fn parse(&self, part: Range<usize>, file: &Arc<str>, progress: &Progress) -> Vec<Item> {
        let mut items = Vec::with_capacity(part.len());
        for &(line_no, start, end) in &self.lines[part] {
            emit_document(&self.data[start..end], file, Some(line_no), progress, &mut |item| {
                items.push(item);
                true
            });
        }
        items
    }
}

/// One run of a chunk's lines: parsed on a thread, or (a line of a chunk's size or
/// more, or when no thread could be started) parsed by the reader as it emits, so that a
/// huge format-2 line streams its records instead of holding them all.
enum Part<'scope> {
    Thread(ScopedJoinHandle<'scope, Vec<Item>>),
    Streamed(Range<usize>),
}

/// A chunk being parsed, and its parts in input order.
struct Parsing<'scope> {
    chunk: Arc<Chunk>,
    parts: Vec<Part<'scope>>,
}

/// What the reader shares with its parser threads.
struct Reader<'a> {
    file: &'a Arc<str>,
    progress: &'a Progress,
    threads: usize,
}

impl<'a> Reader<'a> {
    /// Starts parsing a full chunk on the parser threads.
    fn start<'scope>(&self, scope: &'scope Scope<'scope, '_>, chunk: Chunk) -> Parsing<'scope>
    where
        'a: 'scope,
    {
        let chunk = Arc::new(chunk);
        if self.threads <= 1 || chunk.lines.iter().any(|&(_, start, end)| end - start >= CHUNK_BYTES) {
            let all = 0..chunk.lines.len();
            return Parsing { chunk, parts: vec![Part::Streamed(all)] };
        }
        let parts = chunk
            .parts(self.threads)
            .into_iter()
            .map(|part| {
                let (shared, file, progress) = (chunk.clone(), self.file.clone(), self.progress);
                let task = {
                    let part = part.clone();
                    move || shared.parse(part, &file, progress)
                };
                let spawned = std::thread::Builder::new().name("trajstore-parse".into()).spawn_scoped(scope, task);
                spawned.map_or(Part::Streamed(part), Part::Thread)
            })
            .collect();
        Parsing { chunk, parts }
    }

    /// Emits a parsed chunk's items in order; returns its buffers for reuse, or `None`
    /// when `emit` asked to stop.
    fn finish(&self, parsing: Parsing<'_>, emit: &mut dyn FnMut(Item) -> bool) -> Option<Chunk> {
        let Parsing { chunk, parts } = parsing;
        for part in parts {
            match part {
                Part::Thread(handle) => {
                    // A parser that panicked is a bug: fail the import as the single parser did.
                    let items = handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    for item in items {
                        if !emit(item) {
                            return None;
                        }
                    }
                }
                Part::Streamed(range) => {
                    for &(line_no, start, end) in &chunk.lines[range] {
                        if !emit_document(&chunk.data[start..end], self.file, Some(line_no), self.progress, emit) {
                            return None;
                        }
                    }
                }
            }
        }
        let mut chunk = Arc::try_unwrap(chunk).unwrap_or_default();
        chunk.clear();
        Some(chunk)
    }

    fn read_error(&self, line: u64, e: &std::io::Error, emit: &mut dyn FnMut(Item) -> bool) {
        let location = Location { file: self.file.clone(), line: Some(line), index: None };
        emit(Item::Error(ItemError { location, field: None, message: format!("read error: {e}") }));
    }

    /// A first line that does not close starts one pretty-printed document, unless it
    /// holds more than an opening bracket and the second line is a whole JSON object:
    /// then this is JSON Lines whose first record is cut short, and the rest are read as
    /// lines. (`[` alone and then one object per line is a list, even when the object is
    /// its only item.) Returns the second line when reading goes on line by line.
    fn unclosed_first_line(
        &self,
        line: &[u8],
        reader: &mut dyn BufRead,
        emit: &mut dyn FnMut(Item) -> bool,
    ) -> Option<Vec<u8>> {
        let mut second = Vec::new();
        let _ = reader.read_until(b'\n', &mut second);
        let lone_opener = matches!(line.trim_ascii(), b"[" | b"{");
        let second_line = second.trim_ascii();
        let second_is_object =
            second_line.starts_with(b"{") && serde_json::from_slice::<IgnoredAny>(second_line).is_ok();
        if !lone_opener && second_is_object {
            return emit_document(line, self.file, Some(1), self.progress, emit).then_some(second);
        }
        let mut doc = line.to_vec();
        doc.push(b'\n');
        doc.extend_from_slice(&second);
        match reader.read_to_end(&mut doc) {
            Ok(_) => {
                emit_document(&doc, self.file, Some(1), self.progress, emit);
            }
            Err(e) => self.read_error(1, &e, emit),
        }
        None
    }
}

/// Appends the next line to `chunk` (the read-ahead `pending` line first) and returns
/// its result: the bytes read, 0 at the end.
fn read_line(reader: &mut dyn BufRead, chunk: &mut Chunk, pending: &mut Option<Vec<u8>>) -> std::io::Result<usize> {
    match pending.take() {
        Some(line) => {
            chunk.data.extend_from_slice(&line);
            Ok(line.len())
        }
        None => reader.read_until(b'\n', &mut chunk.data),
    }
}

pub(super) fn read_lines(
    mut reader: Box<dyn BufRead>,
    file: &Arc<str>,
    progress: &Progress,
    emit: &mut dyn FnMut(Item) -> bool,
) {
    let this = Reader { file, progress, threads: parse_threads() };
    std::thread::scope(|scope| {
        let mut chunk = Chunk::default();
        let mut spare: Option<Chunk> = None;
        let mut parsing: Option<Parsing<'_>> = None;
        let mut line_no = 0u64;
        // A line read ahead (the second, when the first does not close).
        let mut pending: Option<Vec<u8>> = None;
        loop {
            let begin = chunk.data.len();
            let read = read_line(&mut reader, &mut chunk, &mut pending);
            let at_end = matches!(read, Ok(0) | Err(_));
            if matches!(read, Ok(n) if n > 0) {
                line_no += 1;
                let mut end = chunk.data.len();
                while end > begin && matches!(chunk.data[end - 1], b'\n' | b'\r') {
                    end -= 1;
                }
                let line = &chunk.data[begin..end];
                if line.iter().all(u8::is_ascii_whitespace) {
                    chunk.data.truncate(begin);
                } else if line_no == 1 && serde_json::from_slice::<IgnoredAny>(line).is_err_and(|e| e.is_eof()) {
                    pending = this.unclosed_first_line(line, &mut reader, emit);
                    if pending.is_none() {
                        return;
                    }
                    chunk.data.truncate(begin);
                    continue;
                } else {
                    chunk.lines.push((line_no, begin, end));
                }
            }
            if at_end || chunk.is_full() {
                // The chunk before this one was parsed while this one was read.
                if let Some(previous) = parsing.take() {
                    spare = Some(match this.finish(previous, emit) {
                        Some(buffers) => buffers,
                        None => return,
                    });
                }
                let next = spare.take().unwrap_or_default();
                parsing = Some(this.start(scope, std::mem::replace(&mut chunk, next)));
            }
            if at_end {
                if parsing.take().is_some_and(|last| this.finish(last, emit).is_none()) {
                    return;
                }
                if let Err(e) = read {
                    this.read_error(line_no + 1, &e, emit);
                }
                return;
            }
        }
    });
}
