//! Token counts and cost as the sources report them, read leniently and summed.
//!
//! The native record's `input_tokens`, `output_tokens` and `cost` are columns; a count
//! that is absent, negative or not a number leaves its column null (never 0), so that
//! statistics over the column are not pulled down by runs whose source did not count.

use serde_json::Value;

/// What one model call, or a whole trajectory, used. `None` is "the source does not say".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cost: Option<f64>,
}

/// A token count: a non-negative integer (an integral float from a tool that only knows
/// floats counts too). Text, negatives and fractions are not counts.
pub fn count(value: &Value) -> Option<i64> {
    let n = value.as_number()?;
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
        .filter(|i| *i >= 0)
}

/// An amount of money: a finite, non-negative number.
pub fn amount(value: &Value) -> Option<f64> {
    value.as_f64().filter(|f| f.is_finite() && *f >= 0.0)
}

/// `a + b` where either may be unknown: the known part, or unknown when neither is known.
fn add<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

impl Usage {
    /// An OpenAI-style `usage` object: Chat Completions' `prompt_tokens` /
    /// `completion_tokens`, or the Responses API's `input_tokens` / `output_tokens`, and
    /// the `cost` that OpenRouter and LiteLLM add. Anything else is no usage.
    pub fn openai(usage: &Value) -> Usage {
        let first = |keys: &[&str]| keys.iter().find_map(|k| usage.get(*k).and_then(count));
        Usage {
            input: first(&["prompt_tokens", "input_tokens"]),
            output: first(&["completion_tokens", "output_tokens"]),
            cost: usage.get("cost").and_then(amount),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_none() && self.output.is_none() && self.cost.is_none()
    }

    /// The sum of `self` and `other`, field by field (see [`add`]).
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            input: add(self.input, other.input),
            output: add(self.output, other.output),
            cost: add(self.cost, other.cost),
        }
    }

    /// The field-by-field sum of several usages.
    pub fn sum(items: impl IntoIterator<Item = Usage>) -> Usage {
        items.into_iter().fold(Usage::default(), Usage::plus)
    }

    /// `self`, with each field it leaves unknown taken from `other`.
    pub fn or(self, other: Usage) -> Usage {
        Usage {
            input: self.input.or(other.input),
            output: self.output.or(other.output),
            cost: self.cost.or(other.cost),
        }
    }
}

/// The summed `usage` of the assistant messages of an OpenAI-style message list (the
/// model's own calls: a simulated user's messages may carry usage too, which is not the
/// agent's). `usage_of` finds a message's usage object.
pub fn assistant_usage<'m>(messages: &'m [Value], usage_of: impl Fn(&'m Value) -> Option<&'m Value>) -> Usage {
    Usage::sum(
        messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
            .filter_map(usage_of)
            .map(Usage::openai),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_are_non_negative_integers_and_sums_keep_unknowns_unknown() {
        assert_eq!(
            [json!(3), json!(3.0), json!(-1), json!(2.5), json!("7"), json!(null)].map(|v| count(&v)),
            [Some(3), Some(3), None, None, None, None]
        );
        let a = Usage { input: Some(1), output: None, cost: None };
        let b = Usage { input: Some(2), output: Some(5), cost: None };
        assert_eq!(a.plus(b), Usage { input: Some(3), output: Some(5), cost: None });
        assert!(Usage::sum([]).is_empty());
        let u = Usage::openai(&json!({"prompt_tokens": "x", "input_tokens": 4, "completion_tokens": 2, "cost": -1}));
        assert_eq!(u, Usage { input: Some(4), output: Some(2), cost: None });
    }
}
