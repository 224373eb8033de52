//! Cluster labels written by a language model (`--llm-endpoint`, `--llm-model`): for each
//! failure-mode cluster, one request to an OpenAI-compatible chat endpoint with the
//! cluster's distinctive words and the failure texts of the trajectories nearest its
//! centre, answered by a one-line label. This is the only place where the failure
//! analysis sends data off the machine, and only when a user names an endpoint.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use trajstore_embed::ChatClient;

use crate::failure_modes::FailureModesProgress;
use crate::{Error, Result};

/// The environment variable holding the endpoint's API key (sent as a bearer token), so
/// that it never shows on a command line.
pub const LLM_API_KEY_ENV: &str = "TRAJSTORE_LLM_API_KEY";

/// The failure texts sent per cluster, nearest the centre first.
pub const EXAMPLES_PER_CLUSTER: usize = 5;
/// Characters sent of each example.
const EXAMPLE_CHARS: usize = 800;
/// Characters kept of a label.
pub const LABEL_CHARS: usize = 80;
const TIMEOUT: Duration = Duration::from_secs(120);

const SYSTEM: &str = "You name the failure modes of AI agents. You are given one cluster of failed \
agent trajectories: the words that set it apart from the other clusters, and what went wrong in some \
of its trajectories. Answer with one short line (at most 10 words) naming what these failures have in \
common, specific enough to tell this cluster from others. No quotes, no preamble, no full stop.";

/// A language model that labels clusters: the endpoint, the model's name, and the key.
#[derive(Clone)]
pub struct LabelModel {
    client: Arc<ChatClient>,
}

impl std::fmt::Debug for LabelModel {
    // Without the API key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelModel").field("url", &self.client.url()).field("model", &self.client.model()).finish()
    }
}

impl LabelModel {
    /// `endpoint` is the server's address (`http://127.0.0.1:8080`, `https://api.openai.com/v1`).
    pub fn new(endpoint: &str, model: &str, api_key: Option<String>) -> Result<Self> {
        let endpoint = endpoint.trim();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(Error::invalid(
                "llm_endpoint",
                format!("expected an http:// or https:// URL, got {endpoint:?}"),
            ));
        }
        if model.trim().is_empty() {
            return Err(Error::invalid("llm_model", "name the model the endpoint serves"));
        }
        Ok(LabelModel { client: Arc::new(ChatClient::new(endpoint, model.trim(), api_key, TIMEOUT)) })
    }

    /// [`LabelModel::new`] with the key from [`LLM_API_KEY_ENV`], if set.
    pub fn from_env(endpoint: &str, model: &str) -> Result<Self> {
        let key = std::env::var(LLM_API_KEY_ENV).ok().filter(|k| !k.trim().is_empty());
        Self::new(endpoint, model, key)
    }

    /// The chat-completions URL requests go to.
    pub fn url(&self) -> &str {
        self.client.url()
    }

    pub fn model(&self) -> &str {
        self.client.model()
    }
}

/// What the model is shown of one cluster.
pub(crate) struct ClusterSample {
    pub terms: Vec<String>,
    pub count: usize,
    pub examples: Vec<String>,
}

fn prompt(sample: &ClusterSample) -> String {
    let mut out = format!(
        "Cluster of {} failed trajectories.\nDistinctive words: {}\n",
        sample.count,
        if sample.terms.is_empty() { "(none)".to_string() } else { sample.terms.join(", ") }
    );
    for (i, text) in sample.examples.iter().enumerate() {
        let text: String = text.chars().take(EXAMPLE_CHARS).collect();
        out.push_str(&format!("\nExample {}:\n{}\n", i + 1, text.trim()));
    }
    out.push_str("\nThe label:");
    out
}

/// The label in a reply: its first line with words, without markdown, quotes, a
/// "Label:" prefix or a closing full stop, white space collapsed, cut to [`LABEL_CHARS`].
pub(crate) fn clean(reply: &str) -> Option<String> {
    let line = reply.lines().map(str::trim).find(|l| l.chars().any(char::is_alphanumeric))?;
    let line = line.trim_start_matches(['#', '-', '*', '>', ' ']).replace("**", "");
    let line = match line.split_once(':') {
        Some((head, rest)) if head.trim().eq_ignore_ascii_case("label") => rest.to_string(),
        _ => line,
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let line = words.join(" ");
    let line = line.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '“' | '”' | '.' | ' '));
    let label: String = line.chars().take(LABEL_CHARS).collect();
    let label = label.trim_end().to_string();
    (!label.is_empty()).then_some(label)
}

/// One label per cluster, in order. Any failed request fails the whole labelling, so a
/// run never stores a mix of model and word labels.
pub(crate) fn write_labels(
    model: &LabelModel,
    samples: &[ClusterSample],
    progress: &FailureModesProgress,
) -> Result<Vec<String>> {
    let mut labels = Vec::with_capacity(samples.len());
    for sample in samples {
        let reply = model.client.complete(SYSTEM, &prompt(sample), 40)?;
        let label = clean(&reply).ok_or_else(|| trajstore_embed::ChatError {
            url: model.url().to_string(),
            message: format!("the reply holds no label: {:?}", reply.chars().take(200).collect::<String>()),
        })?;
        labels.push(label);
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_the_first_line_without_decoration() {
        assert_eq!(clean("**Label:** \"Tests time out\".\nBecause...").as_deref(), Some("Tests time out"));
        assert_eq!(clean("\n\n# Missing   module imports\n").as_deref(), Some("Missing module imports"));
        assert_eq!(clean("label: patch fails to apply").as_deref(), Some("patch fails to apply"));
        assert_eq!(clean("Timeout: the sandbox kills the run").as_deref(), Some("Timeout: the sandbox kills the run"));
        assert_eq!(clean(" \n\"\"\n"), None);
        assert_eq!(clean(&"word ".repeat(40)).map(|l| l.chars().count()), Some(LABEL_CHARS - 1));
    }

    #[test]
    fn the_prompt_holds_the_words_and_the_examples_cut() {
        let sample = ClusterSample {
            terms: vec!["timeout".into(), "sandbox".into()],
            count: 7,
            examples: vec!["x".repeat(5_000)],
        };
        let p = prompt(&sample);
        assert!(p.contains("Cluster of 7 failed trajectories") && p.contains("timeout, sandbox"));
        assert!(p.contains(&"x".repeat(EXAMPLE_CHARS)) && !p.contains(&"x".repeat(EXAMPLE_CHARS + 1)));
    }

    #[test]
    fn an_endpoint_must_be_a_url_and_a_model_named() {
        assert!(LabelModel::new("127.0.0.1:8080", "m", None).is_err());
        assert!(LabelModel::new("http://127.0.0.1:8080", " ", None).is_err());
        let m = LabelModel::new("https://api.example.com/v1/", "gpt", None).unwrap();
        assert_eq!(m.url(), "https://api.example.com/v1/chat/completions");
    }
}
