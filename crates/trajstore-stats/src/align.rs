//! Steps of several trajectories aligned by their actions, for the compare view: two
//! runs of one task that take the same actions line up even when one of them took an
//! extra turn, and the first place where they part is marked.
//!
//! A trajectory is cut into turns: the steps before its first assistant step (the
//! prologue: system prompt, task), then each assistant step with the steps that follow
//! it up to the next one (tool results, user replies). A turn's action is its tool calls
//! (each a tool name and its arguments normalised: keys sorted, white space collapsed),
//! or a plain message. Every trajectory is aligned to the first by edit distance over
//! the actions (a gap costs 1; a turn with the same calls costs 0, the same tools with
//! other arguments 0.5, anything else 1), and the pairwise alignments are merged on the
//! first trajectory's turns.

use trajstore_model::step_facts::StepFacts;

/// How the turns of one row compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The steps before each trajectory's first assistant step.
    Prologue,
    /// The same calls with the same arguments, or the same message.
    Same,
    /// The same tools with other arguments, or messages of other texts.
    Similar,
    /// Other actions.
    Different,
    /// A turn that some of the trajectories do not have.
    Gap,
}

/// Steps `from..to` of one trajectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StepSpan {
    pub from: usize,
    pub to: usize,
}

/// One row of the aligned view: each trajectory's turn in it, or none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AlignedRow {
    pub kind: RowKind,
    /// One entry per trajectory, in the order given.
    pub steps: Vec<Option<StepSpan>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Alignment {
    pub rows: Vec<AlignedRow>,
    /// The first row after the prologue that is not `same`.
    pub first_divergence: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Calls(Vec<(String, String)>),
    Message(String),
}

struct Turn {
    span: StepSpan,
    action: Action,
}

/// Arguments normalised: a JSON value with its keys sorted and its strings' white space
/// collapsed; text that is not JSON with its white space collapsed.
fn normalise(arguments: Option<&str>) -> String {
    fn canonical(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&map[k], out);
                    out.push(',');
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                items.iter().for_each(|i| {
                    canonical(i, out);
                    out.push(',');
                });
                out.push(']');
            }
            serde_json::Value::String(s) => out.push_str(&serde_json::Value::String(collapse(s)).to_string()),
            other => out.push_str(&other.to_string()),
        }
    }
    let Some(text) = arguments else { return String::new() };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => {
            let mut out = String::new();
            canonical(&v, &mut out);
            out
        }
        Err(_) => collapse(text),
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn turns(facts: &StepFacts) -> (Option<StepSpan>, Vec<Turn>) {
    let starts: Vec<usize> =
        facts.steps.iter().enumerate().filter(|(_, s)| s.role == "assistant").map(|(i, _)| i).collect();
    let end = facts.steps.len();
    let prologue_end = starts.first().copied().unwrap_or(end);
    let prologue = (prologue_end > 0).then_some(StepSpan { from: 0, to: prologue_end });
    let turns = starts
        .iter()
        .enumerate()
        .map(|(k, &from)| {
            let to = starts.get(k + 1).copied().unwrap_or(end);
            let calls: Vec<(String, String)> = facts
                .calls
                .iter()
                .filter(|c| c.step == from as i64)
                .map(|c| (c.tool_name.clone().unwrap_or_default(), normalise(c.arguments.as_deref())))
                .collect();
            let action = if calls.is_empty() {
                Action::Message(collapse(&facts.steps[from].content))
            } else {
                Action::Calls(calls)
            };
            Turn { span: StepSpan { from, to }, action }
        })
        .collect();
    (prologue, turns)
}

fn compare(a: &Action, b: &Action) -> RowKind {
    match (a, b) {
        (Action::Calls(x), Action::Calls(y)) if x == y => RowKind::Same,
        (Action::Calls(x), Action::Calls(y))
            if x.len() == y.len() && x.iter().zip(y).all(|((n, _), (m, _))| n == m) =>
        {
            RowKind::Similar
        }
        (Action::Message(x), Action::Message(y)) => {
            if x == y {
                RowKind::Same
            } else {
                RowKind::Similar
            }
        }
        _ => RowKind::Different,
    }
}

fn cost(kind: RowKind) -> u32 {
    // In halves, so that the costs stay integers.
    match kind {
        RowKind::Same | RowKind::Prologue => 0,
        RowKind::Similar => 1,
        RowKind::Different | RowKind::Gap => 2,
    }
}

/// For each turn of `a`, the turn of `b` matched to it; and for each turn of `b` not
/// matched, the turn of `a` it comes before (`a.len()`: after the last).
fn pair(a: &[Turn], b: &[Turn]) -> (Vec<Option<usize>>, Vec<(usize, usize)>) {
    const GAP: u32 = 2;
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0u32; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as u32 * GAP;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j as u32 * GAP;
    }
    for i in 1..=n {
        for j in 1..=m {
            let substitute = d[i - 1][j - 1] + cost(compare(&a[i - 1].action, &b[j - 1].action));
            d[i][j] = substitute.min(d[i - 1][j] + GAP).min(d[i][j - 1] + GAP);
        }
    }
    let (mut matched, mut inserted) = (vec![None; n], Vec::new());
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + cost(compare(&a[i - 1].action, &b[j - 1].action)) {
            matched[i - 1] = Some(j - 1);
            (i, j) = (i - 1, j - 1);
        } else if i > 0 && d[i][j] == d[i - 1][j] + GAP {
            i -= 1;
        } else {
            inserted.push((i, j - 1));
            j -= 1;
        }
    }
    inserted.reverse();
    (matched, inserted)
}

/// The alignment of the trajectories whose step facts are given, on the first one's turns.
pub fn align_actions(all: &[StepFacts]) -> Alignment {
    let cut: Vec<(Option<StepSpan>, Vec<Turn>)> = all.iter().map(turns).collect();
    let mut rows = Vec::new();
    if cut.iter().any(|(p, _)| p.is_some()) {
        rows.push(AlignedRow { kind: RowKind::Prologue, steps: cut.iter().map(|(p, _)| *p).collect() });
    }
    let Some((_, reference)) = cut.first() else { return Alignment { rows, first_divergence: None } };
    let pairs: Vec<_> = cut.iter().skip(1).map(|(_, t)| pair(reference, t)).collect();
    let gap_row = |t: usize, span: StepSpan| {
        let mut steps = vec![None; all.len()];
        steps[t] = Some(span);
        AlignedRow { kind: RowKind::Gap, steps }
    };
    for i in 0..=reference.len() {
        for (k, (_, inserted)) in pairs.iter().enumerate() {
            for &(_, j) in inserted.iter().filter(|(before, _)| *before == i) {
                rows.push(gap_row(k + 1, cut[k + 1].1[j].span));
            }
        }
        let Some(turn) = reference.get(i) else { break };
        let mut steps = vec![Some(turn.span)];
        let mut kind = RowKind::Same;
        for (k, (matched, _)) in pairs.iter().enumerate() {
            match matched[i] {
                Some(j) => {
                    let other = &cut[k + 1].1[j];
                    steps.push(Some(other.span));
                    kind = kind.max(compare(&turn.action, &other.action));
                }
                None => {
                    steps.push(None);
                    kind = RowKind::Gap;
                }
            }
        }
        rows.push(AlignedRow { kind, steps });
    }
    let first_divergence = rows.iter().position(|r| !matches!(r.kind, RowKind::Prologue | RowKind::Same));
    Alignment { rows, first_divergence }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trajstore_model::step_facts::step_facts;

    fn run(actions: &[&str]) -> StepFacts {
        let mut steps = vec![serde_json::json!({"role": "user", "content": "task"})];
        for (i, a) in actions.iter().enumerate() {
            let (name, args) = a.split_once(' ').unwrap_or((a, "{}"));
            if name == "say" {
                steps.push(serde_json::json!({"role": "assistant", "content": args}));
                continue;
            }
            steps.push(serde_json::json!({"role": "assistant", "tool_calls": [
                {"id": i.to_string(), "function": {"name": name, "arguments": args}}]}));
            steps.push(serde_json::json!({"role": "tool", "tool_call_id": i.to_string(), "content": "out"}));
        }
        step_facts(&serde_json::Value::Array(steps).to_string())
    }

    fn kinds(a: &Alignment) -> Vec<RowKind> {
        a.rows.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn an_extra_turn_is_a_gap_and_the_rest_lines_up() {
        let a = run(&[r#"ls {"path": "."}"#, r#"cat {"file": "a.py"}"#, "say done"]);
        let b = run(&[r#"ls {"path":  "."}"#, r#"grep {"q": "x"}"#, r#"cat {"file":"a.py"}"#, "say done"]);
        let al = align_actions(&[a, b]);
        use RowKind::*;
        assert_eq!(kinds(&al), [Prologue, Same, Gap, Same, Same]);
        assert_eq!(al.first_divergence, Some(2));
        assert_eq!(al.rows[2].steps, [None, Some(StepSpan { from: 3, to: 5 })], "b's grep and its result");
        assert_eq!(al.rows[3].steps, [Some(StepSpan { from: 3, to: 5 }), Some(StepSpan { from: 5, to: 7 })]);
        assert_eq!(al.rows[0].steps, [Some(StepSpan { from: 0, to: 1 }); 2]);
    }

    #[test]
    fn other_arguments_are_similar_other_tools_different() {
        let a = run(&[r#"ls {"path": "."}"#, r#"cat {"file": "a.py"}"#]);
        let b = run(&[r#"ls {"path": "src"}"#, r#"rm {"file": "a.py"}"#]);
        let c = run(&[r#"ls {"path": "."}"#]);
        let al = align_actions(&[a, b, c]);
        use RowKind::*;
        assert_eq!(kinds(&al), [Prologue, Similar, Gap]);
        assert_eq!(al.first_divergence, Some(1));
        assert_eq!(al.rows[2].steps[2], None);
        let same = align_actions(&[run(&["say hi"]), run(&["say  hi"])]);
        assert_eq!((kinds(&same), same.first_divergence), (vec![Prologue, Same], None));
        assert_eq!(align_actions(&[]).rows, []);
    }
}
