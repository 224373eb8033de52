//! `groups` and `diff-runs`: the RL training views.

use clap::Args;
use trajstore::{DiffRequest, GroupKeyRequest, GroupsRequest, Result, Trajstore};

use crate::commands::filter_pairs;
use crate::location::Location;
use crate::output::{cell, fmt_value, num, print_json};
use crate::FilterArgs;

#[derive(Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// The keys a group is within, besides data_id (comma-separated).
    #[arg(long, default_value = "training_id,iteration_id")]
    pub by: String,
    /// spread, reward_mean, reward_std, success_rate, n or data_id.
    #[arg(long, default_value = "spread")]
    pub sort: String,
    /// asc or desc (default: desc, asc for data_id).
    #[arg(long)]
    pub order: Option<String>,
    /// Only groups of this kind: mixed, all_success, all_fail, zero_variance.
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub page: u64,
    #[arg(long, default_value_t = 50)]
    pub page_size: u64,
    /// The standard deviation of rewards: sample (n - 1) or population.
    #[arg(long, default_value = "sample")]
    pub std: String,
    /// Added to the std in GRPO's advantage (with --show).
    #[arg(long, default_value = "1e-6")]
    pub eps: String,
    /// Where is_success is absent, a trajectory succeeds when reward >= this.
    #[arg(long, default_value = "1.0")]
    pub success_threshold: String,
    /// Show one group's members with their advantages: the value of each --by key, then
    /// data_id, as KEY=VALUE pairs (`training_id=run-7,iteration_id=3,data_id=task-1`).
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub show: Option<String>,
}

#[derive(Args)]
pub struct DiffArgs {
    /// Side a's filters: NAME=VALUE[,NAME=VALUE...].
    #[arg(long)]
    pub a: String,
    /// Side b's filters.
    #[arg(long)]
    pub b: String,
    /// A task is solved on a side when its success rate there is at least this.
    #[arg(long, default_value = "0.5")]
    pub solved_threshold: String,
    #[arg(long, default_value = "1.0")]
    pub success_threshold: String,
    /// The k of pass@k and pass^k per side (comma-separated).
    #[arg(long, default_value = "1")]
    pub k: String,
    /// Seed of the bootstrap interval.
    #[arg(long, default_value = "0")]
    pub seed: String,
}

pub async fn groups(db: &Location, json: bool, args: GroupsArgs) -> Result<i32> {
    let store = db.open().await?;
    if let Some(show) = &args.show {
        if !args.filters.filters.is_empty() || args.kind.is_some() {
            return Err(trajstore::Error::invalid(
                "--show",
                "shows one whole group: name it by its keys, without --filter or --kind",
            ));
        }
        return show_group(&store, json, &args, show).await;
    }
    let mut pairs = filter_pairs(&args.filters)?;
    pairs.extend([
        ("by".to_string(), args.by),
        ("sort".to_string(), args.sort),
        ("page".to_string(), args.page.to_string()),
        ("page_size".to_string(), args.page_size.to_string()),
        ("std".to_string(), args.std),
        ("success_threshold".to_string(), args.success_threshold),
    ]);
    pairs.extend(args.order.map(|o| ("order".to_string(), o)));
    pairs.extend(args.kind.map(|k| ("kind".to_string(), k)));
    let req = GroupsRequest::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let page = store.groups(&req).await?;
    if json {
        print_json(&*page);
        return Ok(0);
    }
    let mut header: Vec<&str> = req.by.clone();
    header.extend(["data_id", "n", "reward_mean", "reward_std", "spread", "success", "steps", "kind"]);
    println!("{}", header.iter().map(|h| cell(h, 14)).collect::<Vec<_>>().join(" "));
    for g in &page.data {
        let mut cells: Vec<String> = g.keys.values().map(fmt_value).collect();
        let s = &g.stats;
        cells.extend([
            g.data_id.clone(),
            s.n.to_string(),
            num(s.reward_mean),
            num(s.reward_std),
            num(s.reward_spread),
            format!("{}/{}", s.success_count, s.n),
            num(s.step_count_mean),
            s.kind.name().to_string(),
        ]);
        println!("{}", cells.iter().map(|c| cell(c, 14)).collect::<Vec<_>>().join(" "));
    }
    let k = &page.kinds;
    eprintln!(
        "{} groups (page {} of {}); mixed {}, all_success {}, all_fail {}, zero_variance {}; every reward equal in {}; {} trajectories without data_id",
        page.total,
        page.page,
        page.total.div_ceil(page.page_size).max(1),
        k.mixed,
        k.all_success,
        k.all_fail,
        k.zero_variance,
        k.no_gradient,
        page.ungrouped
    );
    Ok(0)
}

async fn show_group(store: &Trajstore, json: bool, args: &GroupsArgs, show: &str) -> Result<i32> {
    let by = GroupsRequest::parse([("by", args.by.as_str())])?.by;
    let mut values: Vec<Option<String>> = vec![None; by.len()];
    let mut data_id = None;
    for part in show.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| trajstore::Error::invalid("--show", format!("expected KEY=VALUE, got {part:?}")))?;
        match by.iter().position(|b| *b == k.trim()) {
            Some(i) => values[i] = Some(v.to_string()),
            None if k.trim() == "data_id" => data_id = Some(v.to_string()),
            None => {
                return Err(trajstore::Error::invalid(
                    "--show",
                    format!("{k:?} is not a group key; give {} and data_id", by.join(", ")),
                ))
            }
        }
    }
    let data_id = data_id.ok_or_else(|| trajstore::Error::invalid("--show", "data_id=... is required"))?;
    // A key left out is a group without that value.
    let values: Vec<&str> = values.iter().map(|v| v.as_deref().unwrap_or("~")).collect();
    let params = [
        ("std", args.std.as_str()),
        ("eps", args.eps.as_str()),
        ("success_threshold", args.success_threshold.as_str()),
    ];
    let req = GroupKeyRequest::parse(&by, &values, &data_id, params)?;
    let group = store.group(&req).await?;
    if json {
        print_json(&group);
        return Ok(0);
    }
    println!(
        "{} {} {} {} {} {} {}",
        cell("RANK", 5),
        cell("TRAJECTORY", 30),
        cell("SAMPLE", 7),
        cell("REWARD", 8),
        cell("SUCCESS", 8),
        cell("GRPO", 8),
        cell("RLOO", 8)
    );
    for m in &group.members {
        println!(
            "{} {} {} {} {} {} {}",
            cell(&m.advantage.rank.map_or("-".into(), |r| r.to_string()), 5),
            cell(&m.trajectory_id, 30),
            cell(&m.sample_id.map_or("-".into(), |s| s.to_string()), 7),
            cell(&num(m.reward), 8),
            cell(if m.success { "yes" } else { "no" }, 8),
            cell(&num(m.advantage.advantage_grpo), 8),
            cell(&num(m.advantage.advantage_rloo), 8)
        );
    }
    let s = &group.stats;
    eprintln!(
        "{} members; reward mean {} std ({}) {}; {} succeeded; kind {}",
        s.n,
        num(s.reward_mean),
        group.std,
        num(s.reward_std),
        s.success_count,
        s.kind.name()
    );
    Ok(0)
}

pub async fn diff_runs(db: &Location, json: bool, args: DiffArgs) -> Result<i32> {
    let pairs = [
        ("a", args.a.as_str()),
        ("b", args.b.as_str()),
        ("solved_threshold", args.solved_threshold.as_str()),
        ("success_threshold", args.success_threshold.as_str()),
        ("k", args.k.as_str()),
        ("seed", args.seed.as_str()),
    ];
    let req = DiffRequest::parse(pairs)?;
    let store = db.open().await?;
    let d = store.diff_runs(&req).await?;
    if json {
        print_json(&d);
        return Ok(0);
    }
    for (name, side) in [("a", &d.a), ("b", &d.b)] {
        let pass1 = side.pass.get("pass@1").copied().flatten();
        println!(
            "{name}: {} — {} tasks, {} trajectories, {} solved, pass@1 {}",
            side.filters,
            side.tasks,
            side.trajectories,
            side.solved,
            num(pass1)
        );
    }
    for (name, bucket) in [
        ("learned", &d.learned),
        ("forgotten", &d.forgotten),
        ("stayed solved", &d.stayed_solved),
        ("stayed unsolved", &d.stayed_unsolved),
        ("only on a", &d.only_a),
        ("only on b", &d.only_b),
    ] {
        let shown: Vec<&str> = bucket.tasks.iter().take(10).map(String::as_str).collect();
        let more = if bucket.count as usize > shown.len() { ", …" } else { "" };
        println!("{}{:>6}  {}{more}", cell(name, 16), bucket.count, shown.join(", "));
    }
    let ci = d.delta_ci95.map_or("-".to_string(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"));
    println!("delta pass@1 over shared tasks: {} (95% bootstrap interval {ci})", num(d.delta_pass_at_1));
    Ok(0)
}
