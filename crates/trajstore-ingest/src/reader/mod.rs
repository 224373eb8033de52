//! Streaming one input into records.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;
use trajstore_model::{RawObject, RecordError, Trajectory};

use crate::{IngestError, Input};

mod lines;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const READ_BUFFER: usize = 1 << 20;

/// Where a record came from: the file, its 1-based line (absent inside a JSON array
/// file), and its 0-based index inside a format-2 line or a JSON array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: Option<u64>,
    pub index: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(index) = self.index {
            write!(f, "[{index}]")?;
        }
        Ok(())
    }
}

/// A record that could not be read, with its place and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub location: Location,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

// Records are nearly every item: boxing them to shrink the rare variants would cost an
// allocation per record on the import path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Item {
    Record(Location, Trajectory),
    Error(ItemError),
    /// The format a file is read as, emitted before its records (by `read_input_with`).
    Format {
        file: Arc<str>,
        format: &'static str,
    },
}

/// Shared counters that a progress bar or an HTTP status endpoint reads while the
/// reader runs on another thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes read from the inputs as stored (compressed bytes for .gz/.zst).
    pub bytes_read: AtomicU64,
    /// Records and errors parsed: JSON Lines are parsed up to one chunk (4 MB) ahead of
    /// the callback.
    pub records: AtomicU64,
}

struct CountingReader<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input and undoes gzip or zstd compression, recognised by their magic bytes.
pub(crate) fn open(input: &Input, progress: &Arc<Progress>) -> Result<Box<dyn BufRead>, IngestError> {
    let label = input.label();
    let raw: Box<dyn Read> = match input {
        Input::File(p) | Input::Copy { path: p, .. } => {
            Box::new(File::open(p).map_err(|source| IngestError::Io { path: label.clone(), source })?)
        }
        Input::Stdin => Box::new(std::io::stdin()),
    };
    let mut counted = BufReader::with_capacity(READ_BUFFER, CountingReader { inner: raw, progress: progress.clone() });
    let head = counted.fill_buf().map_err(|source| IngestError::Io { path: label.clone(), source })?;
    let inner: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(counted))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(counted)
                .map_err(|source| IngestError::Io { path: label, source })?,
        )
    } else {
        return Ok(Box::new(counted));
    };
    Ok(Box::new(BufReader::with_capacity(READ_BUFFER, inner)))
}

/// Reads one input and calls `emit` for every record or record error, in order.
/// `emit` returns `false` to stop early. An error that makes the rest of the input
/// unreadable (a corrupt gzip stream, a broken JSON array) is emitted as an item error
/// at the place it happened, and reading that input stops; the items before it stand.
pub fn read_input(
    input: &Input,
    progress: &Arc<Progress>,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), IngestError> {
    let file: Arc<str> = input.label().into();
    let reader = open(input, progress)?;
    read_native(reader, file, progress, emit);
    Ok(())
}

/// The native layouts (JSON Lines, format 2, a JSON array, one pretty object), streamed.
pub(crate) fn read_native(
    mut reader: Box<dyn BufRead>,
    file: Arc<str>,
    progress: &Arc<Progress>,
    emit: &mut dyn FnMut(Item) -> bool,
) {
    let first = loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                emit(Item::Error(ItemError {
                    location: Location { file, line: Some(1), index: None },
                    field: None,
                    message: format!("read error: {e}"),
                }));
                return;
            }
        };
        let skip =
            if buf.starts_with(BOM) { BOM.len() } else { buf.iter().take_while(|b| b.is_ascii_whitespace()).count() };
        if buf.is_empty() || skip == 0 {
            break buf.first().copied();
        }
        reader.consume(skip);
    };
    match first {
        None => {}
        Some(b'[') => read_array(reader, &file, progress, emit),
        Some(_) => lines::read_lines(reader, &file, progress, emit),
    }
}

/// One JSON document holding a trajectory, or `{"trajectories": [...]}` (format 2).
pub(super) fn emit_document(
    bytes: &[u8],
    file: &Arc<str>,
    line: Option<u64>,
    progress: &Progress,
    emit: &mut dyn FnMut(Item) -> bool,
) -> bool {
    let location = |index| Location { file: file.clone(), line, index };
    let obj = match RawObject::parse(bytes) {
        Ok(obj) => obj,
        Err(e) => return emit_result(Err(e), location(None), progress, emit),
    };
    let batch = obj.get("trajectories").filter(|_| obj.get("trajectory_id").is_none());
    let Some(list) = batch else {
        return emit_result(Trajectory::from_object(&obj), location(None), progress, emit);
    };
    let elements = match serde_json::from_str::<Vec<&RawValue>>(list.get()) {
        Ok(v) => v,
        Err(_) => {
            return emit_result(
                Err(RecordError::new("trajectories", "expected a list of trajectories")),
                location(None),
                progress,
                emit,
            )
        }
    };
    for (i, element) in elements.into_iter().enumerate() {
        let record = RawObject::parse(element.get().as_bytes()).and_then(|o| Trajectory::from_object(&o));
        if !emit_result(record, location(Some(i as u64)), progress, emit) {
            return false;
        }
    }
    true
}

fn emit_result(
    record: Result<Trajectory, RecordError>,
    location: Location,
    progress: &Progress,
    emit: &mut dyn FnMut(Item) -> bool,
) -> bool {
    progress.records.fetch_add(1, Ordering::Relaxed);
    emit(match record {
        Ok(t) => Item::Record(location, t),
        Err(e) => Item::Error(ItemError { location, field: e.field, message: e.message }),
    })
}

/// Streams the elements of a top-level JSON array without holding the array.
fn read_array(reader: Box<dyn BufRead>, file: &Arc<str>, progress: &Progress, emit: &mut dyn FnMut(Item) -> bool) {
    struct Elements<'a> {
        file: &'a Arc<str>,
        progress: &'a Progress,
        emit: &'a mut dyn FnMut(Item) -> bool,
        count: u64,
        stopped: bool,
    }
    impl<'de> Visitor<'de> for &mut Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of trajectories")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                let location = Location { file: self.file.clone(), line: None, index: Some(self.count) };
                self.count += 1;
                let record = RawObject::parse(raw.get().as_bytes()).and_then(|o| Trajectory::from_object(&o));
                if !emit_result(record, location, self.progress, self.emit) {
                    self.stopped = true;
                    return Ok(());
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for &mut Elements<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut elements = Elements { file, progress, emit, count: 0, stopped: false };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let outcome = (&mut elements).deserialize(&mut de).map_err(|e| format!("invalid JSON: {e}"));
    // Anything but white space after the list is an error too, not silently left unread.
    let outcome = outcome.and_then(|()| {
        if elements.stopped {
            Ok(())
        } else {
            de.end().map_err(|e| format!("data after the end of the list: {e}"))
        }
    });
    if let Err(message) = outcome {
        let location = Location { file: file.clone(), line: None, index: Some(elements.count) };
        (elements.emit)(Item::Error(ItemError { location, field: None, message }));
    }
}

#[cfg(test)]
mod tests {
    use super::lines::{parse_threads, CHUNK_BYTES, CHUNK_LINES};
    use super::*;
    use std::io::Write;

    fn read_all(bytes: &[u8], name: &str) -> Vec<Item> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut items = Vec::new();
        let progress = Arc::new(Progress::default());
        read_input(&Input::File(path), &progress, &mut |i| {
            items.push(i);
            true
        })
        .unwrap();
        assert_eq!(progress.bytes_read.load(Ordering::Relaxed), bytes.len() as u64);
        items
    }

    fn summary(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Item::Record(l, t) => {
                    format!("ok {}:{:?}:{:?} {}", l.file.rsplit('/').next().unwrap(), l.line, l.index, t.trajectory_id)
                }
                Item::Error(e) => format!("err {:?}:{:?} {:?}", e.location.line, e.location.index, e.field),
                Item::Format { format, .. } => format!("format {format}"),
            })
            .collect()
    }

    #[test]
    fn jsonl_with_bom_crlf_blank_lines_and_a_truncated_end() {
        let data = b"\xEF\xBB\xBF{\"trajectory_id\":\"a\"}\r\n\r\n  \n{\"trajectory_id\":\"b\",\"reward\":\"x\"}\n{\"trajectory_id\":\"c\"}\n{\"trajectory_id\":\"d\",\"ste";
        let items = read_all(data, "f.jsonl");
        assert_eq!(
            summary(&items),
            [
                "ok f.jsonl:Some(1):None a",
                "err Some(4):None Some(\"reward\")",
                "ok f.jsonl:Some(5):None c",
                "err Some(6):None None"
            ]
        );
    }

    #[test]
    fn chunks_parsed_on_several_threads_keep_input_order_and_places() {
        // Several chunks, some closed by their line count and some by a line of a whole
        // chunk's bytes (in a format-2 line), with bad records and blank lines spread
        // through them.
        let mut data = String::new();
        let mut expected = Vec::new();
        let big = "x".repeat(CHUNK_BYTES);
        for line in 1..=3 * CHUNK_LINES as u64 + 17 {
            if line % 997 == 0 {
                data.push('\n');
            } else if line % 101 == 0 {
                data.push_str(&format!("{{\"trajectory_id\":\"t{line}\",\"reward\":\"bad\"}}\n"));
                expected.push(format!("err Some({line}):None Some(\"reward\")"));
            } else if line % 1500 == 0 {
                data.push_str(&format!("{{\"trajectories\":[{{\"trajectory_id\":\"t{line}a\"}},{{\"trajectory_id\":\"t{line}b\",\"notes\":\"{big}\"}}]}}\n"));
                expected.push(format!("ok f.jsonl:Some({line}):Some(0) t{line}a"));
                expected.push(format!("ok f.jsonl:Some({line}):Some(1) t{line}b"));
            } else {
                data.push_str(&format!(
                    "{{\"trajectory_id\":\"t{line}\",\"steps\":[{{\"role\":\"user\",\"content\":\"line {line}\"}}]}}\n"
                ));
                expected.push(format!("ok f.jsonl:Some({line}):None t{line}"));
            }
        }
        let items = read_all(data.as_bytes(), "f.jsonl");
        assert_eq!(summary(&items), expected);
        // The texts derived during the parse belong to their own record.
        for item in &items {
            if let Item::Record(l, t) = item {
                if t.step_count == 1 {
                    assert_eq!(t.texts.get_for(t).unwrap().search, format!("line {}\n", l.line.unwrap()));
                }
            }
        }
        assert!(parse_threads() >= 1);
    }

    #[test]
    fn format_two_lines_report_the_index() {
        let data = b"{\"trajectories\":[{\"trajectory_id\":\"a\"},{\"x\":1},{\"trajectory_id\":\"c\"}]}\n";
        assert_eq!(
            summary(&read_all(data, "f.jsonl")),
            [
                "ok f.jsonl:Some(1):Some(0) a",
                "err Some(1):Some(1) Some(\"trajectory_id\")",
                "ok f.jsonl:Some(1):Some(2) c"
            ]
        );
    }

    #[test]
    fn arrays_pretty_objects_and_compressed_files() {
        let data = b" [ {\"trajectory_id\":\"a\"}, 5, {\"trajectory_id\":\"c\"} ]";
        assert_eq!(
            summary(&read_all(data, "f.json")),
            ["ok f.json:None:Some(0) a", "err None:Some(1) None", "ok f.json:None:Some(2) c"]
        );
        let data = b"{\n  \"trajectory_id\": \"p\",\n  \"steps\": []\n}\n";
        assert_eq!(summary(&read_all(data, "one.json")), ["ok one.json:Some(1):None p"]);

        let plain = b"{\"trajectory_id\":\"a\"}\n{\"trajectory_id\":\"b\"}\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain).unwrap();
        assert_eq!(summary(&read_all(&gz.finish().unwrap(), "f.jsonl.gz")).len(), 2);
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        assert_eq!(summary(&read_all(&zst, "f.bin")).len(), 2);
    }

    #[test]
    fn a_cut_first_line_or_data_after_a_list_is_reported_not_dropped() {
        // JSON Lines whose first record does not close: that line fails, the rest import.
        let data =
            b"{\"trajectory_id\":\"t1\",\"steps\":[\n{\"trajectory_id\":\"t2\"}\r\n\n{\"trajectory_id\":\"t3\"}\n";
        assert_eq!(
            summary(&read_all(data, "f.jsonl")),
            ["err Some(1):None None", "ok f.jsonl:Some(2):None t2", "ok f.jsonl:Some(4):None t3"]
        );
        // A pretty-printed object still reads as one record.
        let data = b"{\"trajectory_id\": \"p\",\n\"steps\": []}\n";
        assert_eq!(summary(&read_all(data, "p.json")), ["ok p.json:Some(1):None p"]);
        // So does a list of one object per line, even with a single item; and a second
        // line that is a whole value but not an object does not make the file JSON Lines.
        let data = b"[\n{\"trajectory_id\": \"only\"}\n]\n";
        assert_eq!(summary(&read_all(data, "l.json")), ["ok l.json:None:Some(0) only"]);
        let data = b"{\"trajectory_id\": \"q\", \"tags\":\n[\"x\"]\n}\n";
        assert_eq!(summary(&read_all(data, "q.json")), ["ok q.json:Some(1):None q"]);
        // Data after a top-level list is an error, after the list's records.
        let data = b"[{\"trajectory_id\":\"a\"}]\n{\"trajectory_id\":\"b\"}\n";
        let items = read_all(data, "f.json");
        assert_eq!(summary(&items), ["ok f.json:None:Some(0) a", "err None:Some(1) None"]);
        assert!(matches!(&items[1], Item::Error(e) if e.message.contains("after the end of the list")));
        assert_eq!(summary(&read_all(b"[{\"trajectory_id\":\"a\"}]  \n", "g.json")), ["ok g.json:None:Some(0) a"]);
    }

    #[test]
    fn broken_gzip_keeps_what_was_read_and_reports_the_rest() {
        let plain: String = (0..2000).map(|i| format!("{{\"trajectory_id\":\"t{i}\"}}\n")).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain.as_bytes()).unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.truncate(bytes.len() - 20);
        let items = read_all(&bytes, "f.jsonl.gz");
        let ok = items.iter().filter(|i| matches!(i, Item::Record(..))).count();
        assert!(ok > 0 && ok < 2000, "{ok}");
        assert!(matches!(items.last(), Some(Item::Error(_))));
    }

    #[test]
    fn invalid_utf8_and_huge_lines() {
        let mut data = b"{\"trajectory_id\":\"a\",\"notes\":\"".to_vec();
        data.extend_from_slice(&[0xC3, 0x28]);
        data.extend_from_slice(b"\"}\n");
        let big = "x".repeat(50 << 20);
        data.extend_from_slice(
            format!("{{\"trajectory_id\":\"big\",\"steps\":[{{\"role\":\"tool\",\"content\":\"{big}\"}}]}}\n")
                .as_bytes(),
        );
        let items = read_all(&data, "f.jsonl");
        assert_eq!(summary(&items), ["err Some(1):None None", "ok f.jsonl:Some(2):None big"]);
        let Item::Error(e) = &items[0] else { panic!() };
        assert!(e.message.contains("invalid JSON"), "{e}");
    }
}
