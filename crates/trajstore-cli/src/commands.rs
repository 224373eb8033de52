//! One function per subcommand; each only translates arguments and prints results.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use trajstore::{
    expand_inputs, CurveRequest, Error, ExportFormat, FilterSet, ImportOptions, ImportProgress, ListRequest, Result,
    StatsRequest, Trajstore,
};

use crate::location::Location;
use crate::output::{self, print_json, EXIT_PARTIAL};
use crate::{Cli, Command, DemoArgs, ExportArgs, FilterArgs, ImportArgs, QueryArgs, StatsArgs};

/// `NAME=VALUE` strings as pairs; the error names the flag.
pub(crate) fn filter_pairs(args: &FilterArgs) -> Result<Vec<(String, String)>> {
    args.filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::invalid("--filter", format!("expected NAME=VALUE, got {f:?}")))
        })
        .collect()
}

pub(crate) fn parse_filters(args: &FilterArgs) -> Result<FilterSet> {
    let pairs = filter_pairs(args)?;
    Ok(FilterSet::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
}

pub async fn run(cli: Cli) -> Result<i32> {
    let json = cli.json;
    let location = Location::new(cli.db, &cli.storage_options, cli.single_writer)?;
    let db = &location;
    match cli.command {
        Command::Import(args) if args.follow => crate::follow::follow(db, json, args).await,
        Command::Import(args) => import(db, json, args).await,
        Command::Query(args) => query(db, json, args).await,
        Command::Show { id } => show(db, json, &id).await,
        Command::Export(args) => export(db, json, args).await,
        Command::Stats(args) => stats(db, json, args).await,
        Command::Groups(args) => crate::training::groups(db, json, args).await,
        Command::DiffRuns(args) => crate::training::diff_runs(db, json, args).await,
        Command::Optimize => optimize(db, json).await,
        Command::Similar { id, text, k, filters } => crate::search::similar(db, json, id, text, k, &filters).await,
        Command::Search { text, limit, filters } => crate::search::search(db, json, &text, limit, &filters).await,
        Command::Sql(args) => crate::sql::sql(db, json, args).await,
        Command::Tools(args) => crate::sql::tools(db, json, args).await,
        Command::FailureModes(args) => crate::failure_modes::failure_modes(db, json, args).await,
        Command::Embed { prepare_model: true, .. } => crate::search::prepare_model(),
        Command::Embed { text_source, batch, max, .. } => {
            crate::search::embed(db, json, &text_source, batch, max).await
        }
        Command::Serve { server } => {
            serve(db, server).await?;
            Ok(0)
        }
        Command::Demo(args) => demo(db, json, args).await,
    }
}

async fn import(db: &Location, json: bool, args: ImportArgs) -> Result<i32> {
    let ImportArgs { paths, format, labels, strict, skip_duplicate_check, wait_for_index, .. } = args;
    let format = trajstore::FormatChoice::parse(&format).map_err(|e| Error::invalid("--format", e.to_string()))?;
    if let Some(dir) = labels.as_ref().filter(|d| !d.is_dir()) {
        return Err(Error::invalid("--labels", format!("{} is not a directory", dir.display())));
    }
    let inputs = expand_inputs(&paths)?;
    let store = db.builder().lance_cache(trajstore::LanceCacheSize::WRITER).open().await?;
    let read = trajstore::ReadOptions { format, labels_dir: labels };
    let opts = ImportOptions { strict, skip_duplicate_check, wait_for_index, read, ..Default::default() };
    let report = import_with_progress(&store, inputs, opts, json).await?;
    if json {
        print_json(&report);
    } else {
        for f in report.files.iter().filter(|f| f.format != "native") {
            eprintln!("  {}: read as {}", f.path, f.format);
        }
        eprintln!(
            "imported {} · skipped {} (already stored) · failed {} · {:.2} s",
            report.imported, report.skipped, report.failed, report.seconds
        );
        output::print_import_errors(&report.errors, report.failed);
        if report.unindexed_rows > 0 && report.imported > 0 {
            eprintln!(
                "{} rows are not in the full-text index yet: search finds them already, more slowly, \
                 until `trajstore serve` (in the background) or `trajstore optimize` indexes them",
                report.unindexed_rows
            );
        }
    }
    Ok(if report.failed > 0 { EXIT_PARTIAL } else { 0 })
}

async fn query(db: &Location, json: bool, args: QueryArgs) -> Result<i32> {
    let QueryArgs { filters, sort, order, page, page_size, cursor } = args;
    let mut pairs = filter_pairs(&filters)?;
    pairs.extend([
        ("sort".into(), sort),
        ("order".into(), order),
        ("page".into(), page.to_string()),
        ("page_size".into(), page_size.to_string()),
    ]);
    if let Some(c) = cursor {
        pairs.push(("cursor".into(), c));
    }
    let req = ListRequest::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let store = db.open().await?;
    let page = store.list(&req).await?;
    if json {
        print_json(&*page);
    } else {
        output::print_rows(&page.data);
        eprintln!(
            "{} of {} · page {} · sorted by {} {:?}",
            page.data.len(),
            page.total,
            page.page.map_or("(cursor)".into(), |p| p.to_string()),
            req.sort.column(),
            req.order
        );
        if let Some(c) = &page.next_cursor {
            eprintln!("next: --cursor {c}");
        }
    }
    Ok(0)
}

async fn show(db: &Location, json: bool, id: &str) -> Result<i32> {
    let store = db.open().await?;
    let record = store.get(id).await?.to_json();
    if json {
        println!("{record}");
    } else {
        match serde_json::from_str::<serde_json::Value>(&record) {
            Ok(value) => output::print_trajectory(&value),
            // Steps are stored as their text, which may hold a number beyond f64
            // (1e400): shown as stored rather than not at all.
            Err(e) => {
                eprintln!("note: shown as stored JSON ({e})");
                println!("{record}");
            }
        }
    }
    Ok(0)
}

async fn export(db: &Location, json: bool, args: ExportArgs) -> Result<i32> {
    let ExportArgs { out, format, filters } = args;
    let filters = parse_filters(&filters)?;
    let format = match format {
        Some(f) => ExportFormat::parse(&f)
            .map_err(|_| Error::invalid("--format", format!("expected jsonl, parquet or atif, got {f:?}")))?,
        None => ExportFormat::from_path(&out),
    };
    let store = db.open().await?;
    if out.as_os_str() == "-" {
        if json {
            return Err(Error::invalid("--json", "cannot be combined with export to stdout"));
        }
        store.export_to_writer(&filters, format, std::io::stdout()).await?;
        return Ok(0);
    }
    let n = store.export_to_path(&filters, format, &out).await?;
    if json {
        print_json(&serde_json::json!({"exported": n, "path": out, "format": format!("{format:?}").to_lowercase()}));
    } else {
        eprintln!("exported {n} trajectories to {}", out.display());
    }
    Ok(0)
}

async fn stats(db: &Location, json: bool, args: StatsArgs) -> Result<i32> {
    let StatsArgs { filters, group_by, k, success_threshold, curve, series } = args;
    let mut pairs = filter_pairs(&filters)?;
    pairs.extend([("k".to_string(), k), ("success_threshold".to_string(), success_threshold)]);
    let store = db.open().await?;
    if let Some(x) = curve {
        pairs.extend([("x".to_string(), x), ("series".to_string(), series)]);
        let req = CurveRequest::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let doc = store.curve(&req).await?;
        if json {
            print_json(&*doc);
        } else {
            output::print_curve(&doc);
        }
        return Ok(0);
    }
    if let Some(g) = group_by {
        pairs.push(("group_by".to_string(), g));
    }
    let req = StatsRequest::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let doc = store.statistics(&req).await?;
    if json {
        print_json(&*doc);
    } else {
        output::print_stats(&doc, &req.group_by, &req.ks);
    }
    Ok(0)
}

async fn optimize(db: &Location, json: bool) -> Result<i32> {
    let store = db.open().await?;
    let r = store.optimize().await?;
    if json {
        let indexes: Vec<_> =
            r.indexes_created.iter().map(|i| serde_json::json!({"name": i.name, "seconds": i.seconds})).collect();
        print_json(&serde_json::json!({
            "indexes_created": indexes,
            "fragments_removed": r.fragments_removed,
            "fragments_added": r.fragments_added,
            "orphan_payloads_removed": r.orphan_payloads_removed,
            "old_versions_removed": r.old_versions_removed,
            "search_texts_filled": r.search_texts_filled,
            "step_facts_filled": r.step_facts_filled,
        }));
    } else {
        eprintln!(
            "optimized: {} fragments compacted into {}, {} indexes created, {} unreachable payloads and {} old \
             versions removed",
            r.fragments_removed,
            r.fragments_added,
            r.indexes_created.len(),
            r.orphan_payloads_removed,
            r.old_versions_removed
        );
        if r.search_texts_filled + r.step_facts_filled > 0 {
            eprintln!(
                "  filled for rows written by an earlier version: {} search texts, {} rows' step facts",
                r.search_texts_filled, r.step_facts_filled
            );
        }
    }
    Ok(0)
}

async fn demo(db: &Location, json: bool, args: DemoArgs) -> Result<i32> {
    let DemoArgs { trajectories, seed, no_serve, server } = args;
    let cfg = trajstore::demo::DemoConfig::with_total(trajectories, seed);
    let dir =
        tempfile::tempdir().map_err(|source| Error::Io { context: "creating a temporary directory".into(), source })?;
    let path = dir.path().join("demo.jsonl");
    {
        use std::io::Write;
        let file =
            std::fs::File::create(&path).map_err(|source| Error::Io { context: path.display().to_string(), source })?;
        let mut w = std::io::BufWriter::new(file);
        for line in cfg.lines() {
            writeln!(w, "{line}").map_err(|source| Error::Io { context: path.display().to_string(), source })?;
        }
        w.flush().map_err(|source| Error::Io { context: path.display().to_string(), source })?;
    }
    let store = db.open().await?;
    let report =
        import_with_progress(&store, vec![trajstore::Input::File(path)], ImportOptions::default(), json).await?;
    if json {
        print_json(&serde_json::json!({"db": db.uri(), "generated": cfg.total(), "import": report}));
    } else {
        eprintln!(
            "demo: generated {} trajectories ({} runs x {} epochs x {} prompts x {} samples) into {}",
            cfg.total(),
            cfg.runs,
            cfg.epochs,
            cfg.prompts,
            cfg.samples_per_prompt,
            db
        );
        eprintln!("imported {} · skipped {} · {:.2} s", report.imported, report.skipped, report.seconds);
        eprintln!("try: trajstore query --db {} --filter reward_min=1 --sort exec_time", db);
    }
    if !no_serve {
        drop(store);
        serve(db, server).await?;
    }
    Ok(0)
}

/// Runs an import with an indicatif progress bar by bytes on a terminal.
async fn import_with_progress(
    store: &Trajstore,
    inputs: Vec<trajstore::Input>,
    opts: ImportOptions,
    json: bool,
) -> Result<trajstore::ImportReport> {
    let progress = Arc::new(ImportProgress::default());
    let show = !json && std::io::stderr().is_terminal();
    let cancel = opts.cancel.clone();
    // Ctrl-C: finish the batch being written, then stop.
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.store(true, Ordering::Relaxed);
        }
    });
    let bar = show.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let ticker = bar.clone().map(|bar| {
        let progress = progress.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            loop {
                bar.set_length(progress.bytes_total.load(Ordering::Relaxed));
                bar.set_position(progress.read.bytes_read.load(Ordering::Relaxed));
                let records = progress.read.records.load(Ordering::Relaxed);
                bar.set_message(format!(
                    "{records} records ({:.0}/s)",
                    records as f64 / started.elapsed().as_secs_f64().max(0.001)
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let result = store.import(inputs, opts, progress.clone()).await;
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

/// The server's log (each failed request, with its id and causes) goes to stderr; `RUST_LOG`
/// chooses what else (the store's own crates are quiet by default).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("trajstore_server=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// Runs the HTTP server until SIGTERM or Ctrl-C.
async fn serve(db: &Location, args: crate::ServeArgs) -> Result<()> {
    log_to_stderr();
    let addr: std::net::SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            (args.host.as_str(), args.port).to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or(())
        })
        .map_err(|_| Error::invalid("--host", format!("not an address: {}", args.host)))?;
    let mut roots = Vec::new();
    for root in &args.import_roots {
        roots.push(
            root.canonicalize()
                .map_err(|source| Error::Io { context: format!("--import-root {}", root.display()), source })?,
        );
    }
    let config = trajstore_server::ServerConfig {
        token: args.token.filter(|t| !t.is_empty()),
        token_reads: args.token_reads,
        import_roots: roots,
        max_body_bytes: args.max_body_mb << 20,
        embed_in_background: args.embed,
        otlp_quiet: Duration::try_from_secs_f64(args.otlp_quiet)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::invalid("--otlp-quiet", format!("expected seconds > 0, got {}", args.otlp_quiet)))?,
        otlp: trajstore::otlp::OtlpOptions { prefix: args.otlp_prefix },
        index_every: match Duration::try_from_secs_f64(args.index_interval) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(d),
            Err(_) => {
                let got = args.index_interval;
                return Err(Error::invalid("--index-interval", format!("expected seconds >= 0, got {got}")));
            }
        },
    };
    let refresh = args.refresh_interval.unwrap_or(if trajstore::is_object_store(db.uri()) { 2.0 } else { 0.0 });
    let refresh = Duration::try_from_secs_f64(refresh)
        .map_err(|_| Error::invalid("--refresh-interval", format!("expected seconds >= 0, got {refresh}")))?;
    let store = db
        .builder()
        .memory_index(!args.no_memory_index)
        .read_consistency(refresh)
        .sql_settings(args.sql.settings()?)
        .label_model(args.llm.label_model()?)
        .open()
        .await?;
    trajstore_server::serve(store, config, addr)
        .await
        .map_err(|source| Error::Io { context: format!("serving on {addr}"), source })
}
