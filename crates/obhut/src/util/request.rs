//! Helpers of the request commands (request, pending, approve, open, the
//! demo): a request shown in full for people, its expiry, the approval
//! prompt, and `--range`.

use std::io::{BufRead, IsTerminal, Write};

use obhut_core::request::{AccessRequest, Scope};

use super::hint::{HintExt, fail};
use super::{printable, time};

/// The error for a request that expired at `ms`.
pub fn expired_at(ms: i64) -> anyhow::Error {
    fail(
        format!("the request expired at {}", time::show(ms)),
        "ask the requester for a new request",
    )
}

/// Parse `--range START-END` (END exclusive) or `START-`.
pub fn parse_range(s: &str) -> Result<(u64, Option<u64>), String> {
    let bad = || format!("`{s}` is not a byte range; write START-END (END exclusive) or START-");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let end = match b.trim() {
        "" => None,
        e => Some(e.parse::<u64>().map_err(|_| bad())?),
    };
    if end.is_some_and(|e| e <= start) {
        return Err(format!("`{s}`: END must be after START"));
    }
    Ok((start, end))
}

/// Ask "approve?" on the terminal; `--yes` skips it.
pub fn confirm(yes: bool, question: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            "refusing to approve without confirmation: standard input is not a terminal",
            "review the request (run this command on a terminal), then pass --yes to approve from a script",
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).hint(
        "cannot read the answer",
        "pass --yes to approve without asking",
    )?;
    match answer.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => Err(fail(
            "not approved; no partial was computed",
            "run the command again and answer y to approve",
        )),
    }
}

/// A request in full, for people (custodians read this before approving).
pub fn describe(req: &AccessRequest) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "access request {}", hex::encode(req.request_hash()));
    let _ = writeln!(s, "  requester:     {}", req.requester_fingerprint());
    let _ = writeln!(
        s,
        "  custody group: {} (generation {})",
        req.group_id, req.generation
    );
    for scope in &req.scope {
        match scope {
            Scope::Recording {
                recording_id,
                media_start_ms,
                media_end_ms,
                include_metadata,
            } => {
                let end = if *media_end_ms == u64::MAX {
                    "end".to_owned()
                } else {
                    time::show_media(*media_end_ms)
                };
                let _ = writeln!(
                    s,
                    "  scope:         recording {recording_id}, media time {}–{end}{}",
                    time::show_media(*media_start_ms),
                    if *include_metadata {
                        ", with metadata"
                    } else {
                        ", no metadata"
                    }
                );
            }
            Scope::Device {
                device_key,
                utc_start_ms,
                utc_end_ms,
                include_metadata,
            } => {
                let _ = writeln!(
                    s,
                    "  scope:         device {}, captured {} – {}{}",
                    hex::encode(device_key.to_bytes()),
                    time::show(*utc_start_ms),
                    time::show(*utc_end_ms),
                    if *include_metadata {
                        ", with metadata"
                    } else {
                        ", no metadata"
                    }
                );
            }
        }
    }
    let _ = writeln!(s, "  purpose:       {}", printable(&req.purpose));
    for (i, line) in req.justification.split('\n').enumerate() {
        let label = if i == 0 { "justification:" } else { "" };
        let _ = writeln!(s, "  {label:<14} {}", printable(line));
    }
    let _ = writeln!(s, "  legal basis:   {}", printable(&req.legal_basis));
    let _ = writeln!(s, "  case:          {}", printable(&req.case_ref));
    if req.recipients.is_empty() {
        let _ = writeln!(s, "  recipients:    (none named)");
    }
    for r in &req.recipients {
        let _ = writeln!(s, "  recipient:     {}", printable(r));
    }
    let _ = writeln!(s, "  created:       {}", time::show(req.created_utc_ms));
    let _ = writeln!(s, "  expires:       {}", time::show(req.expires_utc_ms));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-10").unwrap(), (0, Some(10)));
        assert_eq!(parse_range("5-").unwrap(), (5, None));
        assert!(parse_range("10-5").is_err());
        assert!(parse_range("10-10").is_err());
        assert!(parse_range("x-5").is_err());
        assert!(parse_range("5").is_err());
    }
}
