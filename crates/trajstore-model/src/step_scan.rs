//! The check of a record's steps: one streaming pass over the array that validates each
//! step, counts them and appends their texts for search. Each step is parsed where it
//! lies in the array (not first cut out as a raw value and then parsed: that scanned the
//! steps twice), and no `serde_json::Value` of the steps is built.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::raw::{clean, kind};
use crate::step::Step;
use crate::text::TextBuilder;
use crate::RecordError;

/// Checks every step of the list `raw` (the record's field `field`), counts them and
/// appends their texts to `texts`; the error names the step.
pub(crate) fn scan_steps(field: &str, raw: &RawValue, texts: &mut TextBuilder) -> Result<i64, RecordError> {
    let mut failure = None;
    let mut d = serde_json::Deserializer::from_str(raw.get());
    match (Steps { field, texts, failure: &mut failure }).deserialize(&mut d) {
        Ok(n) => Ok(n),
        Err(_) => Err(failure
            .unwrap_or_else(|| RecordError::new(field, format!("expected a list of messages, found {}", kind(raw))))),
    }
}

/// The list. A step's own error is left in `failure` (serde's error type cannot carry
/// it) and the parse is stopped with a placeholder error.
struct Steps<'s> {
    field: &'s str,
    texts: &'s mut TextBuilder,
    failure: &'s mut Option<RecordError>,
}

/// One step: a message object, whose fields `Step` reads.
struct OneStep<'s> {
    texts: &'s mut TextBuilder,
    not_an_object: &'s mut Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for Steps<'_> {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Steps<'_> {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of steps")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<i64, A::Error> {
        let mut n = 0i64;
        loop {
            let mut not_an_object = None;
            match seq.next_element_seed(OneStep { texts: &mut *self.texts, not_an_object: &mut not_an_object }) {
                Ok(Some(())) => n += 1,
                Ok(None) => return Ok(n),
                Err(e) => {
                    let step = format!("{}[{n}]", self.field);
                    *self.failure = Some(match not_an_object {
                        Some(kind) => RecordError::new(step, format!("expected a message object, found {kind}")),
                        None => RecordError::new(step, clean(e)),
                    });
                    return Err(de::Error::custom("a step is invalid"));
                }
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for OneStep<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl OneStep<'_> {
    fn reject<E: de::Error>(self, kind: &'static str) -> Result<(), E> {
        *self.not_an_object = Some(kind);
        Err(E::custom("not a message object"))
    }
}

impl<'de> Visitor<'de> for OneStep<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let step = Step::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.texts.push_step(&step);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.reject("an array")
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<(), E> {
        self.reject("a string")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.reject("a string")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.reject("a boolean")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.reject("null")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.reject("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.reject("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.reject("a number")
    }
}
