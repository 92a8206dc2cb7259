//! Progress bars for sealing, ingesting and opening big files: shown only when stderr
//! is a terminal and `--quiet` is not given.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::Global;

/// A byte-count progress bar, or a hidden one.
pub fn bytes(g: &Global, total: u64, what: &str) -> ProgressBar {
    if g.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg:8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// One bar through the phases of `obhut migrate` and `obhut backup`
/// (blobs in bytes, rows as a count), or a hidden one.
pub struct Phases {
    bar: ProgressBar,
}

impl Phases {
    /// A bar shown as [`bytes`] decides.
    pub fn new(g: &Global) -> Self {
        let bar = if g.quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        Phases { bar }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl obhut_store::migrate::Progress for Phases {
    fn phase(&self, what: &'static str, total: u64, done: u64, bytes: bool) {
        let template = if bytes {
            "{msg:8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:8} [{bar:40}] {pos}/{len} rows {per_sec} eta {eta}"
        };
        let style = ProgressStyle::with_template(template)
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        self.bar.set_style(style);
        self.bar.set_message(what);
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.reset_eta();
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}
