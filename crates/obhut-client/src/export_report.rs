//! The chain-of-custody report of an export (issue 19 item 3,
//! docs/bundle.md §2): the facts `obhut export` has gathered and checked —
//! the grant, the exported recordings, the proved log entries, the
//! bundle's files with their hashes, the checkpoint — handed to
//! `obhut_report`, which renders them as `report/report.<lang>.html` and
//! `.pdf`. Written after every other file and before the manifest, so the
//! report names the hashes of all other files and the manifest covers the
//! report; the content listing the disclosure signs leaves `report/` out,
//! so the logged digest does not depend on it.

use std::collections::BTreeMap;

use obhut_api::access::Logged;
use obhut_core::audit::{Event, LogEntry, Role};
use obhut_core::request::Scope;
use obhut_core::segment::SegmentKind;
use obhut_log::TrustedLog;
use obhut_report::{
    CheckpointFacts, CustodyReport, EventFacts, EventKind, FileFacts, RecordingFacts, RequestFacts,
};
pub use obhut_report::{Lang, Party};

use crate::access::b64;
use crate::bundle::{FileInfo, REPORT_DIR};
use crate::error::{Error, Result};
use crate::open::Grant;
use crate::scope::Resolved;

/// What the report is made in, and the people the exporter knows.
#[derive(Clone, Debug, Default)]
pub struct ReportSpec {
    /// One report (HTML and PDF) per language; none writes no report.
    pub langs: Vec<Lang>,
    /// Display name and fingerprint of each known person and device, by
    /// Ed25519 key (the requester, the custodians of the group, the
    /// exported recordings' devices; names verified, `crate::names`): log
    /// entries name their actors by that key only.
    pub people: BTreeMap<[u8; 32], Party>,
    /// The verified display names the bundle carries (`names/`,
    /// docs/bundle.md §2.1), checked by the same rule `obhut verify`
    /// applies, so that the report and the verifier name the same people.
    pub names: crate::names::Names,
}

/// The report's two files for `lang`, bundle-relative.
pub fn report_paths(lang: Lang) -> [String; 2] {
    [
        format!("{REPORT_DIR}/report.{}.html", lang.tag()),
        format!("{REPORT_DIR}/report.{}.pdf", lang.tag()),
    ]
}

/// The facts shared by every language (the caller sets `lang`).
pub(crate) struct Facts<'a> {
    pub grant: &'a Grant,
    pub vault: [u8; 32],
    pub recipients: Vec<String>,
    pub custody: &'a [(Logged, String)],
    pub files: &'a [FileInfo],
    pub checkpoint: &'a [u8],
    pub checkpoint_size: u64,
    pub log: &'a TrustedLog,
    pub made_ms: i64,
}

/// Render the report in each of `spec.langs`: `(path, bytes)` pairs.
pub(crate) fn render(spec: &ReportSpec, f: &Facts<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    if spec.langs.is_empty() {
        return Ok(Vec::new());
    }
    let mut report = build(spec, f)?;
    let mut out = Vec::new();
    for &lang in &spec.langs {
        report.lang = lang;
        let [html_path, pdf_path] = report_paths(lang);
        out.push((html_path, obhut_report::html(&report).into_bytes()));
        let pdf = obhut_report::pdf(&report).map_err(|e| Error::ExportLog {
            what: "the chain-of-custody report".into(),
            why: e.to_string(),
        })?;
        out.push((pdf_path, pdf));
    }
    Ok(out)
}

fn build(spec: &ReportSpec, f: &Facts<'_>) -> Result<CustodyReport> {
    let vault = Party {
        name: None,
        fingerprint: hex::encode(f.vault),
    };
    let request = &f.grant.request;
    let content = request.content();
    let requester = spec
        .people
        .get(&request.requester_sign().to_bytes())
        .cloned()
        .unwrap_or_else(|| Party {
            name: None,
            fingerprint: request.requester_fingerprint().to_string(),
        });
    let recordings: Vec<RecordingFacts> = f
        .grant
        .resolved
        .iter()
        .filter(|r| !r.in_scope.is_empty())
        .map(|r| recording(r, &spec.people))
        .collect();
    let window_ms = window(&content.scope, &recordings);
    let party = |role: Role, key: &[u8; 32]| -> Party {
        spec.people.get(key).cloned().unwrap_or_else(|| Party {
            name: None,
            fingerprint: format!("{} {}", role.name(), hex::encode(key)),
        })
    };
    let mut events = Vec::new();
    for (logged, what) in f.custody {
        let bytes = b64("log entry", &logged.entry)?;
        let entry = LogEntry::from_bytes(&bytes).map_err(|e| Error::ExportLog {
            what: what.clone(),
            why: e.to_string(),
        })?;
        let (kind, detail) = event(&entry.event, what, &f.recipients);
        events.push(EventFacts {
            at_ms: entry.time_ms,
            kind,
            actor: party(entry.actor.role, &entry.actor.key),
            detail,
            log_index: logged.log_index,
        });
    }
    let text = String::from_utf8_lossy(f.checkpoint).into_owned();
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default().to_owned();
    let _size = lines.next();
    let root = lines.next().unwrap_or_default().to_owned();
    // A witness cosigned if its signature line ("— name base64") is there;
    // `obhut verify` checks the signatures themselves.
    let witnesses = f
        .log
        .policy()
        .witnesses()
        .iter()
        .filter(|w| {
            let prefix = format!("\u{2014} {} ", w.name());
            text.lines().any(|l| l.starts_with(&prefix))
        })
        .map(|w| Party {
            name: Some(w.name().to_owned()),
            fingerprint: w.to_string(),
        })
        .collect();
    Ok(CustodyReport {
        lang: Lang::En,
        time_zone: jiff::tz::TimeZone::system(),
        made_ms: f.made_ms,
        vault,
        recipients: f
            .recipients
            .iter()
            .map(|r| Party {
                name: None,
                fingerprint: r.clone(),
            })
            .collect(),
        request: RequestFacts {
            requester,
            purpose: content.purpose.clone(),
            legal_basis: content.legal_basis.clone(),
            case: content.case_ref.clone(),
            window_ms,
            log_index: f.grant.request_index,
            request_hash: f.grant.request_hash.clone(),
        },
        recordings,
        events,
        files: f
            .files
            .iter()
            .map(|i| FileFacts {
                path: i.path.clone(),
                bytes: i.size,
                sha256: i.sha256.clone(),
                blake3: i.blake3.clone(),
            })
            .collect(),
        checkpoint: CheckpointFacts {
            origin,
            size: f.checkpoint_size,
            root,
            witnesses,
            text,
        },
    })
}

/// A recording's device, its exported segments and their span in UTC
/// (from the device-signed capture times).
fn recording(rec: &Resolved, people: &BTreeMap<[u8; 32], Party>) -> RecordingFacts {
    let mut span = (i64::MAX, i64::MIN);
    let mut segments = (u32::MAX, 0u32);
    for &i in &rec.in_scope {
        let r = &rec.records[i];
        let index = r.segment_ref().index;
        segments = (segments.0.min(index), segments.1.max(index));
        let h = &r.header().fields;
        if h.kind == SegmentKind::Media {
            let len = h.media_end_ms.saturating_sub(h.media_start_ms);
            let len = i64::try_from(len).unwrap_or(i64::MAX);
            span = (
                span.0.min(h.capture_utc_ms),
                span.1.max(h.capture_utc_ms.saturating_add(len)),
            );
        }
    }
    if span.0 > span.1 {
        span = (0, 0);
    }
    let device = rec.records[rec.in_scope[0]]
        .header()
        .fields
        .device_key
        .to_bytes();
    RecordingFacts {
        id: rec.recording.to_string(),
        device: people.get(&device).cloned().unwrap_or_else(|| Party {
            name: None,
            fingerprint: format!("device {}", hex::encode(device)),
        }),
        span_ms: span,
        segments,
        segments_total: u32::try_from(rec.records.len()).unwrap_or(u32::MAX),
    }
}

/// The granted window in UTC: a device scope's own interval, else the
/// exported recordings' span (a recording scope is in media time).
fn window(scope: &[Scope], recordings: &[RecordingFacts]) -> (i64, i64) {
    let mut w = (i64::MAX, i64::MIN);
    for s in scope {
        if let Scope::Device {
            utc_start_ms,
            utc_end_ms,
            ..
        } = s
        {
            w = (w.0.min(*utc_start_ms), w.1.max(*utc_end_ms));
        }
    }
    if w.0 > w.1 {
        for r in recordings {
            w = (w.0.min(r.span_ms.0), w.1.max(r.span_ms.1));
        }
    }
    if w.0 > w.1 { (0, 0) } else { w }
}

fn event(e: &Event, what: &str, recipients: &[String]) -> (EventKind, String) {
    let kind = match e {
        Event::DeviceEnrolled { .. } => EventKind::DeviceEnrolled,
        Event::SegmentReceived { .. } => EventKind::SegmentReceived,
        Event::AccessRequested { .. } => EventKind::Requested,
        Event::Approved { .. } => EventKind::Approved,
        Event::Denied { .. } => EventKind::Denied,
        Event::Released { .. } => EventKind::Released,
        Event::Opened { .. } => EventKind::Opened,
        Event::Disclosed { .. } => EventKind::Disclosed,
        _ => return (EventKind::Other, format!("{}: {what}", e.kind())),
    };
    let detail = match e {
        Event::Disclosed { .. } => format!("{what}: {}", recipients.join(", ")),
        _ => what.to_owned(),
    };
    (kind, detail)
}
