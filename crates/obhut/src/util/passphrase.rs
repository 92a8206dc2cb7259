//! Passphrases for locked key files: from `--passphrase-file FILE`, else the
//! environment variable `OBHUT_PASSPHRASE` (with a warning on stderr), else a
//! prompt on the terminal without echo. Never printed, never logged;
//! zeroized on drop. A new key file's passphrase must pass an entropy
//! estimate ([`check_strength`]).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Once;

use zeroize::Zeroizing;

use super::Global;
use super::hint::{HintExt, fail};

/// Name of the environment variable holding a passphrase.
pub const ENV: &str = "OBHUT_PASSPHRASE";

/// Where a passphrase came from, for error messages (never its value).
#[derive(Debug, Clone)]
pub enum Source {
    /// `--passphrase-file`.
    File(std::path::PathBuf),
    /// `OBHUT_PASSPHRASE`.
    Env,
    /// Typed at the terminal.
    Prompt,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "--passphrase-file {}", p.display()),
            Source::Env => write!(f, "the environment variable {ENV}"),
            Source::Prompt => f.write_str("the terminal prompt"),
        }
    }
}

/// A passphrase; the bytes are zeroized on drop and never displayed.
pub struct Passphrase {
    bytes: Zeroizing<Vec<u8>>,
    /// Where it came from.
    pub source: Source,
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passphrase(<redacted>, from {})", self.source)
    }
}

impl Passphrase {
    /// The bytes, for the KDF only.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }
}

/// The first line of a passphrase file, without its line ending
/// (editors and `echo` add one).
fn first_line(raw: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut first = Zeroizing::new(
        raw.split(|b| *b == b'\n')
            .next()
            .unwrap_or_default()
            .to_vec(),
    );
    if first.last() == Some(&b'\r') {
        first.pop();
    }
    first
}

fn from_file(path: &Path) -> anyhow::Result<Passphrase> {
    let raw = std::fs::read(path).hint(
        format!("cannot read the passphrase file {}", path.display()),
        "check the path given to --passphrase-file",
    )?;
    let raw = Zeroizing::new(raw);
    // Only the first line counts, so a file may end in a newline.
    Ok(Passphrase {
        bytes: first_line(&raw),
        source: Source::File(path.to_owned()),
    })
}

/// The warning printed when a passphrase is read from the environment.
pub const ENV_WARNING: &str = "warning: reading the passphrase from the environment variable \
OBHUT_PASSPHRASE: other processes of the same user can read it (/proc/PID/environ), \
and it ends up in shell history and CI logs; prefer --passphrase-file FILE (mode 0600) \
or the terminal prompt";

/// Once per process: a command that unlocks several keys warns once.
static ENV_WARNED: Once = Once::new();

fn from_env() -> Option<Passphrase> {
    use std::os::unix::ffi::OsStringExt;
    let v = std::env::var_os(ENV)?;
    // Always on stderr, even with --quiet: a person scripting with the
    // variable should learn once what it exposes. Tests see it too (they
    // tolerate it; tests/cli.rs checks it is there).
    ENV_WARNED.call_once(|| eprintln!("{ENV_WARNING}"));
    Some(Passphrase {
        bytes: Zeroizing::new(v.into_vec()),
        source: Source::Env,
    })
}

fn prompt(text: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
        return Err(fail(
            "no passphrase: not running on a terminal, so cannot prompt",
            format!("pass --passphrase-file FILE or set {ENV}"),
        ));
    }
    let s = rpassword::prompt_password(text).hint(
        "cannot read a passphrase from the terminal",
        format!("pass --passphrase-file FILE or set {ENV}"),
    )?;
    Ok(Zeroizing::new(s.into_bytes()))
}

/// The passphrase to unlock the key file at `key_path`.
pub fn for_unlock(g: &Global, key_path: &Path, what: &str) -> anyhow::Result<Passphrase> {
    if let Some(p) = &g.passphrase_file {
        return from_file(p);
    }
    if let Some(p) = from_env() {
        return Ok(p);
    }
    let bytes = prompt(&format!("Passphrase for {what} {}: ", key_path.display()))?;
    Ok(Passphrase {
        bytes,
        source: Source::Prompt,
    })
}

/// A new passphrase for a key file being created. At the prompt it is
/// asked twice. An empty or weak ([`check_strength`]) passphrase is refused
/// from every source; `context` holds the key's name and the like, which a
/// guesser tries first.
pub fn for_new_key(g: &Global, key_path: &Path, context: &[&str]) -> anyhow::Result<Passphrase> {
    let p = if let Some(p) = &g.passphrase_file {
        from_file(p)?
    } else if let Some(p) = from_env() {
        p
    } else {
        let first = prompt(&format!("New passphrase for {}: ", key_path.display()))?;
        let again = prompt("Repeat the passphrase: ")?;
        if *first != *again {
            return Err(fail(
                "the two passphrases differ",
                "run the command again and type the same passphrase twice",
            ));
        }
        Passphrase {
            bytes: first,
            source: Source::Prompt,
        }
    };
    if p.bytes.is_empty() {
        return Err(fail(
            format!("the passphrase from {} is empty", p.source),
            "choose a non-empty passphrase; it protects the key file at rest",
        ));
    }
    let file_name = key_path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut words = vec![file_name.as_str()];
    words.extend_from_slice(context);
    check_strength(p.expose(), &p.source.to_string(), &words)?;
    Ok(p)
}

/// Refuse a passphrase for a new key file that is too weak
/// ([`obhut_client::passphrase::check_strength`]), with zxcvbn's advice as
/// the next step. `from` says where it came from (never its value);
/// `context` holds words a guesser would try first (names, file names).
pub fn check_strength(pass: &[u8], from: &str, context: &[&str]) -> anyhow::Result<()> {
    obhut_client::passphrase::check_strength(pass, context).map_err(|weak| {
        fail(
            format!(
                "the passphrase from {from} is too weak to lock a key file: about 10^{} \
                 guesses would find it (zxcvbn estimate), and at least 10^{} are required",
                weak.guesses_log10,
                obhut_client::passphrase::MIN_GUESSES_LOG10
            ),
            format!(
                "{}Choose a longer passphrase, e.g. five or more random words from a \
                 word list (diceware) or 16+ random characters from a password manager; a \
                 stolen key file can be attacked offline for years",
                weak.advice
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_line_counts() {
        assert_eq!(&*first_line(b"abc\n"), b"abc");
        assert_eq!(&*first_line(b"abc\r\n"), b"abc");
        assert_eq!(&*first_line(b"abc"), b"abc");
        assert_eq!(&*first_line(b"abc \nsecond line"), b"abc ");
        assert_eq!(&*first_line(b""), b"");
    }

    #[test]
    fn debug_does_not_show_the_passphrase() {
        let p = Passphrase {
            bytes: Zeroizing::new(b"hunter2".to_vec()),
            source: Source::Env,
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
