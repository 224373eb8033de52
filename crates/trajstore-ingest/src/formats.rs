//! Reading an input in any format trajstore knows: native files stream through the
//! native reader; other formats are read whole (they are JSON documents of at most tens
//! of megabytes), converted by `trajstore-formats`, and handed over record by record.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use trajstore_formats::{convert, detect, detect_native_prefix, Format, FormatError, SourceFile};
use trajstore_model::Trajectory;

use crate::reader::{open, read_native, Item, ItemError, Location, Progress};
use crate::{IngestError, Input};

/// Which format to read inputs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FormatChoice {
    /// Detected per file from its content.
    #[default]
    Auto,
    Named(Format),
}

impl FormatChoice {
    /// `auto` or a format name; an unknown name is an error listing the known ones.
    pub fn parse(name: &str) -> Result<Self, FormatError> {
        if name.trim().eq_ignore_ascii_case("auto") {
            Ok(FormatChoice::Auto)
        } else {
            Format::parse(name).map(FormatChoice::Named)
        }
    }
}

/// How to read inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub format: FormatChoice,
    /// Where mini-swe-agent's `<instance_id>/report.json` labels are, when they are not in
    /// the `logs/` folder beside `trajs/`.
    pub labels_dir: Option<PathBuf>,
}

/// How much of a file auto-detection reads before deciding whether it is native: the
/// native reader then goes on streaming from there, so a native file is parsed once.
const SNIFF_BYTES: u64 = 1 << 20;

/// Reads one input in the format `opts` asks for (or the one detected) and calls `emit`
/// with `Item::Format` first, then every record or record error. A file no format
/// recognises, or one its format cannot read at all, is one `Item::Error` for the file;
/// the caller goes on with the next input.
pub fn read_input_with(
    input: &Input,
    opts: &ReadOptions,
    progress: &Arc<Progress>,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), IngestError> {
    let file: Arc<str> = input.label().into();
    let file_error = |message: String| file_error(&file, message);
    let mut reader = open(input, progress)?;
    let mut head = Vec::new();
    if let Err(e) = (&mut reader).take(SNIFF_BYTES).read_to_end(&mut head) {
        emit(file_error(format!("read error: {e}")));
        return Ok(());
    }
    let blank = head.iter().all(u8::is_ascii_whitespace);
    let native = match opts.format {
        FormatChoice::Named(f) => f == Format::Native,
        FormatChoice::Auto => blank || detect_native_prefix(&head) == Some(true),
    };
    if native {
        if !emit(Item::Format { file: file.clone(), format: Format::Native.name() }) {
            return Ok(());
        }
        let rest: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 20, Cursor::new(head).chain(reader)));
        read_native(rest, file, progress, emit);
        return Ok(());
    }
    let mut bytes = head;
    if let Err(e) = reader.read_to_end(&mut bytes) {
        emit(file_error(format!("read error: {e}")));
        return Ok(());
    }
    let format = match opts.format {
        FormatChoice::Named(f) => f,
        FormatChoice::Auto => match detect(&bytes) {
            Some(f) => f,
            None => {
                let e = FormatError::Unrecognised { file: file.to_string(), tried: Format::names() };
                emit(file_error(without_file(&e, &file)));
                return Ok(());
            }
        },
    };
    if !emit(Item::Format { file: file.clone(), format: format.name() }) {
        return Ok(());
    }
    if format == Format::Native {
        read_native(Box::new(Cursor::new(bytes)), file, progress, emit);
        return Ok(());
    }
    read_converted(format, input, &file, bytes, opts, progress, emit);
    Ok(())
}

/// Converts a whole file of another format and emits its records in order.
fn read_converted(
    format: Format,
    input: &Input,
    file: &Arc<str>,
    bytes: Vec<u8>,
    opts: &ReadOptions,
    progress: &Progress,
    emit: &mut dyn FnMut(Item) -> bool,
) {
    let file_error = |message: String| file_error(file, message);
    let path = match input {
        Input::File(p) => Some(p.as_path()),
        // A copy has no neighbours to look beside.
        Input::Stdin | Input::Copy { .. } => None,
    };
    let source = SourceFile { label: file, path, bytes: &bytes, labels_dir: opts.labels_dir.as_deref() };
    let converted = match convert(format, &source) {
        Ok(c) => c,
        Err(e) => {
            emit(file_error(without_file(&e, file)));
            return;
        }
    };
    drop(bytes);
    for c in converted {
        progress.records.fetch_add(1, Ordering::Relaxed);
        let location = Location { file: file.clone(), line: c.position.line, index: c.position.index };
        let item = match c.record.and_then(|v| Trajectory::from_json(v.to_string().as_bytes())) {
            Ok(t) => Item::Record(location, t),
            Err(e) => Item::Error(ItemError { location, field: e.field, message: e.message }),
        };
        if !emit(item) {
            break;
        }
    }
}

/// An error of a whole file (no line or index).
fn file_error(file: &Arc<str>, message: String) -> Item {
    Item::Error(ItemError { location: Location { file: file.clone(), line: None, index: None }, field: None, message })
}

/// The error's text without its leading `file: `, which the item's location already says.
fn without_file(e: &FormatError, file: &str) -> String {
    let text = e.to_string();
    text.strip_prefix(&format!("{file}: ")).map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], opts: &ReadOptions) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.json");
        std::fs::write(&path, bytes).unwrap();
        let progress = Arc::new(Progress::default());
        let mut out = Vec::new();
        read_input_with(&Input::File(path), opts, &progress, &mut |item| {
            out.push(match item {
                Item::Format { format, .. } => format!("format {format}"),
                Item::Record(l, t) => format!("ok {:?}:{:?} {}", l.line, l.index, t.trajectory_id),
                Item::Error(e) => format!("err {:?}:{:?} {}", e.location.line, e.location.index, e.message),
            });
            true
        })
        .unwrap();
        assert_eq!(progress.bytes_read.load(Ordering::Relaxed), bytes.len() as u64);
        out
    }

    #[test]
    fn auto_streams_native_and_converts_others() {
        let auto = ReadOptions::default();
        assert_eq!(
            read(b"{\"trajectory_id\":\"a\"}\n{\"trajectory_id\":\"b\"}\n", &auto),
            ["format native", "ok Some(1):None a", "ok Some(2):None b"]
        );
        // A native record bigger than the sniffed prefix still streams whole.
        let big = format!(
            "{{\"trajectory_id\":\"big\",\"steps\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}\n",
            "x".repeat(3 << 20)
        );
        assert_eq!(read(big.as_bytes(), &auto), ["format native", "ok Some(1):None big"]);
        let tau = br#"[{"task_id":7,"trial":1,"reward":1.0,"traj":[{"role":"user","content":"hi"}],"info":{"task":{"instruction":"do"}}}]"#;
        let got = read(tau, &auto);
        assert_eq!(got[0], "format tau-bench");
        assert!(got[1].starts_with("ok None:Some(0) tau-bench:") && got[1].ends_with(":7:1"), "{got:?}");
    }

    #[test]
    fn unrecognised_files_and_forced_formats_give_errors() {
        let got = read(b"{\"hello\": 1}\n", &ReadOptions::default());
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("err None:None not a recognised trajectory file (tried: native, openai-chat, tau-bench"),
            "{got:?}"
        );
        let forced = ReadOptions { format: FormatChoice::parse("responses").unwrap(), labels_dir: None };
        let got = read(b"<PLACEHOLDER ROW>\n{\"responses_create_params\":{\"input\":\"q\"},\"reward\":1}\n", &forced);
        assert_eq!(got[0], "format responses");
        assert!(got[1].starts_with("err Some(1):None invalid JSON"), "{got:?}");
        assert!(got[2].starts_with("ok Some(2):None responses:"), "{got:?}");
        let tau_as_tau2 = ReadOptions { format: FormatChoice::Named(Format::Tau2), labels_dir: None };
        let got = read(b"[1, 2]", &tau_as_tau2);
        assert_eq!(got[1], "err None:None not a valid tau2 file: expected an object with `simulations`");
        assert!(matches!(FormatChoice::parse("nope"), Err(FormatError::UnknownFormat { .. })));
        assert_eq!(FormatChoice::parse("AUTO").unwrap(), FormatChoice::Auto);
    }
}
