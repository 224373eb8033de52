//! Prompt groups of RL training, as plain functions: a group's statistics and kind, its
//! members' advantages, and the tasks learned or forgotten between two sides of a run.
//!
//! Definitions (also in `docs/training.md`):
//! * A group is the samples of one `data_id` within one value of the grouping keys (by
//!   default `training_id`, `iteration_id`). Success follows [`crate::succeeded`].
//! * Reward statistics use the members with a reward; `reward_std` is the sample standard
//!   deviation (`n - 1`, as `torch.std` in TRL and verl) unless the population one is asked.
//! * `kind`: `all_success` when every member succeeded, `all_fail` when none did,
//!   `zero_variance` when success is mixed but every reward is equal, else `mixed`. The
//!   flag `zero_variance` is true whenever every reward is equal, whatever the kind: such
//!   a group gives GRPO no gradient.
//! * GRPO advantage: `(r - mean) / (std + eps)` over the group's rewards; RLOO advantage:
//!   `r - mean of the other members' rewards`. A member without a reward has neither.
//!   With one reward in the group, RLOO has no others (null) and the sample std is
//!   undefined (null); the population std is 0, so GRPO gives 0. Equal rewards give
//!   exactly 0, whatever `eps`.
//! * rank: 1 for the highest reward; equal rewards share the best rank of their tie.

use std::collections::BTreeMap;

use serde::Serialize;

/// What a group can teach: see the module header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Mixed,
    AllSuccess,
    AllFail,
    ZeroVariance,
}

impl GroupKind {
    pub const ALL: [GroupKind; 4] =
        [GroupKind::Mixed, GroupKind::AllSuccess, GroupKind::AllFail, GroupKind::ZeroVariance];

    pub fn name(self) -> &'static str {
        match self {
            GroupKind::Mixed => "mixed",
            GroupKind::AllSuccess => "all_success",
            GroupKind::AllFail => "all_fail",
            GroupKind::ZeroVariance => "zero_variance",
        }
    }

    pub fn parse(s: &str) -> Option<GroupKind> {
        GroupKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Which standard deviation normalises rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StdKind {
    /// Divides by `n - 1` (`torch.std`'s default, used by TRL and verl).
    #[default]
    Sample,
    /// Divides by `n`.
    Population,
}

impl StdKind {
    pub fn parse(s: &str) -> Option<StdKind> {
        match s {
            "sample" => Some(StdKind::Sample),
            "population" => Some(StdKind::Population),
            _ => None,
        }
    }

    /// The standard deviation from a count and a sum of squared deviations.
    fn of(self, n: u64, m2: f64) -> Option<f64> {
        match self {
            StdKind::Sample if n >= 2 => Some((m2 / (n - 1) as f64).max(0.0).sqrt()),
            StdKind::Population if n >= 1 => Some((m2 / n as f64).max(0.0).sqrt()),
            _ => None,
        }
    }
}

/// Running aggregate of one group (Welford's update for the reward's mean and spread).
#[derive(Debug, Clone, Default)]
pub struct GroupAcc {
    n: u64,
    success: u64,
    rewards: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    steps_sum: f64,
    steps: u64,
    tokens_sum: f64,
    tokens: u64,
}

/// One group's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupStats {
    /// Members.
    pub n: u64,
    /// Members with a reward.
    pub rewarded: u64,
    pub reward_mean: Option<f64>,
    pub reward_std: Option<f64>,
    pub reward_min: Option<f64>,
    pub reward_max: Option<f64>,
    /// `reward_max - reward_min`: the sort key `spread`.
    pub reward_spread: Option<f64>,
    pub success_count: u64,
    pub success_rate: f64,
    pub step_count_mean: Option<f64>,
    /// Mean of `input_tokens + output_tokens` over the members with either.
    pub tokens_mean: Option<f64>,
    pub kind: GroupKind,
    /// Every reward equal: no GRPO gradient.
    pub zero_variance: bool,
}

impl GroupAcc {
    pub fn push(&mut self, success: bool, reward: Option<f64>, step_count: Option<i64>, tokens: Option<i64>) {
        self.n += 1;
        self.success += u64::from(success);
        if let Some(r) = reward.filter(|r| r.is_finite()) {
            if self.rewards == 0 {
                (self.min, self.max) = (r, r);
            } else {
                self.min = self.min.min(r);
                self.max = self.max.max(r);
            }
            self.rewards += 1;
            let delta = r - self.mean;
            self.mean += delta / self.rewards as f64;
            self.m2 += delta * (r - self.mean);
        }
        if let Some(s) = step_count {
            self.steps_sum += s as f64;
            self.steps += 1;
        }
        if let Some(t) = tokens {
            self.tokens_sum += t as f64;
            self.tokens += 1;
        }
    }

    pub fn finish(&self, std: StdKind) -> GroupStats {
        let rewarded = self.rewards > 0;
        let zero_variance = rewarded && self.min == self.max;
        let kind = if self.success == self.n {
            GroupKind::AllSuccess
        } else if self.success == 0 {
            GroupKind::AllFail
        } else if zero_variance {
            GroupKind::ZeroVariance
        } else {
            GroupKind::Mixed
        };
        let mean_of = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
        GroupStats {
            n: self.n,
            rewarded: self.rewards,
            reward_mean: rewarded.then_some(self.mean),
            reward_std: std.of(self.rewards, self.m2),
            reward_min: rewarded.then_some(self.min),
            reward_max: rewarded.then_some(self.max),
            reward_spread: rewarded.then_some(self.max - self.min),
            success_count: self.success,
            success_rate: if self.n == 0 { 0.0 } else { self.success as f64 / self.n as f64 },
            step_count_mean: mean_of(self.steps_sum, self.steps),
            tokens_mean: mean_of(self.tokens_sum, self.tokens),
            kind,
            zero_variance,
        }
    }
}

/// A member's place in its group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Advantage {
    pub advantage_grpo: Option<f64>,
    pub advantage_rloo: Option<f64>,
    pub rank: Option<u32>,
}

/// The advantage and rank of each reward of one group, in the given order.
pub fn advantages(rewards: &[Option<f64>], std: StdKind, eps: f64) -> Vec<Advantage> {
    let valid: Vec<f64> = rewards.iter().flatten().copied().filter(|r| r.is_finite()).collect();
    let n = valid.len();
    let sum: f64 = valid.iter().sum();
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let m2: f64 = valid.iter().map(|r| (r - mean) * (r - mean)).sum();
    // Equal rewards have a spread of exactly 0; the two-pass sum could leave ~1e-17,
    // which `eps = 0` would blow up into advantages of about +-1.
    let equal = valid.windows(2).all(|w| w[0] == w[1]);
    let sd = std.of(n as u64, if equal { 0.0 } else { m2 });
    rewards
        .iter()
        .map(|r| match r.filter(|r| r.is_finite()) {
            None => Advantage { advantage_grpo: None, advantage_rloo: None, rank: None },
            Some(r) => Advantage {
                advantage_grpo: sd.map(|sd| if equal { 0.0 } else { (r - mean) / (sd + eps) }),
                advantage_rloo: (n >= 2).then(|| if equal { 0.0 } else { r - (sum - r) / (n - 1) as f64 }),
                rank: Some(1 + valid.iter().filter(|&&v| v > r).count() as u32),
            },
        })
        .collect()
}

/// One task on one side: samples and successes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskTally {
    pub n: u64,
    pub success: u64,
}

impl TaskTally {
    pub fn rate(self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.success as f64 / self.n as f64
        }
    }
}

/// How a diff is computed.
#[derive(Debug, Clone)]
pub struct DiffConfig {
    /// A task is solved on a side when its success rate there is at least this.
    pub solved_threshold: f64,
    pub ks: Vec<u64>,
    /// Bootstrap resamples for the interval of `delta_pass@1`.
    pub resamples: u32,
    pub seed: u64,
}

impl Default for DiffConfig {
    fn default() -> Self {
        DiffConfig { solved_threshold: 0.5, ks: vec![1], resamples: 1000, seed: 0 }
    }
}

/// The most task ids a bucket lists (its count is exact).
pub const BUCKET_LIST_LIMIT: usize = 1000;

/// Tasks of one bucket: the exact count and the first ids in byte order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    pub count: u64,
    pub tasks: Vec<String>,
}

impl Bucket {
    fn add(&mut self, task: &str) {
        self.count += 1;
        if self.tasks.len() < BUCKET_LIST_LIMIT {
            self.tasks.push(task.to_string());
        }
    }
}

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DiffSide {
    /// The side's filters, as given.
    pub filters: String,
    pub trajectories: u64,
    pub tasks: u64,
    pub solved: u64,
    /// pass@k and pass^k averaged over the side's tasks with at least k samples;
    /// `pass@1` is the mean per-task success rate.
    #[serde(flatten)]
    #[schema(value_type = BTreeMap<String, Option<f64>>)]
    pub pass: BTreeMap<String, Option<f64>>,
}

/// Learned and forgotten tasks between sides a and b.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunDiff {
    pub a: DiffSide,
    pub b: DiffSide,
    /// Unsolved on a, solved on b.
    pub learned: Bucket,
    /// Solved on a, unsolved on b.
    pub forgotten: Bucket,
    pub stayed_solved: Bucket,
    pub stayed_unsolved: Bucket,
    pub only_a: Bucket,
    pub only_b: Bucket,
    /// Mean over the tasks on both sides of (success rate on b - success rate on a).
    #[serde(rename = "delta_pass@1")]
    pub delta_pass_at_1: Option<f64>,
    /// The 2.5th and 97.5th percentiles of that mean over bootstrap resamples of the
    /// shared tasks (seeded: the same data gives the same interval).
    pub delta_ci95: Option<[f64; 2]>,
    pub solved_threshold: f64,
}

fn side(filters: String, tasks: &BTreeMap<String, TaskTally>, cfg: &DiffConfig) -> DiffSide {
    let mut pass = BTreeMap::new();
    for &k in &cfg.ks {
        let mean = |f: fn(u64, u64, u64) -> Option<f64>| {
            let vals: Vec<f64> = tasks.values().filter_map(|t| f(t.n, t.success, k)).collect();
            (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
        };
        pass.insert(format!("pass@{k}"), mean(crate::pass_at_k));
        pass.insert(format!("pass^{k}"), mean(crate::pass_hat_k));
    }
    DiffSide {
        filters,
        trajectories: tasks.values().map(|t| t.n).sum(),
        tasks: tasks.len() as u64,
        solved: tasks.values().filter(|t| t.rate() >= cfg.solved_threshold).count() as u64,
        pass,
    }
}

/// The bootstrap percentile interval of the mean of `deltas`.
pub fn bootstrap_ci95(deltas: &[f64], resamples: u32, seed: u64) -> Option<[f64; 2]> {
    if deltas.is_empty() || resamples == 0 {
        return None;
    }
    // Seeded: the same data gives the same interval.
    let mut rng = trajstore_model::demo::Rng::new(seed);
    let n = deltas.len();
    let mut pick = || deltas[(rng.next_u64() % n as u64) as usize];
    let mut means: Vec<f64> = (0..resamples).map(|_| (0..n).map(|_| pick()).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    Some([at(0.025), at(0.975)])
}

/// Compares two sides' per-task tallies (task id -> tally).
pub fn diff_runs(
    a: (String, &BTreeMap<String, TaskTally>),
    b: (String, &BTreeMap<String, TaskTally>),
    cfg: &DiffConfig,
) -> RunDiff {
    let (mut learned, mut forgotten, mut stayed_solved, mut stayed_unsolved) =
        (Bucket::default(), Bucket::default(), Bucket::default(), Bucket::default());
    let (mut only_a, mut only_b) = (Bucket::default(), Bucket::default());
    let mut deltas = Vec::new();
    let solved = |t: &TaskTally| t.rate() >= cfg.solved_threshold;
    for (task, ta) in a.1 {
        match b.1.get(task) {
            None => only_a.add(task),
            Some(tb) => {
                deltas.push(tb.rate() - ta.rate());
                match (solved(ta), solved(tb)) {
                    (false, true) => learned.add(task),
                    (true, false) => forgotten.add(task),
                    (true, true) => stayed_solved.add(task),
                    (false, false) => stayed_unsolved.add(task),
                }
            }
        }
    }
    for task in b.1.keys().filter(|t| !a.1.contains_key(*t)) {
        only_b.add(task);
    }
    let delta = (!deltas.is_empty()).then(|| deltas.iter().sum::<f64>() / deltas.len() as f64);
    RunDiff {
        a: side(a.0, a.1, cfg),
        b: side(b.0, b.1, cfg),
        learned,
        forgotten,
        stayed_solved,
        stayed_unsolved,
        only_a,
        only_b,
        delta_pass_at_1: delta,
        delta_ci95: bootstrap_ci95(&deltas, cfg.resamples, cfg.seed),
        solved_threshold: cfg.solved_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent two-pass figures for one group.
    fn reference(rewards: &[f64]) -> (f64, f64, f64) {
        let n = rewards.len() as f64;
        let mean = rewards.iter().sum::<f64>() / n;
        let ss: f64 = rewards.iter().map(|r| (r - mean).powi(2)).sum();
        (mean, (ss / (n - 1.0)).sqrt(), (ss / n).sqrt())
    }

    #[test]
    fn group_statistics_match_a_two_pass_computation() {
        let rewards = [0.0, 1.0, 0.5, 1.0, 0.25];
        let mut acc = GroupAcc::default();
        for (i, r) in rewards.iter().enumerate() {
            acc.push(*r >= 1.0, Some(*r), Some(i as i64 + 1), Some(100));
        }
        acc.push(false, None, None, None);
        let (mean, sample, population) = reference(&rewards);
        let s = acc.finish(StdKind::Sample);
        assert_eq!((s.n, s.rewarded, s.success_count), (6, 5, 2));
        assert!((s.reward_mean.unwrap() - mean).abs() < 1e-12);
        assert!((s.reward_std.unwrap() - sample).abs() < 1e-12);
        assert!((acc.finish(StdKind::Population).reward_std.unwrap() - population).abs() < 1e-12);
        assert_eq!((s.reward_min, s.reward_max, s.reward_spread), (Some(0.0), Some(1.0), Some(1.0)));
        assert_eq!(s.step_count_mean, Some(3.0));
        assert_eq!(s.tokens_mean, Some(100.0));
        assert_eq!((s.kind, s.zero_variance), (GroupKind::Mixed, false));
    }

    #[test]
    fn kinds_follow_the_documented_precedence() {
        let kind = |members: &[(bool, Option<f64>)]| {
            let mut acc = GroupAcc::default();
            for (s, r) in members {
                acc.push(*s, *r, None, None);
            }
            let f = acc.finish(StdKind::Sample);
            (f.kind, f.zero_variance)
        };
        assert_eq!(kind(&[(true, Some(1.0)), (true, Some(1.0))]), (GroupKind::AllSuccess, true));
        assert_eq!(kind(&[(false, Some(0.0)), (false, Some(0.2))]), (GroupKind::AllFail, false));
        assert_eq!(kind(&[(true, Some(0.5)), (false, Some(0.5))]), (GroupKind::ZeroVariance, true));
        assert_eq!(kind(&[(true, Some(1.0)), (false, Some(0.0))]), (GroupKind::Mixed, false));
        assert_eq!(kind(&[(false, None)]), (GroupKind::AllFail, false));
        assert_eq!(kind(&[(true, Some(3.0))]), (GroupKind::AllSuccess, true));
    }

    #[test]
    fn advantages_match_their_definitions() {
        let rewards = [Some(1.0), Some(0.0), None, Some(1.0), Some(0.5)];
        let valid = [1.0, 0.0, 1.0, 0.5];
        let (mean, sample, population) = reference(&valid);
        let out = advantages(&rewards, StdKind::Sample, 1e-6);
        let pop = advantages(&rewards, StdKind::Population, 0.1);
        for (i, r) in rewards.iter().enumerate() {
            let Some(r) = r else {
                assert_eq!(out[i], Advantage { advantage_grpo: None, advantage_rloo: None, rank: None });
                continue;
            };
            assert!((out[i].advantage_grpo.unwrap() - (r - mean) / (sample + 1e-6)).abs() < 1e-12);
            assert!((pop[i].advantage_grpo.unwrap() - (r - mean) / (population + 0.1)).abs() < 1e-12);
            let others: Vec<f64> = valid.iter().copied().filter(|v| v != r).collect();
            let equal = valid.iter().filter(|v| *v == r).count() - 1;
            let others_mean = (others.iter().sum::<f64>() + *r * equal as f64) / (others.len() + equal) as f64;
            assert!((out[i].advantage_rloo.unwrap() - (r - others_mean)).abs() < 1e-12);
        }
        // Ties share the best rank.
        assert_eq!(out.iter().map(|a| a.rank).collect::<Vec<_>>(), [Some(1), Some(4), None, Some(1), Some(3)]);
        // One reward: no others for RLOO, no sample std; the population std is 0.
        let single = [Some(0.7)];
        assert_eq!(advantages(&single, StdKind::Sample, 1e-6)[0].advantage_grpo, None);
        assert_eq!(advantages(&single, StdKind::Sample, 1e-6)[0].advantage_rloo, None);
        assert_eq!(advantages(&single, StdKind::Population, 1e-6)[0].advantage_grpo, Some(0.0));
        // Equal rewards: GRPO gives exactly 0, even with eps = 0.
        let same = [Some(0.1), Some(0.1), Some(0.1)];
        for a in advantages(&same, StdKind::Sample, 0.0) {
            assert_eq!((a.advantage_grpo, a.advantage_rloo, a.rank), (Some(0.0), Some(0.0), Some(1)));
        }
    }

    fn tallies(items: &[(&str, u64, u64)]) -> BTreeMap<String, TaskTally> {
        items.iter().map(|(t, n, s)| (t.to_string(), TaskTally { n: *n, success: *s })).collect()
    }

    #[test]
    fn diff_buckets_every_task_once() {
        let a = tallies(&[("learn", 4, 0), ("forget", 4, 4), ("keep", 2, 1), ("never", 3, 0), ("gone", 1, 1)]);
        let b = tallies(&[("learn", 4, 3), ("forget", 4, 1), ("keep", 2, 2), ("never", 3, 1), ("new", 2, 0)]);
        let d = diff_runs(("a".into(), &a), ("b".into(), &b), &DiffConfig { ks: vec![1, 2], ..Default::default() });
        assert_eq!(d.learned.tasks, ["learn"]);
        assert_eq!(d.forgotten.tasks, ["forget"]);
        assert_eq!(d.stayed_solved.tasks, ["keep"]);
        assert_eq!(d.stayed_unsolved.tasks, ["never"]);
        assert_eq!(
            (d.only_a.tasks.as_slice(), d.only_b.tasks.as_slice()),
            (&["gone".to_string()][..], &["new".to_string()][..])
        );
        let deltas = [0.75, -0.75, 0.5, 1.0 / 3.0];
        let expect = deltas.iter().sum::<f64>() / 4.0;
        assert!((d.delta_pass_at_1.unwrap() - expect).abs() < 1e-12);
        let [lo, hi] = d.delta_ci95.unwrap();
        assert!(lo <= expect && expect <= hi && lo >= -0.75 && hi <= 1.0, "{lo} {hi}");
        assert_eq!(d.a.tasks, 5);
        assert_eq!(d.a.trajectories, 14);
        let a_pass1 = (0.0 + 1.0 + 0.5 + 0.0 + 1.0) / 5.0;
        assert!((d.a.pass["pass@1"].unwrap() - a_pass1).abs() < 1e-12);
        // pass@2 skips "gone" (one sample).
        assert!(d.a.pass["pass@2"].is_some());
        // Seeded: the same input gives the same interval.
        let again = diff_runs(("a".into(), &a), ("b".into(), &b), &DiffConfig { ks: vec![1, 2], ..Default::default() });
        assert_eq!(again.delta_ci95, d.delta_ci95);
    }

    #[test]
    fn kinds_parse_back_from_their_names() {
        for k in GroupKind::ALL {
            assert_eq!(GroupKind::parse(k.name()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        assert_eq!(GroupKind::parse("other"), None);
    }
}
