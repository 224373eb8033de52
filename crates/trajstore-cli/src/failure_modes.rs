//! `trajstore failure-modes`: cluster the failed trajectories by what went wrong.

use std::sync::Arc;

use clap::Args;
use trajstore::{Error, FailureModesProgress, FailureModesRequest, LabelModel, Result};

use crate::commands::filter_pairs;
use crate::location::Location;
use crate::output::{cell, print_json};
use crate::FilterArgs;

/// A language model that labels failure modes (off unless an endpoint is named).
#[derive(Args, Clone)]
pub struct LlmArgs {
    /// An OpenAI-compatible chat endpoint (`http://127.0.0.1:8080`,
    /// `https://api.openai.com/v1`) that writes a one-line label per cluster from its
    /// distinctive words and the failure texts of its five most central trajectories,
    /// which are sent to it. Its key, if it needs one, goes in TRAJSTORE_LLM_API_KEY.
    #[arg(long, value_name = "URL", requires = "llm_model")]
    pub llm_endpoint: Option<String>,
    /// The model the endpoint serves.
    #[arg(long, value_name = "NAME", requires = "llm_endpoint")]
    pub llm_model: Option<String>,
}

impl LlmArgs {
    pub fn label_model(&self) -> Result<Option<LabelModel>> {
        match (&self.llm_endpoint, &self.llm_model) {
            (Some(endpoint), Some(model)) => match LabelModel::from_env(endpoint, model) {
                Ok(labels) => Ok(Some(labels)),
                // The library names the HTTP parameters; name the options instead.
                Err(Error::InvalidParameter { parameter, message }) => {
                    Err(Error::invalid(format!("--{}", parameter.replace('_', "-")), message))
                }
                Err(e) => Err(e),
            },
            _ => Ok(None),
        }
    }
}

#[derive(Args)]
pub struct FailureModesArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// The number of clusters, or auto: the smallest k from 2 to 12 whose silhouette
    /// comes near the best.
    #[arg(long, default_value = "auto")]
    pub k: String,
    /// The seed of k-means: the same data and seed give the same clusters.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The parts of each failure text, comma-separated: termination, last_assistant,
    /// last_tool, errors.
    #[arg(long, default_value = "termination,last_assistant,last_tool,errors")]
    pub text: String,
    /// Characters kept of each part (the head of the assistant message, the tail of
    /// tool output and errors).
    #[arg(long, default_value_t = 400)]
    pub max_chars: u64,
    /// Also cluster the trajectories that succeeded.
    #[arg(long)]
    pub include_successful: bool,
    /// Where is_success is absent, a trajectory succeeds when reward >= this.
    #[arg(long, default_value = "1.0")]
    pub success_threshold: String,
    #[command(flatten)]
    pub llm: LlmArgs,
}

pub async fn failure_modes(db: &Location, json: bool, args: FailureModesArgs) -> Result<i32> {
    let pairs = filter_pairs(&args.filters)?;
    let (seed, max_chars) = (args.seed.to_string(), args.max_chars.to_string());
    let mut params: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    params.extend([
        ("k", args.k.as_str()),
        ("seed", seed.as_str()),
        ("text", args.text.as_str()),
        ("max_chars", max_chars.as_str()),
        ("include_successful", if args.include_successful { "true" } else { "false" }),
        ("success_threshold", args.success_threshold.as_str()),
    ]);
    let label_model = args.llm.label_model()?;
    if label_model.is_some() {
        params.push(("llm_labels", "true"));
    }
    let request = FailureModesRequest::parse(params)?;
    let store = db.builder().label_model(label_model).open().await?;
    let run = store.failure_modes(&request, Arc::new(FailureModesProgress::default())).await?;
    if json {
        print_json(&run);
        return Ok(0);
    }
    println!("{} {} LABEL · REPRESENTATIVES", cell("ID", 3), cell("COUNT", 7));
    for c in &run.clusters {
        println!("{} {} {}", cell(&c.id.to_string(), 3), cell(&c.count.to_string(), 7), c.label);
        println!("{}   e.g. {}", " ".repeat(11), c.representatives.join(", "));
    }
    eprintln!(
        "{}: {} clusters · {} trajectories without a failure text · {} earlier labels replaced; \
         filter by --filter failure_mode=LABEL",
        run.analysis_id,
        run.clusters.len(),
        run.unclustered,
        run.replaced
    );
    Ok(0)
}
