//! `trajstore import --follow DIR`: a folder imported as it fills, one line per batch.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use trajstore::{Error, FollowBatch, Follower, ImportOptions, Result};

use crate::location::Location;
use crate::output::{self, print_json};
use crate::ImportArgs;

pub async fn follow(db: &Location, json: bool, args: ImportArgs) -> Result<i32> {
    for (given, flag) in [
        (args.strict, "--strict"),
        (args.skip_duplicate_check, "--skip-duplicate-check"),
        (args.wait_for_index, "--wait-for-index"),
    ] {
        if given {
            return Err(Error::invalid(
                flag,
                "does not apply with --follow (each batch is checked for duplicates; nothing is optimized)",
            ));
        }
    }
    let [dir] = args.paths.as_slice() else {
        return Err(Error::invalid("--follow", format!("expected one folder, got {} paths", args.paths.len())));
    };
    let dir = Path::new(dir);
    if !dir.is_dir() {
        return Err(Error::invalid("--follow", format!("{} is not a folder", dir.display())));
    }
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(Error::invalid("--interval", format!("expected seconds > 0, got {}", args.interval)));
    }
    let format = trajstore::FormatChoice::parse(&args.format).map_err(|e| Error::invalid("--format", e.to_string()))?;
    let store = db.builder().lance_cache(trajstore::LanceCacheSize::WRITER).open().await?;
    let state = match args.state {
        Some(path) => path,
        None => Follower::default_state_path(db.uri(), dir)?,
    };
    let read = trajstore::ReadOptions { format, labels_dir: args.labels };
    // Each batch is small: optimizing after one would hold up the next; `trajstore serve`
    // and `trajstore optimize` compact.
    let options = ImportOptions { skip_duplicate_check: false, read, ..Default::default() };
    let settle = Duration::try_from_secs_f64(args.settle)
        .map_err(|_| Error::invalid("--settle", format!("expected seconds >= 0, got {}", args.settle)))?;
    let mut follower = Follower::open(dir, state.clone(), options)?.settle(settle);
    let stop = follower.stopper();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    if !json {
        eprintln!("following {} (state in {}); Ctrl-C stops after the current batch", dir.display(), state.display());
    }
    let interval = Duration::from_secs_f64(args.interval);
    let mut failed = 0;
    while !stop.load(Ordering::Relaxed) {
        let poll = follower.poll(&store).await?;
        for batch in &poll.batches {
            failed += batch.failed;
            print_batch(batch, json);
        }
        for note in &poll.notes {
            eprintln!("note: {note}");
        }
        // Sleep in short steps, so that Ctrl-C between polls stops at once.
        let until = tokio::time::Instant::now() + interval;
        while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50).min(interval)).await;
        }
    }
    Ok(if failed > 0 { output::EXIT_PARTIAL } else { 0 })
}

fn print_batch(batch: &FollowBatch, json: bool) {
    if json {
        print_json(batch);
        return;
    }
    let now = trajstore::format_timestamp(now_micros());
    println!(
        "{now} {} ({}) bytes {}..{}: imported {} · skipped {} · failed {}{}",
        batch.file,
        batch.format,
        batch.from,
        batch.to,
        batch.imported,
        batch.skipped,
        batch.failed,
        if batch.replayed { " (replayed after a restart)" } else { "" }
    );
    output::print_import_errors(&batch.errors, batch.failed);
}

fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}
