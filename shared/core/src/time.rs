//! Instants as milliseconds since the Unix epoch, parsed from the forms AWS uses.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

pub const HOUR_MS: Millis = 3_600_000;
pub const DAY_MS: Millis = 24 * HOUR_MS;

/// Parses an RFC 3339 / ISO-8601 instant with an offset (`…Z`, `…+00:00`, boto3's
/// `…880000-05:00`). Anything else is `None`: a capture time is never guessed.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

/// Formats as `2020-10-06T22:39:22.579Z`: fixed width, so it sorts as text.
pub fn format_rfc3339(ms: Millis) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format!("@{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_capture_times_and_boto3_offsets() {
        assert_eq!(
            parse_rfc3339("2020-10-06T22:39:22.579Z"),
            Some(1_602_023_962_579)
        );
        assert_eq!(
            parse_rfc3339("2017-02-04T06:10:33.880000-05:00"),
            parse_rfc3339("2017-02-04T11:10:33.880Z")
        );
        assert_eq!(
            parse_rfc3339("2020-10-06T22:39:24Z"),
            Some(1_602_023_964_000)
        );
    }

    #[test]
    fn refuses_what_is_not_an_instant() {
        for bad in [
            "",
            "yesterday",
            "2020-10-06",
            "2020-10-06 22:39:22 UTC",
            "April 29, 2016",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_fixed_width() {
        assert_eq!(
            format_rfc3339(1_602_023_962_579),
            "2020-10-06T22:39:22.579Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
