//! Conversion speed per file, beside a reference measured in the same run: parsing the
//! same bytes into a `serde_json::Value` (one thread). Run by hand in release mode:
//!
//! ```sh
//! cargo run --release -p trajstore-formats --example convert_speed -- FILE...
//! ```
//!
//! Each file is detected, then converted (and every record checked by the native model, as
//! an import does) as many times as fit in about a second; the best pass is reported.
//! Aider's Markdown has no JSON reference (shown as `-`).

use std::time::{Duration, Instant};

use trajstore_formats::{convert, detect, SourceFile};
use trajstore_model::Trajectory;

fn best_of(mut pass: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    let start = Instant::now();
    let mut runs = 0;
    while runs < 3 || (start.elapsed() < Duration::from_secs(1) && runs < 200) {
        let t = Instant::now();
        pass();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    println!(
        "{:<14} {:>9} {:>8} {:>6} {:>11} {:>13}  file",
        "format", "bytes", "records", "errors", "convert MB/s", "serde_json MB/s"
    );
    for arg in std::env::args().skip(1) {
        let path = std::path::Path::new(&arg);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{arg}: {e}");
                continue;
            }
        };
        let Some(format) = detect(&bytes) else {
            println!("{:<14} {:>9} {:>8} {:>6} {:>11} {:>13}  {arg}", "unrecognised", bytes.len(), "-", "-", "-", "-");
            continue;
        };
        let file = SourceFile { label: &arg, path: Some(path), bytes: &bytes, labels_dir: None };
        let (mut records, mut errors) = (0, 0);
        let convert_time = best_of(|| {
            (records, errors) = (0, 0);
            match convert(format, &file) {
                Ok(items) => {
                    for c in items {
                        match c.record.and_then(|v| Trajectory::from_json(v.to_string().as_bytes())) {
                            Ok(_) => records += 1,
                            Err(_) => errors += 1,
                        }
                    }
                }
                Err(_) => errors += 1,
            }
        });
        let reference = match reference_parse(&bytes) {
            Some(parse) => format!("{:.0}", mb_per_s(bytes.len(), best_of(parse))),
            None => "-".into(),
        };
        println!(
            "{:<14} {:>9} {:>8} {:>6} {:>11.0} {:>13}  {arg}",
            format.name(),
            bytes.len(),
            records,
            errors,
            mb_per_s(bytes.len(), convert_time),
            reference
        );
    }
}

/// Parsing the bytes as they are laid out: one JSON document, or one per line; `None` for
/// a file that is neither (Aider's Markdown).
fn reference_parse(bytes: &[u8]) -> Option<Box<dyn Fn() + '_>> {
    let parse = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).is_ok();
    let lines = || bytes.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    if parse(bytes) {
        Some(Box::new(move || assert!(std::hint::black_box(parse(bytes)))))
    } else if lines().any(parse) {
        Some(Box::new(move || {
            std::hint::black_box(lines().filter(|l| parse(l)).count());
        }))
    } else {
        None
    }
}
