//! The text forms of settings: what an `OBHUT_*` variable or a flag
//! holds (`class=value` pairs, `;`-separated lists, `URL VKEY`
//! witnesses, retentions in words), parsed into the file's types.

use std::collections::BTreeMap;

use super::{ConfigError, WitnessFile};

/// A retention: `"N minutes|hours|days"` (ms) or `"until released"`
/// (`Some(None)`); `None` if neither.
pub fn parse_keep(text: &str) -> Option<Option<i64>> {
    let t = text.trim().to_ascii_lowercase();
    if t == "until released" {
        return Some(None);
    }
    let (n, unit) = t.split_once(' ')?;
    let n: i64 = n.trim().parse().ok()?;
    let unit_ms: i64 = match unit.trim() {
        "minute" | "minutes" => 60_000,
        "hour" | "hours" => 3_600_000,
        "day" | "days" => 86_400_000,
        _ => return None,
    };
    let ms = n.checked_mul(unit_ms)?;
    (60_000..=100 * 366 * 86_400_000)
        .contains(&ms)
        .then_some(Some(ms))
}

/// `OBHUT_RETENTION`: `class=retention` pairs separated by `;`
/// (`cctv=72 hours;evidence=until released`).
pub(super) fn parse_retention_env(v: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for pair in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (class, keep) = parse_class_pair(pair).ok_or_else(|| ConfigError::Invalid {
            setting: "OBHUT_RETENTION",
            value: v.to_owned(),
            reason: "class=retention pairs separated by ';', such as cctv=72 hours;evidence=until released",
        })?;
        out.insert(class, keep);
    }
    Ok(out)
}

/// One `class=value` (a retention, an epoch period): the flags'
/// and the variables' form of a `[retention]` or `[epoch_period_secs]`
/// entry.
pub fn parse_class_pair(pair: &str) -> Option<(String, String)> {
    let (class, value) = pair.split_once('=')?;
    Some((class.trim().to_owned(), value.trim().to_owned()))
}

/// One witness as a flag or variable gives it: `URL VKEY`.
pub fn parse_witness(text: &str) -> Option<WitnessFile> {
    let (url, vkey) = text.trim().split_once(char::is_whitespace)?;
    Some(WitnessFile {
        url: url.to_owned(),
        vkey: vkey.trim().to_owned(),
    })
}

/// The `;`-separated list of a variable, empty items dropped.
pub(super) fn env_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(';').map(str::trim).filter(|p| !p.is_empty())
}

/// `OBHUT_EPOCH_PERIOD_SECS`: `class=seconds` pairs separated by `;`.
pub(super) fn parse_periods_env(v: &str) -> Result<BTreeMap<String, u64>, ConfigError> {
    let bad = || ConfigError::Invalid {
        setting: "OBHUT_EPOCH_PERIOD_SECS",
        value: v.to_owned(),
        reason: "class=seconds pairs separated by ';', such as cctv=3600;evidence=86400",
    };
    let mut out = BTreeMap::new();
    for pair in env_list(v) {
        let (class, secs) = parse_class_pair(pair).ok_or_else(bad)?;
        out.insert(class, secs.parse().map_err(|_| bad())?);
    }
    Ok(out)
}

/// `OBHUT_WITNESSES`: `URL VKEY` items separated by `;`.
pub(super) fn parse_witnesses_env(v: &str) -> Result<Vec<WitnessFile>, ConfigError> {
    env_list(v)
        .map(|w| {
            parse_witness(w).ok_or_else(|| ConfigError::Invalid {
                setting: "OBHUT_WITNESSES",
                value: v.to_owned(),
                reason: "`URL VKEY` items separated by ';'",
            })
        })
        .collect()
}

/// `OBHUT_ALLOW_SELF_APPROVAL`: `true` or `false`.
pub(super) fn env_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<bool>, ConfigError> {
    match get(name) {
        None => Ok(None),
        Some(v) => match v.trim() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(ConfigError::Invalid {
                setting: name,
                value: v,
                reason: "true or false",
            }),
        },
    }
}

/// A whole number from the environment variable `name`, if set.
pub(super) fn env_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError> {
    match get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ConfigError::Invalid {
            setting: name,
            value: v,
            reason: "not a whole number",
        }),
    }
}
