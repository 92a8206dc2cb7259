//! Errors with a next step. The core returns typed errors that say what is
//! wrong; the CLI adds which flag or file to change (STYLE.md, "Errors").
//!
//! A [`Hinted`] error sits in an `anyhow` chain like any other; [`report`]
//! prints the whole chain on one line and every hint found in it below.

use std::fmt;

/// An error with the next step a person can take.
#[derive(Debug)]
pub struct Hinted {
    inner: anyhow::Error,
    next: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The outermost message only; causes follow through `source`.
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// A new error: what is wrong, and what to do about it.
pub fn fail(message: impl fmt::Display, next: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: anyhow::anyhow!("{message}"),
        next: next.to_string(),
    })
}

/// Wrap an error with what was being done and the next step.
pub fn with_hint(
    e: impl Into<anyhow::Error>,
    message: impl fmt::Display,
    next: impl fmt::Display,
) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: e.into().context(message.to_string()),
        next: next.to_string(),
    })
}

/// Attach only a next step to an error; its message stays its own.
pub fn with_next_step(e: impl Into<anyhow::Error>, next: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: e.into(),
        next: next.to_string(),
    })
}

/// Attach a next step (and optionally a message) to any error.
pub trait HintExt<T> {
    /// Add what was being done and what to do next.
    fn hint(self, message: impl fmt::Display, next: impl fmt::Display) -> anyhow::Result<T>;
    /// Add only a next step; the message stays the error's own.
    fn next_step(self, next: impl fmt::Display) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, message: impl fmt::Display, next: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| with_hint(e, message, next))
    }
    fn next_step(self, next: impl fmt::Display) -> anyhow::Result<T> {
        self.map_err(|e| with_next_step(e, next))
    }
}

/// The hints in an error chain, outermost first, without repeats.
pub fn hints(e: &anyhow::Error) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for cause in e.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>()
            && !out.contains(&h.next.as_str())
        {
            out.push(&h.next);
        }
    }
    out
}

/// Print an error for a person: `error: what: why: cause`, then each hint.
pub fn report(e: &anyhow::Error, verbose: bool) {
    eprintln!("error: {e:#}");
    for h in hints(e) {
        eprintln!("hint: {h}");
    }
    if verbose {
        for (depth, cause) in e.chain().enumerate() {
            eprintln!("  cause {depth}: {cause}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_survive_context_and_chain_prints_once() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk on fire"));
        let e = r
            .hint("reading group.obgd", "check --group")
            .map_err(|e| e.context("sealing"))
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "sealing: reading group.obgd: disk on fire"
        );
        assert_eq!(hints(&e), vec!["check --group"]);
        let e = fail("no partials", "pass --partial");
        assert_eq!(format!("{e:#}"), "no partials");
        assert_eq!(hints(&e), vec!["pass --partial"]);
    }
}
