//! The full-text search text stored as terms: each word already lower-cased, stemmed,
//! folded to ASCII and stripped of stop words, the terms separated by single spaces.
//!
//! Lance's analyzer does that work in the index build, word by word, and its English
//! stemmer alone took about half of the build's time. Here each distinct word is
//! analysed once per thread (by that same analyzer, so the terms are the ones it would
//! make) and remembered; the index then only splits at spaces. The query goes through
//! the same function, so it meets the index's terms, and the scores are unchanged:
//! BM25 counts terms, and the terms are the same.
//!
//! Stores written before this hold the raw text and an index built with Lance's
//! analyzer; they are recognised by the missing marker on the column and searched as
//! before until `optimize` converts them (see [`crate::Store::optimize`]).

use std::cell::RefCell;
use std::collections::HashMap;

use lance_index::scalar::inverted::document_tokenizer::LanceTokenizer;
use lance_index::scalar::InvertedIndexParams;
use lance_tokenizer::TokenStream;

/// The field metadata key, on `payloads.search_text`, naming the text's format.
pub const SEARCH_TEXT_FORMAT_KEY: &str = "trajstore:search_text";
/// The format of text made by [`to_terms`].
pub const TERMS_FORMAT: &str = "terms-1";

/// Words remembered per thread before the memory is cleared (a few tens of MB).
const REMEMBERED_WORDS: usize = 1 << 19;

/// The index parameters for text made of terms: split at spaces, nothing more.
pub(crate) fn terms_index_params() -> InvertedIndexParams {
    InvertedIndexParams::default()
        .base_tokenizer("whitespace".to_string())
        .max_token_length(None)
        .lower_case(false)
        .stem(false)
        .remove_stop_words(false)
        .ascii_folding(false)
}

struct Analyzer {
    /// Lance's default analyzer: the one indexes of raw text use.
    lance: Box<dyn LanceTokenizer>,
    /// Each word seen, and its term (`None`: a stop word, or too long to index).
    terms: HashMap<Box<str>, Option<Box<str>>, rustc_hash::FxBuildHasher>,
}

thread_local! {
    static ANALYZER: RefCell<Option<Analyzer>> = const { RefCell::new(None) };
}

/// `text` as the terms of its words, in order, separated by single spaces.
pub fn to_terms(text: &str) -> String {
    ANALYZER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let analyzer = match cell.as_mut() {
            Some(a) => a,
            None => cell.insert(Analyzer::new()),
        };
        let mut out = String::with_capacity(text.len() * 3 / 4);
        // Lance's default tokenizer's words: the runs of alphanumeric characters.
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            analyzer.push_term(word, &mut out);
        }
        out
    })
}

impl Analyzer {
    fn new() -> Self {
        let lance = InvertedIndexParams::default().build().expect("Lance's default analyzer builds");
        Analyzer { lance, terms: HashMap::default() }
    }

    fn push_term(&mut self, word: &str, out: &mut String) {
        if let Some(term) = self.terms.get(word) {
            push(out, term.as_deref());
            return;
        }
        if self.terms.len() >= REMEMBERED_WORDS {
            self.terms.clear();
        }
        let term = self.analyse(word);
        push(out, term.as_deref());
        self.terms.insert(word.into(), term);
    }

    /// The term Lance's analyzer makes of one word (a word is one token to it).
    fn analyse(&mut self, word: &str) -> Option<Box<str>> {
        let mut stream = self.lance.token_stream_for_doc(word);
        let mut term = String::new();
        while stream.advance() {
            if !term.is_empty() {
                term.push(' ');
            }
            term.push_str(&stream.token().text);
        }
        (!term.is_empty()).then(|| term.into_boxed_str())
    }
}

fn push(out: &mut String, term: Option<&str>) {
    if let Some(term) = term {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(term);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every term Lance's analyzer makes of `text`, in order.
    fn lance_terms(text: &str) -> Vec<String> {
        let mut lance = InvertedIndexParams::default().build().unwrap();
        let mut stream = lance.token_stream_for_doc(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn terms_are_those_of_lances_analyzer() {
        let texts = [
            "The Zebras were RUNNING quickly; zebra's stripes — and the running zebra!",
            "Traceback (most recent call last): File \"/app/src/parser.py\", line 42, in parse_tokens",
            "Café naïve résumé ÆON straße 東京 42nd 3.14 snake_case CamelCaseWords",
            &format!("short {} words", "x".repeat(45)),
            "",
            "the of and a",
        ];
        for text in texts {
            let ours: Vec<String> = to_terms(text).split(' ').filter(|t| !t.is_empty()).map(String::from).collect();
            assert_eq!(ours, lance_terms(text), "{text}");
            // A second time (remembered words) gives the same.
            assert_eq!(to_terms(text), ours.join(" "));
        }
        assert_eq!(to_terms("Zebras running"), "zebra run");
    }
}
