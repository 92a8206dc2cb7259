//! The report rendered in both languages: the HTML says what the PDF
//! says, the PDF is a valid document whose text a PDF reader extracts
//! (poppler's pdftotext), and it renders to an image (pdftoppm).
//!
//! `OBHUT_WRITE_SCREENSHOTS=1` writes the first page of each language as
//! PNG into docs/report/ (the screenshots docs/bundle.md shows).

use std::path::Path;
use std::process::Command;

use obhut_report::{
    CheckpointFacts, CustodyReport, EventFacts, EventKind, FileFacts, Lang, Party, RecordingFacts,
    RequestFacts, html, pdf,
};

const T0: i64 = 1_796_640_000_000; // 2026-12-07T10:40:00Z

fn person(name: &str, fp: &str) -> Party {
    Party {
        name: Some(name.to_owned()),
        fingerprint: fp.to_owned(),
    }
}

fn sample(lang: Lang) -> CustodyReport {
    let requester = person(
        "Kriminalhauptkommissarin Anna Weiß",
        "obhut:p:7c41e09d2a55f3b8",
    );
    let custodian_a = person(
        "Jonas Becker (Asservatenstelle)",
        "obhut:p:2b9e11f07a3c6d40",
    );
    let custodian_b = person("Dr. Leyla Öztürk (Datenschutz)", "obhut:p:e5d0c3a9b8174f62");
    let device = person("Bodycam BWC-0417, Revier Mitte", "obhut:d:41aa09be37c2d815");
    let vault = person(
        "Asservatentresor Präsidium Nord",
        "obhut:v:0f93d2c7e1b46a58",
    );
    let at = |min: i64| T0 + min * 60_000;
    let event = |min, kind, actor: &Party, detail: &str, index| EventFacts {
        at_ms: at(min),
        kind,
        actor: actor.clone(),
        detail: detail.to_owned(),
        log_index: index,
    };
    CustodyReport {
        lang,
        time_zone: jiff::tz::TimeZone::get("Europe/Berlin").expect("bundled zone"),
        made_ms: at(180),
        vault: vault.clone(),
        recipients: vec![person(
            "Staatsanwaltschaft Musterstadt, Abt. 3 <script>",
            "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
        )],
        request: RequestFacts {
            requester: requester.clone(),
            purpose: "Ermittlungsverfahren wegen gefährlicher Körperverletzung".into(),
            legal_basis: "§ 100h StPO".into(),
            case: "4 Js 1234/26".into(),
            window_ms: (at(-90), at(-89)),
            log_index: 18_204,
            request_hash: "3f0a".repeat(16),
        },
        recordings: vec![RecordingFacts {
            id: "8d3c5f0e7a1b2c4d9e8f7a6b5c4d3e2f".into(),
            device: device.clone(),
            span_ms: (at(-90), at(-89)),
            segments: (41, 42),
            segments_total: 360,
        }],
        events: vec![
            event(-400, EventKind::DeviceEnrolled, &vault, "", 1_022),
            event(-90, EventKind::SegmentReceived, &device, "segment 41", 17_990),
            event(-89, EventKind::SegmentReceived, &device, "segment 42", 17_991),
            event(20, EventKind::Requested, &requester, "", 18_204),
            event(35, EventKind::Approved, &custodian_a, "", 18_210),
            event(52, EventKind::Approved, &custodian_b, "Zweck und Zeitraum geprüft", 18_215),
            event(53, EventKind::Released, &vault, "segments 41–42", 18_216),
            event(60, EventKind::Opened, &requester, "", 18_220),
            event(180, EventKind::Disclosed, &requester, "Staatsanwaltschaft Musterstadt", 18_240),
        ],
        files: vec![
            FileFacts {
                path: "clips/8d3c5f0e-41-42.mp4.age".into(),
                bytes: 3_482_112,
                sha256: "a1".repeat(32),
                blake3: "b2".repeat(32),
            },
            FileFacts {
                path: "records/8d3c5f0e.records".into(),
                bytes: 4_672,
                sha256: "c3".repeat(32),
                blake3: "d4".repeat(32),
            },
            FileFacts {
                path: "proofs/entries.tlog-proof".into(),
                bytes: 12_880,
                sha256: "e5".repeat(32),
                blake3: "f6".repeat(32),
            },
        ],
        checkpoint: CheckpointFacts {
            origin: "vault.example/obhut".into(),
            size: 18_241,
            root: "q3Fz0VhYb8mQm1l0pW0c2v6cUPr8ZbVQ1Zr3o3S9kEs=".into(),
            witnesses: vec![person("Landesdatenschutzbeauftragte (Zeuge)", "witness.example/ldi+8b2e4c1d")],
            text: "vault.example/obhut\n18241\nq3Fz0VhYb8mQm1l0pW0c2v6cUPr8ZbVQ1Zr3o3S9kEs=\n\n— vault.example/obhut Az3kVw2l0pW0c2v6cUPr8ZbVQ1Zr3o3S9kEsq3Fz0VhYb8mQm1l0pW0c2v6cUPr8ZbVQ1Zr3o==\n".into(),
        },
    }
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("-v").output().is_ok()
}

#[test]
fn both_languages_render_to_html_that_escapes_what_people_typed() {
    for (lang, title, heading) in [
        (
            Lang::En,
            "Chain-of-custody report",
            "Files and their hashes",
        ),
        (
            Lang::De,
            "Bericht zur Beweismittelkette",
            "Dateien und ihre Hashwerte",
        ),
    ] {
        let page = html(&sample(lang));
        assert!(page.contains(&format!("<html lang=\"{}\">", lang.tag())));
        assert!(page.contains(title) && page.contains(heading));
        assert!(page.contains("Kriminalhauptkommissarin Anna Weiß"));
        assert!(page.contains(&"a1".repeat(32)), "every file's SHA-256");
        assert!(
            !page.contains("<script>"),
            "a recipient's name is shown, not run"
        );
        assert!(page.contains("Abt. 3 &lt;script&gt;"));
    }
    let de = html(&sample(Lang::De));
    // Local time in the report's zone, UTC beside it, German date order.
    assert!(
        de.contains("07.12.2026 14:40:00 CET<br>(13:40:00 UTC)"),
        "{de}"
    );
}

#[test]
fn the_pdf_embeds_its_fonts_and_a_pdf_reader_extracts_its_text() {
    if !tool("pdftotext") {
        panic!("pdftotext (Debian poppler-utils) is needed; scripts/test installs it");
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    for (lang, words) in [
        (
            Lang::En,
            ["Chain-of-custody report", "Legal basis", "How to verify"],
        ),
        (
            Lang::De,
            [
                "Bericht zur Beweismittelkette",
                "Rechtsgrundlage",
                "So wird geprüft",
            ],
        ),
    ] {
        let bytes = pdf(&sample(lang)).expect("a PDF");
        assert!(bytes.starts_with(b"%PDF-"));
        let file = dir.path().join(format!("report-{}.pdf", lang.tag()));
        std::fs::write(&file, &bytes).expect("writing the PDF");

        let fonts = Command::new("pdffonts")
            .arg(&file)
            .output()
            .expect("pdffonts");
        let fonts = String::from_utf8_lossy(&fonts.stdout);
        assert!(
            fonts.contains("LibertinusSerif") && fonts.contains("DejaVuSansMono"),
            "{fonts}"
        );
        assert!(
            fonts.lines().skip(2).all(|l| l.contains(" yes ")),
            "every font embedded:\n{fonts}"
        );

        let text = Command::new("pdftotext")
            .args(["-layout"])
            .arg(&file)
            .arg("-")
            .output()
            .expect("pdftotext");
        let text = String::from_utf8_lossy(&text.stdout);
        for w in words {
            assert!(text.contains(w), "{w:?} not in the PDF's text:\n{text}");
        }
        assert!(
            text.contains("Dr. Leyla Öztürk"),
            "names with umlauts survive"
        );
        // The 64-digit hashes are split across lines only between digits:
        // put together, each one is there whole.
        let joined: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(joined.contains(&"e5".repeat(32)));
    }
}

#[test]
fn the_pdf_renders_to_an_image() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let write_docs = std::env::var_os("OBHUT_WRITE_SCREENSHOTS").is_some();
    for lang in [Lang::En, Lang::De] {
        let file = dir.path().join("report.pdf");
        std::fs::write(&file, pdf(&sample(lang)).expect("a PDF")).expect("writing the PDF");
        let prefix = dir.path().join(format!("page-{}", lang.tag()));
        let status = Command::new("pdftoppm")
            .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
            .arg(&file)
            .arg(&prefix)
            .status()
            .expect("pdftoppm (Debian poppler-utils)");
        assert!(status.success());
        let png = prefix.with_extension("png");
        let bytes = std::fs::read(&png).expect("the rendered page");
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
        if write_docs {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report");
            std::fs::create_dir_all(&docs).expect("docs/report");
            std::fs::copy(&png, docs.join(format!("report-{}.png", lang.tag())))
                .expect("copying the screenshot");
        }
    }
}
