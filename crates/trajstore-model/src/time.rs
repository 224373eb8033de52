//! Timestamps are stored as microseconds since the Unix epoch (UTC) and written out as
//! RFC 3339 strings, so that an export re-imports to the same instant.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses a timestamp given as epoch seconds (integer or fraction) or as an RFC 3339 /
/// ISO 8601 string (`2024-05-01T12:00:00Z`, `2024-05-01 12:00:00`, `2024-05-01`).
/// Strings without a zone are taken as UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return seconds_to_micros(secs);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(Utc.from_utc_datetime(&dt).timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?).timestamp_micros());
    }
    None
}

/// Epoch seconds to microseconds; `None` for values outside the range chrono can print.
pub fn seconds_to_micros(secs: f64) -> Option<i64> {
    // Years 0..=9999 keep every stored timestamp printable as RFC 3339.
    const MAX_SECS: f64 = 253_402_300_799.0;
    if !secs.is_finite() || !(-62_167_219_200.0..=MAX_SECS).contains(&secs) {
        return None;
    }
    Some((secs * 1_000_000.0).round() as i64)
}

/// Formats microseconds since the epoch as RFC 3339 in UTC with microsecond precision.
pub fn format_timestamp(micros: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        None => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse_timestamp("0"), Some(0));
        assert_eq!(parse_timestamp("1.5"), Some(1_500_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:01+01:00"), Some(1_000_000));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:02.5"), Some(2_500_000));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("1e300"), None);
    }

    #[test]
    fn format_round_trips() {
        for micros in [0, 1, 1_700_000_000_123_456, -5_000_000] {
            assert_eq!(parse_timestamp(&format_timestamp(micros)), Some(micros));
        }
    }
}
