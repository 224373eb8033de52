//! One step of a record as the import's check reads it (see `step_scan`): the keys that
//! are checked, those read for the step's facts, and every other key skipped.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::text::Content;

/// One step, checked and read in one pass, as strictly as before its text was read
/// here: an object with a string `role`; `content` a string, null or a list; `tool_calls`
/// a list; `reward` a number. Everything else, list elements included, is only checked
/// to be JSON. Text is borrowed from the JSON where no escapes had to be decoded.
pub(crate) struct Step<'a> {
    pub role: Cow<'a, str>,
    pub content: Option<Content<'a>>,
    pub tool_calls: Option<Vec<&'a RawValue>>,
    pub reward: Option<f64>,
    // Read for the step's facts only, as any JSON value (unchecked, as before).
    pub name: Option<&'a RawValue>,
    pub tool_call_id: Option<&'a RawValue>,
    pub is_error: Option<&'a RawValue>,
    pub timestamp: Option<&'a RawValue>,
    /// One of those four keys came twice: the step's facts are empty, as when they are
    /// read from the stored steps, but the step is accepted, as it was before they were
    /// read here (a derived `Deserialize` would reject it).
    pub repeated_fact_key: bool,
}

/// The keys of a step that [`Step`] reads.
enum StepKey {
    Role,
    Content,
    ToolCalls,
    Reward,
    Name,
    ToolCallId,
    IsError,
    Timestamp,
    Other,
}

impl<'de> Deserialize<'de> for StepKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StepKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, key: &str) -> Result<StepKey, E> {
                Ok(match key {
                    "role" => StepKey::Role,
                    "content" => StepKey::Content,
                    "tool_calls" => StepKey::ToolCalls,
                    "reward" => StepKey::Reward,
                    "name" => StepKey::Name,
                    "tool_call_id" => StepKey::ToolCallId,
                    "is_error" => StepKey::IsError,
                    "timestamp" => StepKey::Timestamp,
                    _ => StepKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// A string borrowed from the JSON when it has no escapes.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<BorrowedStr<'de>, E> {
                Ok(BorrowedStr(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<BorrowedStr<'de>, E> {
                Ok(BorrowedStr(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<BorrowedStr<'de>, E> {
                Ok(BorrowedStr(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Step<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Step<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step<'de>, A::Error> {
                use serde::de::Error;
                let (mut role, mut content, mut tool_calls, mut reward) = (None, None, None, None);
                let (mut name, mut tool_call_id, mut is_error, mut timestamp) = (None, None, None, None);
                let mut repeated_fact_key = false;
                // The checked keys: a repeat is an error, as it always was.
                fn once<T, E: Error>(slot: &mut Option<T>, key: &'static str, value: T) -> Result<(), E> {
                    match slot.replace(value) {
                        Some(_) => Err(E::duplicate_field(key)),
                        None => Ok(()),
                    }
                }
                // The facts' keys: a repeat only empties the facts.
                let mut fact = |slot: &mut Option<Option<&'de RawValue>>, value| {
                    repeated_fact_key |= slot.replace(value).is_some();
                };
                while let Some(key) = map.next_key::<StepKey>()? {
                    match key {
                        StepKey::Role => once(&mut role, "role", map.next_value::<BorrowedStr<'de>>()?.0)?,
                        StepKey::Content => once(&mut content, "content", map.next_value()?)?,
                        StepKey::ToolCalls => once(&mut tool_calls, "tool_calls", map.next_value()?)?,
                        StepKey::Reward => once(&mut reward, "reward", map.next_value()?)?,
                        StepKey::Name => fact(&mut name, map.next_value()?),
                        StepKey::ToolCallId => fact(&mut tool_call_id, map.next_value()?),
                        StepKey::IsError => fact(&mut is_error, map.next_value()?),
                        StepKey::Timestamp => fact(&mut timestamp, map.next_value()?),
                        StepKey::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Step {
                    role: role.ok_or_else(|| A::Error::missing_field("role"))?,
                    content: content.flatten(),
                    tool_calls: tool_calls.flatten(),
                    reward: reward.flatten(),
                    name: name.flatten(),
                    tool_call_id: tool_call_id.flatten(),
                    is_error: is_error.flatten(),
                    timestamp: timestamp.flatten(),
                    repeated_fact_key,
                })
            }
        }
        d.deserialize_map(V)
    }
}
