//! Times for people, for every front end (the CLI first). In: UTC instants as RFC 3339 or milliseconds
//! since 1970, durations as a number with a unit (`90s`, `12h`, `7d`, `2w`).
//! Out: the reader's local time with its zone, and UTC beside it, because an
//! officer reads "14:05 CEST" and a court record is kept in UTC.

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

/// An instant for people, in the local time zone (`TZ`, else the system's):
/// `2026-06-01 12:00:00 CEST (10:00:00 UTC)`, with the UTC date too when it
/// differs, or just `… UTC` where local time is UTC. Out-of-range values are
/// shown as the raw number.
pub fn show(ms: i64) -> String {
    show_in(ms, &jiff::tz::TimeZone::system())
}

fn show_in(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    let Ok(t) = jiff::Timestamp::from_millisecond(ms) else {
        return format!("{ms} ms since 1970 (out of range)");
    };
    let utc = t.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let local = t.to_zoned_datetime(tz.clone());
    let date_time = "%Y-%m-%d %H:%M:%S";
    if local.offset() == jiff::tz::Offset::UTC {
        return format!("{} UTC", utc.strftime(date_time));
    }
    // Zones without an abbreviation in the database give a numeric one
    // ("+0530"); `%Z` prints whichever is there.
    let local_text = local.strftime("%Y-%m-%d %H:%M:%S %Z");
    if local.date() == utc.date() {
        format!("{local_text} ({} UTC)", utc.strftime("%H:%M:%S"))
    } else {
        format!("{local_text} ({} UTC)", utc.strftime(date_time))
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
    }

    #[test]
    fn instants_are_shown_in_local_time_with_utc_beside() {
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(show_in(1000, &utc), "1970-01-01 00:00:01 UTC");
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        // 2026-06-01T10:00:00Z: summer time.
        let june = 1_780_308_000_000;
        assert_eq!(
            show_in(june, &berlin),
            "2026-06-01 12:00:00 CEST (10:00:00 UTC)"
        );
        // 2026-12-31T23:30:00Z is already the next day in Berlin.
        let new_year = 1_798_759_800_000;
        assert_eq!(
            show_in(new_year, &berlin),
            "2027-01-01 00:30:00 CET (2026-12-31 23:30:00 UTC)"
        );
        assert!(show_in(i64::MAX, &utc).contains("out of range"));
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
