//! Signed objects shown to people, for every front end: text that came
//! from a file or the vault made safe for a terminal, and an access request
//! in full (what a custodian reads before approving).

use obhut_core::request::{AccessRequest, Scope};

use crate::names::Names;
use crate::time;

/// Text from a file (a name, a justification) made safe to print on a
/// terminal: control characters are shown escaped, so that a crafted request
/// cannot hide or rewrite what a custodian reads with escape sequences.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A request in full, for people (custodians read this before approving).
pub fn describe_request(req: &AccessRequest) -> String {
    describe_request_named(req, &Names::none())
}

/// [`describe_request`], with the requester's and devices' display names
/// where `names` has verified ones.
pub fn describe_request_named(req: &AccessRequest, names: &Names) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "access request {}", hex::encode(req.request_hash()));
    let _ = writeln!(
        s,
        "  requester:     {}",
        names.label(
            &req.requester_sign().to_bytes(),
            &req.requester_fingerprint().to_string()
        )
    );
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
                    names.label(&device_key.to_bytes(), &hex::encode(device_key.to_bytes())),
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

/// An entry's line with its capture time (a segment's) in local time and
/// UTC, as every other time this command prints; the pure core's line has
/// only the number of milliseconds, because time zones are I/O.
pub fn log_entry(e: &obhut_core::audit::LogEntry) -> String {
    let line = e.to_string();
    match &e.event {
        obhut_core::audit::Event::SegmentReceived { capture_utc_ms, .. } => line.replace(
            &format!("captured {capture_utc_ms}"),
            &format!("captured {}", crate::time::show(*capture_utc_ms)),
        ),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_control_and_bidi_characters() {
        assert_eq!(
            super::printable("plain text, ünïcode"),
            "plain text, ünïcode"
        );
        assert_eq!(super::printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(super::printable("x\ny"), "x\\ny");
        assert_eq!(super::printable("\u{202e}abc"), "\\u{202e}abc");
    }
}
