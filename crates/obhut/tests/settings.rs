//! The vault's layered settings (issue 20, operations): every key of
//! `obhut.toml` also has an `OBHUT_*` variable and a flag; a flag beats
//! its variable, a variable beats the file; `obhut serve --print-config`
//! prints what the vault would run with, secrets redacted, as TOML that
//! reads back as the same settings.

use crate::support;

use std::fs;
use std::path::Path;
use std::process::Output;

use support::*;

/// The variables these tests set, removed first so the caller's
/// environment does not leak in.
const VARS: &[&str] = &[
    "OBHUT_DATA",
    "OBHUT_KEYS",
    "OBHUT_LISTEN",
    "OBHUT_MAX_GRANT_DAYS",
    "OBHUT_NET_ANON_BURST",
    "OBHUT_ACCESS_PURPOSES",
    "OBHUT_EPOCH_PERIOD_SECS",
    "OBHUT_WITNESSES",
    "OBHUT_PKCS11_PIN",
    "OBHUT_CA_CERT",
];

fn print_config(d: &Path, env: &[(&str, &str)], flags: &[&str]) -> Output {
    let mut c = cmd(d, &["serve", "--print-config"]);
    c.args(flags);
    for v in VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run obhut serve --print-config")
}

#[track_caller]
fn printed(d: &Path, env: &[(&str, &str)], flags: &[&str]) -> String {
    let out = print_config(d, env, flags);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn env_beats_the_file_flags_beat_env_and_print_config_redacts_secrets() {
    let dir = tempfile::Builder::new()
        .prefix("obhut-settings-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let d = dir.path();
    let out = ok(
        d,
        &["witness", "init", "--dir", "w", "--name", "dpo.example/w"],
    );
    let vkey = out
        .lines()
        .find(|l| l.starts_with("dpo.example/w+"))
        .unwrap_or_else(|| panic!("no vkey in {out}"))
        .trim()
        .to_owned();
    fs::write(
        d.join("obhut.toml"),
        format!(
            "listen = \"127.0.0.1:8800\"\nmax_grant_days = 7\n\n[net]\nanon_burst = 50\n\n\
             [[witness]]\nurl = \"https://dpo:hunter2@witness.example:8701\"\nvkey = \"{vkey}\"\n"
        ),
    )
    .unwrap();

    // The file alone (over the defaults).
    let file = printed(d, &[], &[]);
    assert!(file.contains("listen = \"127.0.0.1:8800\""), "{file}");
    assert!(file.contains("max_grant_days = 7"), "{file}");
    assert!(file.contains("anon_burst = 50"), "{file}");
    assert!(
        file.contains("header_timeout_secs = 10"),
        "defaults written out: {file}"
    );

    // A variable beats the file.
    let env = [
        ("OBHUT_LISTEN", "127.0.0.1:8801"),
        ("OBHUT_MAX_GRANT_DAYS", "9"),
        ("OBHUT_NET_ANON_BURST", "60"),
        ("OBHUT_ACCESS_PURPOSES", "court order; incident review"),
        ("OBHUT_EPOCH_PERIOD_SECS", "cctv=3600"),
    ];
    let by_env = printed(d, &env, &[]);
    for want in [
        "listen = \"127.0.0.1:8801\"",
        "max_grant_days = 9",
        "anon_burst = 60",
        "access_purposes = [\"court order\", \"incident review\"]",
        "cctv = 3600",
    ] {
        assert!(by_env.contains(want), "{want} in:\n{by_env}");
    }

    // A flag beats the variable.
    let by_flag = printed(
        d,
        &env,
        &[
            "--listen",
            "127.0.0.1:8802",
            "--max-grant-days",
            "11",
            "--net-anon-burst",
            "70",
            "--access-purpose",
            "prosecution",
            "--epoch-period",
            "cctv=7200",
        ],
    );
    for want in [
        "listen = \"127.0.0.1:8802\"",
        "max_grant_days = 11",
        "anon_burst = 70",
        "access_purposes = [\"prosecution\"]",
        "cctv = 7200",
    ] {
        assert!(by_flag.contains(want), "{want} in:\n{by_flag}");
    }

    // Secrets: the witness URL's password and the PKCS#11 PIN never
    // appear; that they are set does.
    let secret = printed(d, &[("OBHUT_PKCS11_PIN", "4321-pin")], &[]);
    assert!(!secret.contains("hunter2"), "{secret}");
    assert!(!secret.contains("4321-pin"), "{secret}");
    assert!(
        secret.contains("https://dpo:<redacted>@witness.example:8701"),
        "{secret}"
    );
    assert!(secret.contains("OBHUT_PKCS11_PIN = <redacted>"), "{secret}");

    // What is printed reads back as the same settings (the redacted
    // password aside).
    fs::write(d.join("printed.toml"), &by_flag).unwrap();
    let again = printed(d, &[], &["--config", "printed.toml"]);
    assert_eq!(again, by_flag);

    // A bad value names its layer's setting.
    let bad = print_config(d, &[("OBHUT_MAX_GRANT_DAYS", "many")], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("OBHUT_MAX_GRANT_DAYS"),
        "{}",
        text(&bad.stderr)
    );
}
