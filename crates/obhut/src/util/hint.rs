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

impl Hinted {
    /// The next step.
    pub fn next(&self) -> &str {
        &self.next
    }
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
    anyhow::Error::new(hinted(message, next))
}

/// [`fail`]'s error as a value, for a library that takes a caller's error
/// (`obhut_client::Error::Caller`).
pub fn hinted(message: impl fmt::Display, next: impl fmt::Display) -> Hinted {
    Hinted {
        inner: anyhow::anyhow!("{message}"),
        next: next.to_string(),
    }
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

/// The hints in an error chain, outermost first, without repeats: a
/// [`Hinted`]'s, or the next step after an `obhut_client::Error`.
pub fn hints(e: &anyhow::Error) -> Vec<std::borrow::Cow<'_, str>> {
    let mut out: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    for cause in e.chain() {
        let next = match cause.downcast_ref::<Hinted>() {
            Some(h) => Some(std::borrow::Cow::Borrowed(h.next.as_str())),
            None => cause
                .downcast_ref::<obhut_client::Error>()
                .and_then(super::clienthint::next_step),
        };
        if let Some(n) = next
            && !out.contains(&n)
        {
            out.push(n);
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
