//! The backup test of issue 18 with the epoch wrapping keys on a PKCS#11
//! token: SoftHSM2 (Debian's `softhsm2`, installed by scripts/test), a
//! token of its own made here in a temporary directory. The key objects
//! are generated on the token, sensitive and non-extractable; destroying
//! an epoch destroys its object, and the keystore's backup opens nothing.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when it is loaded, and the vault the
//! token's PIN from `OBHUT_PKCS11_PIN`: the test runs its body in a child
//! process of this test binary with both set (no `set_var` in a process
//! whose other threads may read the environment).

use crate::hold_support;
use crate::retention_support;

use obhut_server::config::FileConfig;
use retention_support::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "obhut-test";
const PIN: &str = "5678";

#[test]
fn a_backup_opens_nothing_with_the_keys_on_softhsm2() {
    in_child("hsm_backup_child");
}

/// The legal-hold backup test (tests/hold.rs) with the epoch and hold
/// keys on the token: the hold's key is a token object too, and releasing
/// the hold destroys it.
#[test]
fn a_held_recording_outlives_its_epoch_with_the_keys_on_softhsm2() {
    in_child("hsm_hold_child");
}

/// Run test `child` of this binary in a child process with a fresh
/// SoftHSM2 token configured.
fn in_child(child: &str) {
    let hsm = tempfile::tempdir().unwrap();
    let tokens = hsm.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = hsm.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "1234",
            "--pin",
            PIN,
        ])
        .output()
        .expect("softhsm2-util (Debian package softhsm2; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("SOFTHSM2_CONF", &conf)
        .env("OBHUT_PKCS11_PIN", PIN)
        .args([
            crate::test_name(module_path!(), child).as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && log.contains("1 passed"),
        "{log}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    // The token's objects: the wrapping keys lived there (the token
    // directory holds files besides the token's metadata), not in a file
    // holder.
    assert!(std::fs::read_dir(&tokens).unwrap().count() > 0);
}

/// Run by the test above in a child process with the token configured.
#[test]
#[ignore = "run by a_backup_opens_nothing_with_the_keys_on_softhsm2 with SOFTHSM2_CONF set"]
fn hsm_backup_child() {
    assert!(std::env::var_os("SOFTHSM2_CONF").is_some());
    let w = world_with(|_| FileConfig {
        pkcs11_module: Some(MODULE.into()),
        pkcs11_token: Some(TOKEN.into()),
        ..FileConfig::default()
    });
    // The wrapping keys are on the token, not in a file holder.
    assert!(!holder_dir(w.dir.path()).exists());
    backup_opens_nothing(&w);
}

fn on_token() -> World {
    assert!(std::env::var_os("SOFTHSM2_CONF").is_some());
    let w = world_with(|_| FileConfig {
        pkcs11_module: Some(MODULE.into()),
        pkcs11_token: Some(TOKEN.into()),
        ..FileConfig::default()
    });
    assert!(!holder_dir(w.dir.path()).exists());
    w
}

/// Run by the hold test above in a child process with the token configured.
#[test]
#[ignore = "run by a_held_recording_outlives_its_epoch_with_the_keys_on_softhsm2 with SOFTHSM2_CONF set"]
fn hsm_hold_child() {
    hold_support::held_backup(on_token());
}
