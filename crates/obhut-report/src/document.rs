//! The report as a sequence of blocks, in its language: what both the
//! HTML and the PDF render, so the two never say different things.

use crate::words::{Words, event, words};
use crate::{CustodyReport, Lang, Party};

/// One block of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// The document title.
    Title(String),
    /// A section heading.
    Heading(String),
    /// A paragraph of running text.
    Para(String),
    /// Label–value pairs; `mono` values (hashes, ids) are set in a
    /// fixed-width font and may break anywhere.
    Fields(Vec<Field>),
    /// A table: column titles with relative widths, and rows of cells
    /// (a cell's lines are separated by `\n`).
    Table {
        /// The columns.
        columns: Vec<Column>,
        /// The rows, one cell per column.
        rows: Vec<Vec<String>>,
    },
    /// Text shown exactly as it is, in a fixed-width font (the signed
    /// checkpoint).
    Verbatim(String),
    /// A numbered list.
    Steps(Vec<String>),
}

/// One label–value pair of [`Block::Fields`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The label.
    pub label: String,
    /// The value (lines separated by `\n`).
    pub value: String,
    /// Whether the value is set in the fixed-width font.
    pub mono: bool,
}

/// One column of a [`Block::Table`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The title.
    pub title: String,
    /// Its share of the table's width.
    pub weight: u16,
    /// Whether its cells are set in the fixed-width font.
    pub mono: bool,
}

fn field(label: &str, value: impl Into<String>, mono: bool) -> Field {
    Field {
        label: label.to_owned(),
        value: value.into(),
        mono,
    }
}

fn column(title: &str, weight: u16, mono: bool) -> Column {
    Column {
        title: title.to_owned(),
        weight,
        mono,
    }
}

/// The report's blocks, in order.
pub fn document(r: &CustodyReport) -> Vec<Block> {
    let w = words(r.lang);
    let when = |ms| instant(r, ms);
    let mut blocks = vec![
        Block::Title(w.title.to_owned()),
        Block::Fields(vec![
            field(w.case, r.request.case.clone(), false),
            field(w.made, when(r.made_ms), false),
            field(w.vault, party(w, &r.vault), false),
            field(w.recipients, parties(w, &r.recipients), false),
        ]),
        Block::Para(w.summary_intro.to_owned()),
        Block::Para(w.rely.to_owned()),
        Block::Heading(w.section_request.to_owned()),
        Block::Fields(vec![
            field(w.requester, party(w, &r.request.requester), false),
            field(w.purpose, r.request.purpose.clone(), false),
            field(w.legal_basis, r.request.legal_basis.clone(), false),
            field(w.case, r.request.case.clone(), false),
            field(
                w.window,
                format!(
                    "{}\n{} {}",
                    when(r.request.window_ms.0),
                    w.until,
                    when(r.request.window_ms.1)
                ),
                false,
            ),
            field(w.request_entry, r.request.log_index.to_string(), false),
            field(w.request_hash, r.request.request_hash.clone(), true),
        ]),
        Block::Heading(w.section_recordings.to_owned()),
    ];
    for rec in &r.recordings {
        blocks.push(Block::Fields(vec![
            field(w.recording, rec.id.clone(), true),
            field(w.device, party(w, &rec.device), false),
            field(
                w.span,
                format!(
                    "{}\n{} {}",
                    when(rec.span_ms.0),
                    w.until,
                    when(rec.span_ms.1)
                ),
                false,
            ),
            field(
                w.segments,
                format!(
                    "{}–{} {} {}",
                    rec.segments.0, rec.segments.1, w.segments_of, rec.segments_total
                ),
                false,
            ),
        ]));
    }
    blocks.push(Block::Heading(w.section_events.to_owned()));
    blocks.push(Block::Table {
        columns: vec![
            column(w.col_entry, 9, false),
            column(w.col_time, 26, false),
            column(w.col_event, 19, false),
            column(w.col_who, 24, false),
            column(w.col_detail, 22, false),
        ],
        rows: r
            .events
            .iter()
            .map(|e| {
                vec![
                    e.log_index.to_string(),
                    when(e.at_ms),
                    event(r.lang, e.kind).to_owned(),
                    party(w, &e.actor),
                    e.detail.clone(),
                ]
            })
            .collect(),
    });
    blocks.push(Block::Heading(w.section_files.to_owned()));
    blocks.push(Block::Table {
        columns: vec![
            column(w.col_file, 30, false),
            column(w.col_bytes, 12, false),
            column("SHA-256 / BLAKE3", 58, true),
        ],
        rows: r
            .files
            .iter()
            .map(|f| {
                vec![
                    f.path.clone(),
                    grouped(f.bytes, r.lang),
                    format!("{}\n{}", f.sha256, f.blake3),
                ]
            })
            .collect(),
    });
    blocks.push(Block::Heading(w.section_checkpoint.to_owned()));
    let c = &r.checkpoint;
    let witnesses = if c.witnesses.is_empty() {
        w.no_witnesses.to_owned()
    } else {
        parties(w, &c.witnesses)
    };
    blocks.push(Block::Fields(vec![
        field(w.origin, c.origin.clone(), false),
        field(w.tree_size, grouped(c.size, r.lang), false),
        field(w.root, c.root.clone(), true),
        field(w.witnesses, witnesses, false),
    ]));
    blocks.push(Block::Verbatim(c.text.clone()));
    blocks.push(Block::Heading(w.section_verify.to_owned()));
    blocks.push(Block::Steps(
        w.verify_steps.iter().map(|s| (*s).to_owned()).collect(),
    ));
    blocks
}

/// "Name, key FINGERPRINT" (or the unnamed marker).
fn party(w: &Words, p: &Party) -> String {
    let name = p.name.as_deref().unwrap_or(w.unnamed);
    format!("{name}\n{} {}", w.fingerprint, p.fingerprint)
}

fn parties(w: &Words, ps: &[Party]) -> String {
    ps.iter()
        .map(|p| party(w, p))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An instant in the report's zone with UTC beside it, in the language's
/// date order: `07.12.2026 18:35:12 CET` / `2026-12-07 18:35:12 CET`,
/// then `(17:35:12 UTC)` on a line of its own.
fn instant(r: &CustodyReport, ms: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_millisecond(ms) else {
        return format!("{ms} ms (out of range)");
    };
    let date = match r.lang {
        Lang::De => "%d.%m.%Y",
        Lang::En => "%Y-%m-%d",
    };
    let local = t.to_zoned_datetime(r.time_zone.clone());
    let utc = t.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    if local.offset() == jiff::tz::Offset::UTC {
        return format!("{} UTC", utc.strftime(&format!("{date} %H:%M:%S")));
    }
    let utc_text = if local.date() == utc.date() {
        utc.strftime("%H:%M:%S").to_string()
    } else {
        utc.strftime(&format!("{date} %H:%M:%S")).to_string()
    };
    format!(
        "{}\n({utc_text} UTC)",
        local.strftime(&format!("{date} %H:%M:%S %Z"))
    )
}

/// A count with thousands grouped as the language writes them.
fn grouped(n: u64, lang: Lang) -> String {
    let sep = match lang {
        Lang::De => '.',
        Lang::En => ',',
    };
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_as_each_language_writes_them() {
        assert_eq!(grouped(0, Lang::En), "0");
        assert_eq!(grouped(999, Lang::De), "999");
        assert_eq!(grouped(1_000, Lang::De), "1.000");
        assert_eq!(grouped(12_345_678, Lang::En), "12,345,678");
    }
}
