//! Helpers of the request commands (request, pending, approve, open, the
//! demo): a request shown in full for people, its expiry, the approval
//! prompt, and `--range`.

use std::io::{BufRead, IsTerminal, Write};

use super::hint::{HintExt, fail};
use super::time;

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

pub use obhut_client::show::describe_request as describe;

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
