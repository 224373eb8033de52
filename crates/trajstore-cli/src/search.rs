//! `trajstore similar`, `trajstore search` and `trajstore embed`.

use std::io::IsTerminal;

use trajstore::{EmbedTextSource, Error, Result};

use crate::location::Location;
use crate::output::{print_json, print_rows};
use crate::FilterArgs;

/// The embedding text: `question+answer` (default) or `question`.
pub fn parse_source(s: &str) -> Result<EmbedTextSource> {
    match s {
        "question+answer" => Ok(EmbedTextSource::QuestionAndLastAnswer),
        "question" => Ok(EmbedTextSource::Question),
        other => {
            Err(Error::invalid("--text-source", format!("unknown value {other:?}; known: question+answer, question")))
        }
    }
}

pub async fn similar(
    db: &Location,
    json: bool,
    id: Option<String>,
    text: Option<String>,
    k: usize,
    filters: &FilterArgs,
) -> Result<i32> {
    let filters = crate::commands::parse_filters(filters)?;
    let store = db.open().await?;
    let res = match (id, text) {
        (Some(id), None) => store.similar_to_id(&id, k, &filters).await?,
        (None, Some(text)) => store.similar_to_text(&text, k, &filters).await?,
        _ => return Err(Error::invalid("ID", "give a trajectory id or --text TEXT (not both)")),
    };
    if json {
        print_json(&res);
    } else {
        print_rows(&res.data.iter().map(|h| h.summary.clone()).collect::<Vec<_>>());
        let d: Vec<String> = res.data.iter().map(|h| format!("{:.3}", h.distance)).collect();
        eprintln!("distances: {}", d.join(" "));
        if res.not_embedded > 0 {
            eprintln!("{} matching trajectories are not embedded yet (run `trajstore embed`)", res.not_embedded);
        }
    }
    Ok(0)
}

pub async fn search(db: &Location, json: bool, text: &str, limit: usize, filters: &FilterArgs) -> Result<i32> {
    let filters = crate::commands::parse_filters(filters)?;
    let store = db.open().await?;
    let res = store.search_text(text, &filters, limit).await?;
    if json {
        print_json(&res);
    } else {
        for h in &res.data {
            println!(
                "{:.2}  {}  step {}  {}",
                h.score,
                h.summary.trajectory_id,
                h.step.map_or("-".into(), |s| s.to_string()),
                h.snippet
            );
        }
        eprintln!("{} hits", res.data.len());
        let unindexed = store.unindexed_text_rows().await?;
        if unindexed >= UNINDEXED_HINT_ROWS {
            eprintln!(
                "{unindexed} rows are not in the full-text index yet and were scanned: \
                 `trajstore optimize` indexes them (or a running `trajstore serve` will)"
            );
        }
    }
    Ok(0)
}

/// From this many rows outside the full-text index, scanning them is slow enough for
/// the search command to say how to index them.
const UNINDEXED_HINT_ROWS: u64 = 10_000;

/// Loads the default embedders, distilling and caching the static tier if needed.
pub fn prepare_model() -> Result<i32> {
    let dir = trajstore::search::default_model_dir();
    let started = std::time::Instant::now();
    trajstore::search::StaticEmbedder::load_or_distill(&dir).map_err(Error::from)?;
    eprintln!("the embedding model in {} is ready ({:.1} s)", dir.display(), started.elapsed().as_secs_f64());
    Ok(0)
}

pub async fn embed(db: &Location, json: bool, source: &str, batch: usize, max: Option<u64>) -> Result<i32> {
    let source = parse_source(source)?;
    let store = db.open().await?;
    let tty = !json && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let p = store
        .embed_pending(source, batch, max, |p| {
            if tty {
                eprint!(
                    "\rembedded {} ({} distinct texts) · {} left · {:.0} rows/s   ",
                    p.embedded,
                    p.distinct_texts,
                    p.remaining,
                    p.embedded as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
        .await?;
    if json {
        print_json(&p);
    } else {
        eprintln!(
            "{}embedded {} trajectories ({} distinct texts) in {:.1} s; {} left",
            if tty { "\n" } else { "" },
            p.embedded,
            p.distinct_texts,
            started.elapsed().as_secs_f64(),
            p.remaining
        );
        if let Some(old) = &p.replaced_model {
            eprintln!("(the vectors made by {old} were dropped first: vectors of two models cannot be compared)");
        }
    }
    Ok(0)
}
