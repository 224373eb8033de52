//! A client of an OpenAI-compatible chat endpoint (`POST {base}/v1/chat/completions`):
//! vLLM, llama.cpp's server, Ollama, or a hosted API over HTTPS (the roots of trust are
//! built in, so nothing is read from the system).

use std::time::Duration;

/// The endpoint failed or answered something other than a chat completion.
#[derive(Debug, thiserror::Error)]
#[error("the chat endpoint {url} failed: {message}")]
pub struct ChatError {
    pub url: String,
    pub message: String,
}

/// One model behind one endpoint.
pub struct ChatClient {
    url: String,
    model: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl ChatClient {
    /// `base_url` is the server's address with or without `/v1`
    /// (`http://127.0.0.1:8080`, `https://api.openai.com/v1`).
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, timeout: Duration) -> Self {
        let url = format!("{}/v1/chat/completions", base_url.trim_end_matches('/').trim_end_matches("/v1"));
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // An error status is read for the message the server gives with it.
            .http_status_as_error(false)
            .build();
        ChatClient { url, model: model.to_string(), api_key, agent: config.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    fn error(&self, message: impl Into<String>) -> ChatError {
        ChatError { url: self.url.clone(), message: message.into() }
    }

    /// The model's reply to a system and a user message, sampled at temperature 0.
    pub fn complete(&self, system: &str, user: &str, max_tokens: u32) -> Result<String, ChatError> {
        let body = serde_json::json!({
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "max_tokens": max_tokens,
        });
        let mut req = self.agent.post(&self.url);
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut response = req.send_json(&body).map_err(|e| self.error(e.to_string()))?;
        let status = response.status();
        let text = response.body_mut().read_to_string().map_err(|e| self.error(e.to_string()))?;
        let reply: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            self.error(format!("HTTP {status}, not JSON: {}", text.chars().take(200).collect::<String>()))
        })?;
        if !status.is_success() {
            let message = reply.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or(text.as_str());
            return Err(self.error(format!("HTTP {status}: {}", message.chars().take(300).collect::<String>())));
        }
        reply
            .pointer("/choices/0/message/content")
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.error("the reply has no choices[0].message.content"))
    }
}
