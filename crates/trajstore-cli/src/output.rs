//! Printing: JSON documents, tables, and the one mapping of library errors to messages
//! and exit codes.

use serde::Serialize;
use trajstore::{Curve, Error, Statistics, StatsReport, Summary};

/// Exit codes: 0 success; 1 failure (storage, I/O); 2 invalid arguments or input;
/// 3 some records of an import were rejected (the rest were stored); 4 not found.
pub const EXIT_PARTIAL: i32 = 3;

pub fn exit_code(e: &Error) -> i32 {
    match e {
        Error::InvalidParameter { .. } | Error::Input(_) | Error::Refused(_) => 2,
        Error::NotFound { .. } => 4,
        Error::Store(_)
        | Error::Io { .. }
        | Error::Internal(_)
        | Error::Embed(_)
        | Error::LabelModel(_)
        | Error::Unreadable(_)
        | Error::LimitExceeded { .. } => 1,
    }
}

pub fn report_error(e: &Error, json: bool) -> i32 {
    if json {
        let body =
            serde_json::json!({"error": {"code": e.code(), "message": e.to_string(), "parameter": e.parameter()}});
        println!("{body}");
    } else {
        eprintln!("error: {e}");
    }
    exit_code(e)
}

/// A command line clap could not read. Under `--json` it is one error document on
/// stdout like any other (exit 2); otherwise, and for `--help`/`--version`, clap prints.
pub fn report_usage_error(e: clap::Error, json: bool) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || informational {
        e.exit();
    }
    // "--page <PAGE>" -> "--page"
    let parameter = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split_whitespace().next().map(str::to_string),
        _ => None,
    };
    let rendered = e.render().to_string();
    let message = rendered.lines().next().unwrap_or("invalid command line").trim_start_matches("error: ").to_string();
    println!(
        "{}",
        serde_json::json!({"error": {"code": "invalid_parameter", "message": message, "parameter": parameter}})
    );
    std::process::exit(2)
}

/// An import's errors on stderr, each with its place (`file:line[index]`), and how many
/// more there were than are listed.
pub fn print_import_errors(errors: &[trajstore::ImportErrorEntry], failed: u64) {
    for e in errors {
        let place = match (e.line, e.index) {
            (Some(l), Some(i)) => format!("{}:{l}[{i}]", e.file),
            (Some(l), None) => format!("{}:{l}", e.file),
            (None, Some(i)) => format!("{}[{i}]", e.file),
            (None, None) => e.file.clone(),
        };
        eprintln!("  {place}: {}{}", e.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default(), e.message);
    }
    if failed as usize > errors.len() {
        eprintln!("  … and {} more errors", failed as usize - errors.len());
    }
}

pub fn print_json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string(value).expect("our documents serialise"));
}

pub fn cell(s: &str, width: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(width).collect();
    if s.chars().count() > width {
        out.pop();
        out.push('…');
    }
    format!("{out:<width$}")
}

pub fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

pub fn print_rows(rows: &[Summary]) {
    println!(
        "{} {} {} {} {} {} QUESTION",
        cell("TRAJECTORY", 28),
        cell("RUN", 10),
        cell("EP", 4),
        cell("REASON", 14),
        cell("REWARD", 7),
        cell("STEPS", 5),
    );
    for r in rows {
        println!(
            "{} {} {} {} {} {} {}",
            cell(&r.trajectory_id, 28),
            cell(r.training_id.as_deref().unwrap_or("-"), 10),
            cell(&r.epoch_id.map_or("-".into(), |e| e.to_string()), 4),
            cell(r.termination_reason.as_deref().unwrap_or("-"), 14),
            cell(&num(r.reward), 7),
            cell(&r.step_count.to_string(), 5),
            cell(r.question.as_deref().unwrap_or(""), 60),
        );
    }
}

/// A readable rendering of one trajectory: its fields, then each step.
pub fn print_trajectory(record: &serde_json::Value) {
    let Some(obj) = record.as_object() else { return };
    for (k, v) in obj {
        if k != "steps" {
            println!("{k:>20}: {}", if let Some(s) = v.as_str() { s.to_string() } else { v.to_string() });
        }
    }
    let steps = obj.get("steps").and_then(|s| s.as_array()).cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let role = step.get("role").and_then(|r| r.as_str()).unwrap_or("?");
        println!("\n── step {i} · {role} {}", step.get("reward").map(|r| format!("· reward {r}")).unwrap_or_default());
        match step.get("content") {
            Some(serde_json::Value::String(s)) => println!("{s}"),
            Some(serde_json::Value::Null) | None => {}
            Some(other) => println!("{}", serde_json::to_string_pretty(other).unwrap_or_default()),
        }
        for call in step.get("tool_calls").and_then(|c| c.as_array()).into_iter().flatten() {
            let name =
                call.get("name").or_else(|| call.pointer("/function/name")).and_then(|n| n.as_str()).unwrap_or("?");
            let args =
                call.get("arguments").or_else(|| call.pointer("/function/arguments")).cloned().unwrap_or_default();
            let args = match &args {
                serde_json::Value::String(s) => serde_json::from_str::<serde_json::Value>(s)
                    .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                    .unwrap_or_else(|_| s.clone()),
                v => serde_json::to_string_pretty(v).unwrap_or_default(),
            };
            println!("→ {name}({args})");
        }
    }
}

pub fn fmt_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::Number(n) if n.is_f64() => format!("{:.3}", n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Statistics as a table: one row for the whole set, then one per group.
pub fn print_stats(report: &StatsReport, group_by: &[&str], ks: &[u64]) {
    let mut header: Vec<String> = group_by.iter().map(|g| g.to_string()).collect();
    if header.is_empty() {
        header.push("".into());
    }
    header.extend(["count", "tasks", "success_rate"].map(String::from));
    for k in ks {
        header.extend([format!("pass@{k}"), format!("pass^{k}")]);
    }
    let metrics = [("reward", true), ("reward", false), ("step_count", true), ("exec_time", true)];
    header.extend(metrics.iter().map(|(c, mean)| format!("{c}_{}", if *mean { "mean" } else { "median" })));
    println!("{}", header.iter().map(|h| cell(h, 14)).collect::<Vec<_>>().join(" "));
    let row = |mut cells: Vec<String>, s: &Statistics| {
        let f = |v: Option<f64>| fmt_value(&serde_json::Value::from(v));
        cells.extend([s.count.to_string(), s.tasks.to_string(), f(s.success_rate)]);
        for p in &s.pass {
            cells.extend([f(p.pass_at_k), f(p.pass_hat_k)]);
        }
        for (column, mean) in metrics {
            let m = s.metric(column);
            cells.push(f(m.and_then(|m| if mean { m.mean } else { m.median })));
        }
        println!("{}", cells.iter().map(|h| cell(h, 14)).collect::<Vec<_>>().join(" "));
    };
    let mut overall_label = vec!["(all)".to_string()];
    overall_label.resize(group_by.len().max(1), String::new());
    row(overall_label, &report.overall);
    for g in &report.groups {
        row(g.key.iter().map(|(_, v)| fmt_value(v)).collect(), &g.stats);
    }
    let o = &report.overall;
    let reasons: Vec<String> = o.termination_reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
    eprintln!(
        "success: is_success decided {}, reward >= {} decided {}, {} without either counted as failures; termination reasons: {}",
        o.success_rule.is_success,
        o.success_rule.threshold,
        o.success_rule.reward_threshold,
        o.success_rule.unlabelled,
        reasons.join(", ")
    );
}

pub fn print_curve(curve: &Curve) {
    let mut header: Vec<String> = ["series", "x", "count", "reward_mean", "success_rate"].map(String::from).to_vec();
    let ks: Vec<u64> = curve.points.first().map(|p| p.stats.pass.iter().map(|p| p.k).collect()).unwrap_or_default();
    header.extend(ks.iter().map(|k| format!("pass@{k}")));
    header.extend(["groups", "no_gradient_share", "all_fail_share"].map(String::from));
    println!("{}", header.iter().map(|h| cell(h, 14)).collect::<Vec<_>>().join(" "));
    let f = |v: Option<f64>| fmt_value(&serde_json::Value::from(v));
    for p in &curve.points {
        let s = &p.stats;
        let mut cells = vec![
            fmt_value(&p.series),
            fmt_value(&p.x),
            s.count.to_string(),
            f(s.metric("reward").and_then(|m| m.mean)),
            f(s.success_rate),
        ];
        cells.extend(s.pass.iter().map(|p| f(p.pass_at_k)));
        cells.extend([p.tasks.groups.to_string(), f(p.no_gradient_share()), f(p.all_fail_share())]);
        println!("{}", cells.iter().map(|c| cell(c, 14)).collect::<Vec<_>>().join(" "));
    }
}
