//! A record split into its top-level entries as raw JSON slices, and the decoders of
//! the small known fields. Each decoder names the field in its error and accepts `null`
//! as absent; none builds a `serde_json::Value` unless the field is kept as JSON text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::time::{parse_timestamp, seconds_to_micros};
use crate::RecordError;

/// A JSON object split into its top-level entries, each value left as raw JSON.
pub struct RawObject<'a> {
    pub entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// Splits `bytes` (one JSON object) into entries. Fails on malformed JSON, invalid
    /// UTF-8 inside strings, or a value that is not an object.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RecordError> {
        serde_json::from_slice::<RawObject<'a>>(bytes).map_err(|e| RecordError::whole(format!("invalid JSON: {e}")))
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(24);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    entries.push((key.0, value));
                }
                Ok(RawObject { entries })
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A map key borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// serde_json appends " at line L column C" to messages; inside a record that position
/// is relative to a slice and only confuses, so it is cut.
pub(crate) fn clean(e: impl fmt::Display) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub(crate) fn string_field(field: &str, raw: &RawValue) -> Result<Option<String>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    serde_json::from_str::<String>(raw.get())
        .map(Some)
        .map_err(|_| RecordError::new(field, format!("expected a string, found {}", kind(raw))))
}

/// Ids of tasks and runs are often integers in the wild; they are stored as their decimal text.
pub(crate) fn id_field(field: &str, raw: &RawValue) -> Result<Option<String>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
        return Ok(Some(s));
    }
    if let Ok(i) = serde_json::from_str::<i64>(raw.get()) {
        return Ok(Some(i.to_string()));
    }
    Err(RecordError::new(field, format!("expected a string or an integer, found {}", kind(raw))))
}

pub(crate) fn int_field(field: &str, raw: &RawValue) -> Result<Option<i64>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    if let Ok(i) = serde_json::from_str::<i64>(raw.get()) {
        return Ok(Some(i));
    }
    // 3.0 is an integer written by a tool that only knows floats.
    if let Ok(f) = serde_json::from_str::<f64>(raw.get()) {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            return Ok(Some(f as i64));
        }
    }
    Err(RecordError::new(field, format!("expected an integer, found {}", kind(raw))))
}

pub(crate) fn float_field(field: &str, raw: &RawValue) -> Result<Option<f64>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    // The raw text is valid JSON, so when it starts like a number it is one, and std's
    // parser rounds it correctly (serde_json's default one can miss by a unit in the
    // last place: 0.9973084818293261 came back as 0.997308481829326).
    let text = raw.get().trim();
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(RecordError::new(field, format!("expected a number, found {}", kind(raw))));
    }
    match text.parse::<f64>() {
        // -0.0 is stored as 0.0: SQL finds them equal, sorting by bits would not.
        Ok(f) if f.is_finite() => Ok(Some(f + 0.0)),
        _ => Err(RecordError::new(field, format!("number out of range: {}", text.get(..40).unwrap_or(text)))),
    }
}

pub(crate) fn bool_field(field: &str, raw: &RawValue) -> Result<Option<bool>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    serde_json::from_str::<bool>(raw.get())
        .map(Some)
        .map_err(|_| RecordError::new(field, format!("expected true or false, found {}", kind(raw))))
}

pub(crate) fn timestamp_field(field: &str, raw: &RawValue) -> Result<Option<i64>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    let parsed = if let Ok(secs) = serde_json::from_str::<f64>(raw.get()) {
        seconds_to_micros(secs)
    } else if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
        parse_timestamp(&s)
    } else {
        None
    };
    parsed.map(Some).ok_or_else(|| {
        RecordError::new(
            field,
            format!(
                "expected epoch seconds or an RFC 3339 date, found {}",
                raw.get().chars().take(40).collect::<String>()
            ),
        )
    })
}

/// Checks that a value kept as JSON text can be read back: splitting the record only
/// checked its syntax, so a number out of f64's range (1e400) or nesting deeper than
/// serde_json reads (128) got stored and then failed every list that held the record.
/// Used for the small fields (metadata, task, unknown ones), not for the steps.
pub(crate) fn readable_json(field: &str, raw: &RawValue) -> Result<(), RecordError> {
    serde_json::from_str::<serde_json::Value>(raw.get()).map(drop).map_err(|e| RecordError::new(field, clean(e)))
}

pub(crate) fn object_field(field: &str, raw: &RawValue) -> Result<Option<String>, RecordError> {
    if is_null(raw) {
        return Ok(None);
    }
    if raw.get().starts_with('{') {
        readable_json(field, raw)?;
        Ok(Some(raw.get().to_string()))
    } else {
        Err(RecordError::new(field, format!("expected an object, found {}", kind(raw))))
    }
}

/// The JSON kind of a raw value, for error messages.
pub(crate) fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't') | Some(b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}
