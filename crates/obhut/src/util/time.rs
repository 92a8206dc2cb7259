//! Times on the command line: UTC instants as RFC 3339 or milliseconds since
//! 1970, durations as a number with a unit (`90s`, `12h`, `7d`, `2w`).

/// Parse an instant: RFC 3339 (`2026-11-25T12:00:00Z`, any offset) or an
/// integer number of milliseconds since 1970-01-01T00:00:00Z.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            format!(
                "`{s}` is neither an RFC 3339 time (e.g. 2026-11-25T12:00:00Z) nor milliseconds since 1970"
            )
        })
}

/// Parse a duration into milliseconds: a positive integer followed by
/// `ms`, `s`, `m`, `h`, `d` or `w`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("`{s}` is not a duration; write e.g. 90s, 30m, 12h, 7d or 2w");
    let n: i64 = num.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_ms) {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(bad()),
    }
}

/// Now, in UTC milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// An instant for people: RFC 3339 in UTC, or the raw number if out of range.
pub fn show(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

/// A media time for people: `mm:ss.mmm` (or `h:mm:ss.mmm`).
pub fn show_media(ms: u64) -> String {
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{milli:03}")
    } else {
        format!("{m:02}:{s:02}.{milli:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(parse_instant("0").unwrap(), 0);
        assert_eq!(parse_instant("-5").unwrap(), -5);
        assert_eq!(parse_instant("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_instant("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert!(parse_instant("yesterday").is_err());
        assert_eq!(show(1000), "1970-01-01T00:00:01Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_duration("90s").unwrap(), 90_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250);
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999w").is_err());
    }

    #[test]
    fn media_times() {
        assert_eq!(show_media(61_005), "01:01.005");
        assert_eq!(show_media(3_600_000), "1:00:00.000");
    }
}
