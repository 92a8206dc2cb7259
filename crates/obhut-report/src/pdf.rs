//! The report as an A4 PDF with its fonts embedded (subset): laid out
//! here, line by line, into pages of drawing operations, then written by
//! krilla. Laying out first lets every page say "page i of n".
//!
//! Line breaking measures each glyph's advance from the font itself, so a
//! line never runs past the margin; words wider than a line (hashes, ids)
//! break between characters.

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use crate::document::{Block, Column, Field, document};
use crate::words::words;
use crate::{CustodyReport, ReportError};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Where the body ends: above the footer line.
const BODY_END: f32 = PAGE_H - MARGIN;
const LABEL_W: f32 = 150.0;
const CELL_PAD: f32 = 3.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Face {
    Serif,
    Bold,
    Mono,
}

/// One drawing operation on a page.
enum Op {
    Text {
        x: f32,
        baseline: f32,
        face: Face,
        size: f32,
        text: String,
    },
    /// A filled rectangle (rules).
    Rule { x: f32, y: f32, w: f32, h: f32 },
}

/// A font: krilla's handle to draw it, skrifa's view to measure it.
struct Typeface {
    font: Font,
    /// Parsed once: every line break measures with it.
    metrics: skrifa::FontRef<'static>,
}

impl Typeface {
    fn load(name: &'static str, data: &'static [u8]) -> Result<Self, ReportError> {
        let metrics = skrifa::FontRef::new(data).map_err(|_| ReportError::Font(name))?;
        let font = Font::new(data.into(), 0).ok_or(ReportError::Font(name))?;
        Ok(Typeface { font, metrics })
    }

    /// The width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let charmap = self.metrics.charmap();
        let metrics = self
            .metrics
            .glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                let glyph = charmap.map(c).unwrap_or_default();
                metrics.advance_width(glyph).unwrap_or(size * 0.5)
            })
            .sum()
    }
}

struct Faces {
    serif: Typeface,
    bold: Typeface,
    mono: Typeface,
}

impl Faces {
    fn load() -> Result<Self, ReportError> {
        // typst-assets lists its fonts in a fixed order: Libertinus Serif
        // Regular and Bold first, DejaVu Sans Mono (regular) last.
        let all: Vec<&'static [u8]> = typst_assets::fonts().collect();
        let pick = |i: usize, name| {
            all.get(i)
                .copied()
                .ok_or(ReportError::Font(name))
                .and_then(|d| Typeface::load(name, d))
        };
        Ok(Faces {
            serif: pick(0, "Libertinus Serif")?,
            bold: pick(1, "Libertinus Serif Bold")?,
            mono: pick(all.len().wrapping_sub(1), "DejaVu Sans Mono")?,
        })
    }

    fn get(&self, face: Face) -> &Typeface {
        match face {
            Face::Serif => &self.serif,
            Face::Bold => &self.bold,
            Face::Mono => &self.mono,
        }
    }
}

/// Break `text` (its own `\n` kept) into lines no wider than `width`.
fn wrap(t: &Typeface, size: f32, text: &str, width: f32) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if t.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            // A word wider than the line breaks between characters.
            for c in word.chars() {
                let mut next = line.clone();
                next.push(c);
                if !line.is_empty() && t.width(&next, size) > width {
                    out.push(std::mem::take(&mut line));
                    line.push(c);
                } else {
                    line = next;
                }
            }
        }
        out.push(line);
    }
    out
}

/// Text for a PDF line: no control characters, no backticks (the HTML
/// sets those spans as code; on paper the words stand alone).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .filter(|c| *c != '`')
        .collect()
}

struct Layout<'f> {
    faces: &'f Faces,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl<'f> Layout<'f> {
    fn new(faces: &'f Faces) -> Self {
        Layout {
            faces,
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn page(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }

    /// Start a new page unless `h` more points fit on this one.
    fn room(&mut self, h: f32) {
        if self.y + h > BODY_END && self.y > MARGIN {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, face: Face, size: f32, text: String) {
        let baseline = self.y + size;
        self.page().push(Op::Text {
            x,
            baseline,
            face,
            size,
            text,
        });
    }

    fn rule(&mut self, x: f32, w: f32, h: f32) {
        let y = self.y;
        self.page().push(Op::Rule { x, y, w, h });
    }

    /// Lines of one face, each on its own line, breaking pages between
    /// them.
    fn lines(&mut self, x: f32, face: Face, size: f32, text: &str, width: f32) {
        let lh = size * 1.35;
        for line in wrap(self.faces.get(face), size, &clean(text), width) {
            self.room(lh);
            self.text(x, face, size, line);
            self.y += lh;
        }
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Title(t) => {
                self.lines(MARGIN, Face::Bold, 20.0, t, TEXT_W);
                self.y += 2.0;
                self.rule(MARGIN, TEXT_W, 1.2);
                self.y += 10.0;
            }
            Block::Heading(t) => {
                self.room(60.0);
                self.y += 12.0;
                self.lines(MARGIN, Face::Bold, 13.0, t, TEXT_W);
                self.rule(MARGIN, TEXT_W, 0.5);
                self.y += 6.0;
            }
            Block::Para(t) => {
                self.lines(MARGIN, Face::Serif, 10.5, t, TEXT_W);
                self.y += 6.0;
            }
            Block::Fields(fields) => {
                for f in fields {
                    self.field(f);
                }
                self.y += 6.0;
            }
            Block::Table { columns, rows } => self.table(columns, rows),
            Block::Verbatim(t) => {
                self.y += 4.0;
                self.lines(MARGIN + 6.0, Face::Mono, 7.5, t, TEXT_W - 12.0);
                self.y += 6.0;
            }
            Block::Steps(steps) => {
                for (i, s) in steps.iter().enumerate() {
                    self.room(14.0);
                    self.text(MARGIN, Face::Bold, 10.5, format!("{}.", i + 1));
                    self.lines(MARGIN + 18.0, Face::Serif, 10.5, s, TEXT_W - 18.0);
                    self.y += 4.0;
                }
            }
        }
    }

    fn field(&mut self, f: &Field) {
        let (face, size) = if f.mono {
            (Face::Mono, 8.0)
        } else {
            (Face::Serif, 10.0)
        };
        let value_w = TEXT_W - LABEL_W;
        let label = wrap(&self.faces.bold, 10.0, &clean(&f.label), LABEL_W - 8.0);
        let value = wrap(self.faces.get(face), size, &clean(&f.value), value_w);
        let lh = 13.5;
        let h = lh * label.len().max(value.len()) as f32;
        // A field of up to a third of a page stays on one page.
        if h < (BODY_END - MARGIN) / 3.0 {
            self.room(h);
        }
        let top = self.y;
        for line in label {
            self.room(lh);
            self.text(MARGIN, Face::Bold, 10.0, line);
            self.y += lh;
        }
        let after_label = self.y;
        self.y = top;
        for line in value {
            self.room(lh);
            self.text(MARGIN + LABEL_W, face, size, line);
            self.y += lh;
        }
        self.y = self.y.max(after_label);
    }

    fn table(&mut self, columns: &[Column], rows: &[Vec<String>]) {
        let total: f32 = columns.iter().map(|c| f32::from(c.weight)).sum();
        let widths: Vec<f32> = columns
            .iter()
            .map(|c| TEXT_W * f32::from(c.weight) / total.max(1.0))
            .collect();
        let header: Vec<String> = columns.iter().map(|c| c.title.clone()).collect();
        let header_faces = vec![Face::Bold; columns.len()];
        let body_faces: Vec<Face> = columns
            .iter()
            .map(|c| if c.mono { Face::Mono } else { Face::Serif })
            .collect();
        self.row(&widths, &header, &header_faces, true);
        for row in rows {
            let wrapped = self.cells(&widths, row, &body_faces);
            let h = row_height(&wrapped);
            if self.y + h > BODY_END {
                self.new_page();
                self.row(&widths, &header, &header_faces, true);
            }
            self.draw_row(&widths, wrapped, &body_faces);
        }
        self.y += 8.0;
    }

    fn cells(&self, widths: &[f32], row: &[String], faces: &[Face]) -> Vec<(f32, Vec<String>)> {
        row.iter()
            .zip(widths)
            .zip(faces)
            .map(|((cell, w), face)| {
                let size = cell_size(*face);
                let t = self.faces.get(*face);
                (size, wrap(t, size, &clean(cell), w - 2.0 * CELL_PAD))
            })
            .collect()
    }

    fn row(&mut self, widths: &[f32], row: &[String], faces: &[Face], header: bool) {
        let wrapped = self.cells(widths, row, faces);
        self.room(row_height(&wrapped));
        self.draw_row(widths, wrapped, faces);
        if header {
            self.rule(MARGIN, TEXT_W, 0.8);
        }
    }

    fn draw_row(&mut self, widths: &[f32], wrapped: Vec<(f32, Vec<String>)>, faces: &[Face]) {
        let h = row_height(&wrapped);
        let top = self.y;
        let mut x = MARGIN;
        for (((size, lines), w), face) in wrapped.into_iter().zip(widths).zip(faces) {
            self.y = top + CELL_PAD;
            for line in lines {
                self.text(x + CELL_PAD, *face, size, line);
                self.y += size * 1.3;
            }
            x += w;
        }
        self.y = top + h;
        self.rule(MARGIN, TEXT_W, 0.3);
    }
}

fn cell_size(face: Face) -> f32 {
    match face {
        Face::Mono => 6.8,
        _ => 9.0,
    }
}

fn row_height(wrapped: &[(f32, Vec<String>)]) -> f32 {
    let content = wrapped
        .iter()
        .map(|(size, lines)| size * 1.3 * lines.len() as f32)
        .fold(0.0, f32::max);
    content + 2.0 * CELL_PAD
}

/// The report as a PDF (A4, fonts embedded).
pub fn pdf(report: &CustodyReport) -> Result<Vec<u8>, ReportError> {
    let faces = Faces::load()?;
    let mut layout = Layout::new(&faces);
    for block in document(report) {
        layout.block(&block);
    }
    let pages = layout.pages;
    let w = words(report.lang);
    let count = pages.len();

    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} – {}", w.title, report.request.case))
            .language(report.lang.tag().to_owned())
            .creator("obhut".to_owned()),
    );
    let settings =
        || PageSettings::from_wh(PAGE_W, PAGE_H).ok_or(ReportError::Pdf("page size".into()));
    for (i, ops) in pages.into_iter().enumerate() {
        let mut page = doc.start_page_with(settings()?);
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text {
                    x,
                    baseline,
                    face,
                    size,
                    text,
                } => surface.draw_text(
                    Point::from_xy(x, baseline),
                    faces.get(face).font.clone(),
                    size,
                    &text,
                    false,
                    TextDirection::Auto,
                ),
                Op::Rule { x, y, w, h } => {
                    if let Some(path) = Rect::from_xywh(x, y, w, h).and_then(|r| {
                        let mut pb = PathBuilder::new();
                        pb.push_rect(r);
                        pb.finish()
                    }) {
                        surface.draw_path(&path);
                    }
                }
            }
        }
        let footer = clean(&format!(
            "{} – {} · {} {} / {count}",
            w.title,
            report.request.case,
            w.page,
            i + 1
        ));
        surface.draw_text(
            Point::from_xy(MARGIN, PAGE_H - MARGIN / 2.0),
            faces.serif.font.clone(),
            8.0,
            &footer,
            false,
            TextDirection::Auto,
        );
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| ReportError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_wrapped_line_is_wider_than_its_column() {
        let faces = Faces::load().expect("bundled fonts");
        let hash = "9f".repeat(32);
        let text = format!("Gerät registriert durch Polizeipräsidium Musterstadt {hash} ende");
        for (face, size, width) in [(Face::Serif, 10.0, 120.0), (Face::Mono, 6.8, 90.0)] {
            let t = faces.get(face);
            let lines = wrap(t, size, &text, width);
            assert!(lines.len() > 1);
            for line in &lines {
                assert!(t.width(line, size) <= width, "{line:?} is too wide");
            }
            assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        }
    }
}
