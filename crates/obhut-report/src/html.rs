//! The report as one self-contained HTML page: no scripts, no external
//! resources, printable. Every value is escaped: names, purposes and case
//! references come from people and are shown, never interpreted.

use std::fmt::Write as _;

use crate::CustodyReport;
use crate::document::{Block, document};
use crate::words::words;

const STYLE: &str = "body{font-family:'Libertinus Serif',Georgia,serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.4;color:#111}\
h1{font-size:1.7rem;border-bottom:2px solid #111;padding-bottom:.3rem}\
h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #999}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:bold}dd{margin:0}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #bbb;padding:.25rem .4rem;vertical-align:top;text-align:left}\
.mono,code,pre{font-family:'DejaVu Sans Mono',monospace;font-size:.8rem;overflow-wrap:anywhere}\
pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}";

/// The report as an HTML page (UTF-8).
pub fn html(report: &CustodyReport) -> String {
    let w = words(report.lang);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} – {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        report.lang.tag(),
        escape(w.title),
        escape(&report.request.case),
    );
    for block in document(report) {
        render(&mut out, &block);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn render(out: &mut String, block: &Block) {
    match block {
        Block::Title(t) => {
            let _ = writeln!(out, "<h1>{}</h1>", escape(t));
        }
        Block::Heading(t) => {
            let _ = writeln!(out, "<h2>{}</h2>", escape(t));
        }
        Block::Para(t) => {
            let _ = writeln!(out, "<p>{}</p>", inline(t));
        }
        Block::Fields(fields) => {
            out.push_str("<dl>\n");
            for f in fields {
                let class = if f.mono { " class=\"mono\"" } else { "" };
                let _ = writeln!(
                    out,
                    "<dt>{}</dt><dd{class}>{}</dd>",
                    escape(&f.label),
                    lines(&f.value)
                );
            }
            out.push_str("</dl>\n");
        }
        Block::Table { columns, rows } => {
            out.push_str("<table>\n<thead><tr>");
            for c in columns {
                let _ = write!(out, "<th>{}</th>", escape(&c.title));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in rows {
                out.push_str("<tr>");
                for (cell, c) in row.iter().zip(columns) {
                    let class = if c.mono { " class=\"mono\"" } else { "" };
                    let _ = write!(out, "<td{class}>{}</td>", lines(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Block::Verbatim(t) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(t));
        }
        Block::Steps(steps) => {
            out.push_str("<ol>\n");
            for s in steps {
                let _ = writeln!(out, "<li>{}</li>", inline(s));
            }
            out.push_str("</ol>\n");
        }
    }
}

/// Escaped, with the value's own line breaks kept.
fn lines(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("<br>")
}

/// Escaped, with `backticked` spans (commands in the report's own words)
/// set as code.
fn inline(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_value_is_shown_not_interpreted() {
        assert_eq!(
            lines("<script>alert('x')</script>\nA & B"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;<br>A &amp; B"
        );
        assert_eq!(inline("run `a<b`"), "run <code>a&lt;b</code>");
    }
}
