//! The Debian package's systemd units and default settings
//! (crates/obhut/debian/, docs/operations.md §The systemd units): the
//! units pass `systemd-analyze verify` with no warning, keep their
//! sandbox, and start the binary with flags it takes; the default
//! settings and the example variables of the environment files are
//! settings the vault reads. The package itself is built and its contents
//! checked by `scripts/package` (cargo-deb is slow to install for CI).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_obhut");
const UNITS: [&str; 2] = ["obhut-vault.service", "obhut-agent@.service"];

fn debian() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("debian")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(debian().join(name)).unwrap()
}

/// Every `Key=Value` of a unit's `[Service]` section, in order (a key
/// may repeat, as `SystemCallFilter=` does).
fn service(unit: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[Service]";
        } else if inside
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

fn values<'a>(svc: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    svc.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Run the obhut binary with no `OBHUT_*` variable of the caller's.
fn obhut(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("OBHUT_") {
            c.env_remove(k);
        }
    }
    c.args(args).envs(env.iter().copied()).output().unwrap()
}

/// `systemd-analyze verify` finds nothing to say about either unit (its
/// warnings, an unknown key or a bad value, count as failures), with the
/// binary at the path the units name replaced by this build's: the
/// check runs the ExecStart= binary, which is not installed here. The
/// agent's template is verified as an instance, with its specifiers.
#[test]
fn the_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    for name in UNITS {
        let unit = read(name).replace("/usr/bin/obhut", BIN);
        std::fs::write(dir.path().join(name), unit).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args([
            "verify",
            "./obhut-vault.service",
            "./obhut-agent@cam1.service",
        ])
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.trim(), "", "systemd-analyze had warnings");

    // The check has teeth: a misspelt setting is reported.
    let broken =
        read("obhut-vault.service").replace("ProtectSystem=strict", "ProtectSystem=strickt");
    std::fs::write(
        dir.path().join("obhut-vault.service"),
        broken.replace("/usr/bin/obhut", BIN),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args(["verify", "./obhut-vault.service"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("strickt"),
        "{out:?}"
    );
}

/// Both units run as the `obhut` user, without privileges, capabilities
/// or a writable system, with only the state (and dock) directories
/// writable and only IP and Unix sockets.
#[test]
fn the_units_keep_their_sandbox() {
    for name in UNITS {
        let svc = service(&read(name));
        let one = |key: &str| {
            let v = values(&svc, key);
            assert_eq!(v.len(), 1, "{name}: {key}= {v:?}");
            v[0].to_owned()
        };
        let want: BTreeMap<&str, &str> = [
            ("User", "obhut"),
            ("Group", "obhut"),
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("ProtectKernelTunables", "yes"),
            ("ProtectKernelModules", "yes"),
            ("ProtectControlGroups", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            ("CapabilityBoundingSet", ""),
            ("AmbientCapabilities", ""),
            ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
            ("SystemCallArchitectures", "native"),
            ("UMask", "0077"),
            ("StateDirectoryMode", "0700"),
        ]
        .into();
        for (key, value) in want {
            assert_eq!(one(key), value, "{name}: {key}=");
        }
        assert_eq!(
            values(&svc, "SystemCallFilter"),
            ["@system-service", "~@privileged"],
            "{name}"
        );
        let writable = one("ReadWritePaths");
        assert!(
            writable
                .split(' ')
                .all(|p| p.starts_with("/var/lib/obhut") || p.starts_with("/srv/obhut/dock/")),
            "{name}: ReadWritePaths={writable}"
        );
        assert!(
            values(&svc, "EnvironmentFile")
                .iter()
                .all(|f| f.starts_with("-/etc/obhut/")),
            "{name}"
        );
    }
}

/// The command line of a unit's `ExecStart=`, with `%i` and `%d` (the
/// credentials directory) filled in.
fn exec_start(name: &str, instance: &str, credentials: &Path) -> Vec<String> {
    let svc = service(&read(name));
    let line = values(&svc, "ExecStart")[0]
        .replace("%i", instance)
        .replace("%d", &credentials.display().to_string());
    let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words.remove(0), "/usr/bin/obhut", "{name}");
    words
}

/// The vault's ExecStart= with the packaged /etc/obhut/obhut.toml is a
/// command the binary takes, and the settings it reads are the units'
/// state directories and listeners.
#[test]
fn the_vault_unit_starts_the_vault_on_the_default_settings() {
    let conf = debian().join("obhut.toml");
    let mut args = exec_start("obhut-vault.service", "", Path::new("/nonexistent"));
    assert_eq!(args, ["serve", "--config", "/etc/obhut/obhut.toml"]);
    args[2] = conf.display().to_string();
    args.push("--print-config".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = obhut(&args, &[]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "data = \"/var/lib/obhut/data\"",
        "keys = \"/var/lib/obhut/keys\"",
        "listen = \"127.0.0.1:8700\"",
        "ops_listen = \"127.0.0.1:8701\"",
    ] {
        assert!(printed.lines().any(|l| l == line), "{line} in\n{printed}");
    }
}

/// The agent's ExecStart= is a command the binary takes: run with a
/// state directory not yet enrolled it stops on that, not on its flags.
#[test]
fn the_agent_unit_starts_the_agent_with_flags_it_takes() {
    let d = tempfile::tempdir().unwrap();
    let args = exec_start("obhut-agent@.service", "cam1", d.path());
    let joined = args.join(" ");
    assert!(
        joined.starts_with("agent --state /var/lib/obhut/agent/cam1 --watch /srv/obhut/dock/cam1"),
        "{joined}"
    );
    // The unit's paths, moved into a temporary directory.
    let state = d.path().join("state");
    let dock = d.path().join("dock");
    std::fs::create_dir_all(&dock).unwrap();
    std::fs::write(d.path().join("passphrase"), "x\n").unwrap();
    let args: Vec<String> = args
        .iter()
        .map(|a| match a.as_str() {
            "/var/lib/obhut/agent/cam1" => state.display().to_string(),
            "/srv/obhut/dock/cam1" => dock.display().to_string(),
            _ => a.clone(),
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = obhut(&args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("Usage:"), "{stderr}");
    assert!(stderr.contains("enrol"), "{stderr}");
}

/// The `OBHUT_*` examples of an environment file, uncommented (an empty
/// value, a secret left for the operator, given as "1234").
fn examples(file: &str) -> Vec<(String, String)> {
    read(file)
        .lines()
        .filter_map(|l| l.trim_start_matches('#').split_once('='))
        .filter(|(k, _)| k.starts_with("OBHUT_") && !k.contains(' '))
        .map(|(k, v)| {
            (
                k.to_owned(),
                if v.is_empty() { "1234" } else { v }.to_owned(),
            )
        })
        .collect()
}

/// Every example variable in vault.env is a setting the vault reads, and
/// every one in agent.env one the agent reads: each changes what the
/// binary does (an `OBHUT_*` it does not know would be ignored silently).
#[test]
fn the_environment_files_name_real_settings() {
    let conf = debian().join("obhut.toml").display().to_string();
    let vault = |env: &[(&str, &str)]| {
        let out = obhut(&["serve", "--config", &conf, "--print-config"], env);
        assert!(out.status.success(), "{env:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let vault_examples = examples("vault.env");
    assert!(vault_examples.len() >= 3, "{vault_examples:?}");
    for (k, v) in &vault_examples {
        assert_ne!(
            vault(&[(k, v)]),
            vault(&[]),
            "vault.env: {k} changes nothing"
        );
    }
    // The agent, not enrolled, stops on the first setting it reads; a
    // file the variable names (missing here) is read before that.
    let d = tempfile::tempdir().unwrap();
    let agent = |env: &[(&str, &str)]| {
        let out = obhut(
            &[
                "agent",
                "--watch",
                &d.path().display().to_string(),
                "--state",
                &d.path().join("s").display().to_string(),
            ],
            env,
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let agent_examples = examples("agent.env");
    assert!(!agent_examples.is_empty());
    for (k, v) in &agent_examples {
        assert_ne!(
            agent(&[(k, v)]),
            agent(&[]),
            "agent.env: {k} changes nothing"
        );
    }
}
