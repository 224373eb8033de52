//! A seeded generator of realistic RL trajectories, for `trajstore demo` and the benchmarks.
//!
//! The data looks like a GRPO-style training run: `prompts` tasks, each sampled
//! `samples_per_prompt` times per epoch, in several training runs whose success rate
//! improves with the epoch; tool-using conversations of 1 to 60 steps; a few large tool
//! observations (100 KB and more); every usual termination reason. Hard prompts are
//! scored pass/fail (groups that fail every sample have equal rewards) and one prompt in
//! seven gets harder after two epochs (a task the run forgets). The same
//! configuration always yields the same records, byte for byte.

/// SplitMix64: tiny, fast and stable across versions, so seeds stay reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub seed: u64,
    pub runs: u32,
    pub epochs: u32,
    pub iterations_per_epoch: u32,
    pub prompts: u32,
    pub samples_per_prompt: u32,
    /// Probability that a tool observation is a large one (100-300 KB).
    pub large_observation_rate: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 42,
            runs: 3,
            epochs: 4,
            iterations_per_epoch: 5,
            prompts: 50,
            samples_per_prompt: 8,
            large_observation_rate: 0.002,
        }
    }
}

impl DemoConfig {
    /// A layout of about `total` trajectories (3 runs x 5 epochs x P prompts x 8 samples).
    pub fn with_total(total: u64, seed: u64) -> Self {
        let runs = 3u32;
        let epochs = 5u32;
        let samples = 8u32;
        let prompts = (total / (runs * epochs * samples) as u64).max(1) as u32;
        DemoConfig {
            seed,
            runs,
            epochs,
            // About eight prompt groups per training step, at most ten steps per epoch.
            iterations_per_epoch: (prompts / 8).clamp(1, 10),
            prompts,
            samples_per_prompt: samples,
            large_observation_rate: 0.002,
        }
    }

    pub fn total(&self) -> u64 {
        self.runs as u64 * self.epochs as u64 * self.prompts as u64 * self.samples_per_prompt as u64
    }

    /// Every record as one line of native JSON, in a fixed order.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let cfg = self.clone();
        let difficulty: Vec<f64> = {
            let mut rng = Rng::new(cfg.seed);
            (0..cfg.prompts).map(|_| rng.f64() * 4.0 - 1.0).collect()
        };
        (0..cfg.runs).flat_map(move |run| {
            let cfg = cfg.clone();
            let difficulty = difficulty.clone();
            (0..cfg.epochs).flat_map(move |epoch| {
                let cfg = cfg.clone();
                let difficulty = difficulty.clone();
                (0..cfg.prompts).flat_map(move |prompt| {
                    let cfg = cfg.clone();
                    let d = difficulty[prompt as usize];
                    (0..cfg.samples_per_prompt).map(move |sample| record(&cfg, run, epoch, prompt, sample, d))
                })
            })
        })
    }
}

const TOOLS: &[&str] = &["bash", "python", "search", "read_file", "write_file", "calculator"];
const SUBJECTS: &[&str] = &[
    "the failing unit test in the parser module",
    "the total revenue in sales.csv for 2023",
    "the shortest path between the two warehouses",
    "the memory leak in the connection pool",
    "the number of prime numbers below 10,000",
    "the broken link checker script",
    "the average rating of the top 50 movies",
    "the flaky integration test in the payment service",
    "the regex that validates email addresses",
    "the SQL query that lists inactive customers",
];
const VERBS: &[&str] = &["Fix", "Compute", "Find", "Explain", "Refactor", "Debug", "Write a test for", "Optimise"];
const FAILURES: &[&str] = &["error", "timeout", "max_iterations", "user_cancelled"];
const AGENTS: &[&str] = &["react-agent", "codeact-agent", "planner-agent"];

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a str serialises")
}

fn observation(rng: &mut Rng, large_rate: f64) -> String {
    let lines = if rng.f64() < large_rate { rng.range(2_000, 6_000) } else { rng.range(1, 12) };
    let mut out = String::new();
    for i in 0..lines {
        match rng.range(0, 3) {
            0 => out.push_str(&format!("line {i}: ok ({} ms)\n", rng.range(1, 900))),
            1 => out.push_str(&format!(
                "  File \"src/module_{}.py\", line {}, in run\n",
                rng.range(1, 40),
                rng.range(1, 500)
            )),
            2 => out.push_str(&format!(
                "{:08x} {:08x} {:08x} {:08x}\n",
                rng.next_u64() as u32,
                rng.next_u64() as u32,
                rng.next_u64() as u32,
                rng.next_u64() as u32
            )),
            _ => out.push_str("AssertionError: expected 42, got 41\n"),
        }
    }
    out
}

/// One tool call and its result: the assistant's step, then the tool's. `subject`
/// picks what the thought is about.
fn tool_turn(rng: &mut Rng, cfg: &DemoConfig, call_id: &str, subject: usize, turn: usize) -> [String; 2] {
    let tool = *rng.pick(TOOLS);
    let args = match tool {
        "bash" => format!(r#"{{"command":"grep -rn 'def handler' src/ | head -{}"}}"#, rng.range(5, 50)),
        "python" => format!(
            r#"{{"code":"import pandas as pd\ndf = pd.read_csv('data_{}.csv')\nprint(df.describe())"}}"#,
            rng.range(1, 9)
        ),
        "search" => format!(r#"{{"query":"{} site:docs.python.org","top_k":{}}}"#, tool, rng.range(3, 10)),
        _ => format!(r#"{{"path":"src/module_{}.py"}}"#, rng.range(1, 40)),
    };
    let thought = format!("Step {}: I will use `{tool}` to check {}.", turn + 1, SUBJECTS[subject % SUBJECTS.len()]);
    let call = format!(
        r#"{{"role":"assistant","content":{},"tool_calls":[{{"id":"{call_id}","type":"function","function":{{"name":"{tool}","arguments":{}}}}}]}}"#,
        json_str(&thought),
        json_str(&args)
    );
    let obs = observation(rng, cfg.large_observation_rate);
    let step_reward = if rng.f64() < 0.3 { format!(r#","reward":{:.2}"#, rng.f64()) } else { String::new() };
    let result = format!(
        r#"{{"role":"tool","tool_call_id":"{call_id}","name":"{tool}","content":{}{step_reward}}}"#,
        json_str(&obs)
    );
    [call, result]
}

/// The agent's last message.
fn final_answer(rng: &mut Rng, success: bool) -> String {
    if success {
        format!(
            "The answer is ready.\n\n```python\ndef solve():\n    return {}\n```\n\nAll {} checks pass.",
            rng.range(1, 1000),
            rng.range(1, 20)
        )
    } else {
        "I could not complete the task: the command failed with a traceback.".to_string()
    }
}

/// The messages of one record: system, user, `tool_turns` tool calls with their results,
/// and a final answer when `answer` says whether it succeeded.
fn steps(
    rng: &mut Rng,
    cfg: &DemoConfig,
    question: &str,
    [run, epoch, prompt, sample]: [u32; 4],
    tool_turns: usize,
    answer: Option<bool>,
) -> Vec<String> {
    let mut steps = Vec::with_capacity(3 + tool_turns * 2);
    steps.push(format!(
        r#"{{"role":"system","content":{}}}"#,
        json_str("You are a careful software agent. Use the tools to inspect the environment before answering.")
    ));
    steps.push(format!(r#"{{"role":"user","content":{}}}"#, json_str(question)));
    for turn in 0..tool_turns {
        let call_id = format!("call_{run}_{epoch}_{prompt}_{sample}_{turn}");
        steps.extend(tool_turn(rng, cfg, &call_id, prompt as usize + turn, turn));
    }
    if let Some(success) = answer {
        steps.push(format!(r#"{{"role":"assistant","content":{}}}"#, json_str(&final_answer(rng, success))));
    }
    steps
}

fn record(cfg: &DemoConfig, run: u32, epoch: u32, prompt: u32, sample: u32, difficulty: f64) -> String {
    let mut rng =
        Rng::new(cfg.seed ^ ((run as u64) << 48) ^ ((epoch as u64) << 32) ^ ((prompt as u64) << 8) ^ sample as u64);
    let skill = -0.5 + 0.9 * epoch as f64 + 0.4 * run as f64;
    // One prompt in seven gets harder from the third epoch on, so that a run forgets
    // some tasks it had learned (the Runs page's "forgotten" bucket).
    let difficulty = if prompt % 7 == 3 && epoch >= 2 { difficulty + 4.0 } else { difficulty };
    let p_success = 1.0 / (1.0 + (-(skill - difficulty) * 1.6).exp());
    let success = rng.f64() < p_success;
    let question = format!(
        "{} {} (task {prompt}).",
        VERBS[prompt as usize % VERBS.len()],
        SUBJECTS[prompt as usize % SUBJECTS.len()]
    );
    let termination = if success { "success" } else { *rng.pick(FAILURES) };
    let tool_turns = if termination == "max_iterations" { 29 } else { rng.range(0, 12) as usize };
    let ended = termination != "max_iterations" && termination != "user_cancelled";
    let steps = steps(&mut rng, cfg, &question, [run, epoch, prompt, sample], tool_turns, ended.then_some(success));
    // Hard prompts (difficulty above 1.8) are scored pass/fail, so a group of them that
    // fails every sample has equal rewards: no GRPO gradient.
    let partial = (rng.f64() * 0.8 * 100.0).round() / 100.0;
    let reward = if success {
        1.0
    } else if difficulty > 1.8 {
        0.0
    } else {
        partial
    };
    let toolcall_reward = (rng.f64() * 100.0).round() / 100.0;
    let res_reward = if success { 1.0 } else { 0.0 };
    let iteration = epoch * cfg.iterations_per_epoch + prompt % cfg.iterations_per_epoch.max(1);
    let created = 1_767_225_600u64 + run as u64 * 864_000 + epoch as u64 * 86_400 + prompt as u64 * 10 + sample as u64;
    // One record in ten leaves out `is_success`, so statistics fall back to the reward rule.
    let is_success = if rng.f64() < 0.1 { String::new() } else { format!(r#""is_success":{success},"#) };
    // Token counts follow the length of the run, without drawing from `rng` (which
    // would change every later value).
    let input_tokens = 900 + tool_turns as u64 * 1_400 + created % 700;
    let output_tokens = 120 + tool_turns as u64 * 260 + (created % 97) * 3;
    let tags = match (success, rng.range(0, 9)) {
        (false, 0) => r#"["needs-review"]"#,
        (true, 1) => r#"["golden"]"#,
        (_, 2) => r#"["long-context","tools"]"#,
        _ => "[]",
    };
    format!(
        concat!(
            r#"{{"trajectory_id":"run-{run}-e{epoch}-p{prompt:05}-s{sample}","data_id":"task-{prompt:05}","agent_name":"{agent}","training_id":"run-{run}","#,
            r#""epoch_id":{epoch},"iteration_id":{iteration},"sample_id":{sample},"task":{{"question":{question},"difficulty":{difficulty:.3}}},"#,
            r#""termination_reason":"{termination}","reward":{reward},"toolcall_reward":{toolcall_reward},"res_reward":{res_reward},{is_success}"#,
            r#""exec_time":{exec_time:.2},"model":"qwen2.5-7b","input_tokens":{input_tokens},"output_tokens":{output_tokens},"cost":{cost:.6},"tags":{tags},"metadata":{{"model":"qwen2.5-7b","temperature":1.0,"env":"{env}"}},"source":"demo","#,
            r#""created_at":{created},"steps":[{steps}]}}"#
        ),
        run = run + 1,
        epoch = epoch,
        prompt = prompt,
        sample = sample,
        iteration = iteration,
        difficulty = difficulty,
        termination = termination,
        reward = reward,
        toolcall_reward = toolcall_reward,
        res_reward = res_reward,
        is_success = is_success,
        tags = tags,
        created = created,
        agent = AGENTS[run as usize % AGENTS.len()],
        question = json_str(&question),
        exec_time = 2.0 + rng.f64() * 30.0 + tool_turns as f64 * 1.5,
        env = if prompt.is_multiple_of(2) { "swe" } else { "data" },
        steps = steps.join(","),
        input_tokens = input_tokens,
        output_tokens = output_tokens,
        cost = input_tokens as f64 * 4e-7 + output_tokens as f64 * 1.6e-6,
    )
}

/// Failed trajectories of four planted kinds of failure (a timeout, a missing file, a
/// syntax error, failing tests), each worded several ways in its last tool output and
/// its last assistant message, mixed with noise words: JSON lines and each one's kind.
/// For the failure-mode tests and benchmarks.
pub fn planted_failures(per_kind: usize, seed: u64) -> Vec<(String, usize)> {
    /// Kinds of failure: a termination reason and wordings of the last tool output or
    /// assistant message.
    const KINDS: &[(&str, &[&str])] = &[
        (
            "timeout",
            &[
                "Command timed out after 300 seconds while running the test suite",
                "Execution exceeded the time limit and the process was killed",
                "TimeoutError: the command did not finish in time",
                "timed out waiting for the build to complete",
            ],
        ),
        (
            "error",
            &[
                "FileNotFoundError: [Errno 2] No such file or directory: 'src/{f}.py'",
                "cat: src/{f}.py: No such file or directory",
                "error: the path lib/{f}.rs does not exist",
                "open failed: no such file {f}.txt in the repository",
            ],
        ),
        (
            "error",
            &[
                "SyntaxError: invalid syntax in {f}.py at line {n}",
                "IndentationError: unexpected indent in {f}.py line {n}",
                "SyntaxError: unexpected EOF while parsing {f}.py",
                "SyntaxError: unmatched parenthesis in {f}.py",
            ],
        ),
        (
            "tests_failed",
            &[
                "FAILED tests/test_{f}.py::test_parse - AssertionError: assert {n} == 4",
                "AssertionError: expected {n} items but the assertion got 0 in test_{f}",
                "{n} failed, 12 passed: tests/test_{f}.py assertion failures",
                "test_{f} FAILED with AssertionError on the expected output",
            ],
        ),
    ];

    /// What the agent said last, per kind: it relates to the failure, in its own words.
    const SAID: &[&[&str]] = &[
        &["The command is taking too long", "It seems to hang", "Still waiting for it to finish"],
        &["The file I expected is not there", "I cannot find that file", "Let me look for the right path"],
        &["My edit broke the syntax", "There is a parse error in my change", "I need to fix the indentation"],
        &["Some tests still fail", "The assertion does not hold yet", "The output differs from the expected one"],
    ];

    const NOISE: &[&str] =
        &["checking", "module", "parser", "looking", "config", "value", "again", "step", "output", "result"];

    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(per_kind * KINDS.len());
    for (kind, (reason, wordings)) in KINDS.iter().enumerate() {
        for i in 0..per_kind {
            let wording = *rng.pick(wordings);
            let f = *rng.pick(&["parser", "lexer", "utils", "io", "main"]);
            let text = wording.replace("{f}", f).replace("{n}", &rng.range(0, 39).to_string());
            let noise: Vec<&str> = (0..3).map(|_| *rng.pick(NOISE)).collect();
            let record = serde_json::json!({
                "trajectory_id": format!("k{kind}-{i:06}"), "training_id": "planted", "epoch_id": (i % 3) as i64,
                "is_success": false, "termination_reason": reason, "reward": 0.0,
                "steps": [
                    {"role": "user", "content": "Fix the failing test."},
                    {"role": "assistant", "content": format!("{} {}", rng.pick(SAID[kind]), noise.join(" ")),
                     "tool_calls": [{"id": "1", "function": {"name": "bash", "arguments": "{\"command\": \"make test\"}"}}]},
                    {"role": "tool", "tool_call_id": "1", "content": format!("{} {}", noise.join(" "), text)},
                ],
            });
            out.push((record.to_string(), kind));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trajectory;

    #[test]
    fn records_are_valid_reproducible_and_varied() {
        let cfg = DemoConfig { prompts: 10, ..DemoConfig::default() };
        let lines: Vec<String> = cfg.lines().collect();
        assert_eq!(lines.len() as u64, cfg.total());
        assert_eq!(lines, cfg.lines().collect::<Vec<_>>());
        let parsed: Vec<Trajectory> = lines.iter().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect();
        let mut ids: Vec<&str> = parsed.iter().map(|t| t.trajectory_id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), parsed.len(), "ids are unique");
        for reason in ["success", "error", "timeout", "max_iterations", "user_cancelled"] {
            assert!(parsed.iter().any(|t| t.termination_reason.as_deref() == Some(reason)), "{reason}");
        }
        assert!(parsed.iter().all(|t| (1..=60).contains(&t.step_count)));
        assert!(parsed.iter().any(|t| t.is_success.is_none()));
        let rate = |e: i64| {
            let of_epoch: Vec<_> = parsed.iter().filter(|t| t.epoch_id == Some(e)).collect();
            of_epoch.iter().filter(|t| t.reward == Some(1.0)).count() as f64 / of_epoch.len() as f64
        };
        assert!(rate(3) > rate(0), "success improves with epoch: {} vs {}", rate(0), rate(3));
    }
}
