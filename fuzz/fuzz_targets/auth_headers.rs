//! The vault's signed-request headers (`obhut_server::auth::verify`,
//! docs/vault.md §2) with hostile values, above all extreme `Obhut-Time`
//! values (issue 16: a time near −2⁶³ overflowed the window check and
//! replayed forever). Arbitrary headers and clock readings must not
//! panic; a request that verifies has a time within ±300 s of the clock.
//!
//! Input: byte 0 flags (bit 0: sign the request properly with the fixed
//! key over the time header's value, so the fuzzer reaches past the
//! signature; bit 1: a person rather than a device), bytes 1–8 the vault's
//! clock (i64 BE), then the `Obhut-Time` header bytes up to a 0x00 and the
//! `Obhut-Nonce` header bytes after it.
#![no_main]

use std::sync::OnceLock;

use http::Request;
use libfuzzer_sys::fuzz_target;
use obhut_core::identity::SignKey;
use obhut_core::labels;
use obhut_core::vault::{body_sha256, request_message};
use obhut_fuzz::DetRng;
use obhut_server::auth::{Signer, WINDOW_MS, verify};

fn key() -> &'static SignKey {
    static KEY: OnceLock<SignKey> = OnceLock::new();
    KEY.get_or_init(|| SignKey::generate(&mut DetRng::new("auth_headers key")))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let flags = data[0];
    let now = i64::from_be_bytes(data[1..9].try_into().expect("8 bytes"));
    let rest = &data[9..];
    let (time, nonce) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let person = flags & 2 != 0;
    let (signer, key_header, label) = if person {
        (Signer::Person, "obhut-person", labels::PERSON_REQUEST_SIG)
    } else {
        (Signer::Device, "obhut-device", labels::DEVICE_REQUEST_SIG)
    };
    let digest = body_sha256(&[]);
    // The vault the request is signed for (docs/vault.md §2).
    let vault = [7u8; 32];
    let nonce_s = String::from_utf8_lossy(nonce).into_owned();
    let sig = match std::str::from_utf8(time)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
    {
        Some(t) if flags & 1 != 0 => key().sign(
            label,
            &request_message(&vault, "GET", "/v1/x", t, &nonce_s, &digest),
        ),
        _ => [0u8; 64],
    };
    let Ok(req) = Request::get("/v1/x")
        .header(key_header, hex::encode(key().verify_key().to_bytes()))
        .header("obhut-time", time)
        .header("obhut-nonce", nonce)
        .header("obhut-signature", hex::encode(sig))
        .body(())
    else {
        return; // not a valid header value at all: hyper never hands it on
    };
    let (parts, ()) = req.into_parts();
    if verify(&parts, signer, &vault, &digest, now).is_ok() {
        let t: i64 = std::str::from_utf8(time)
            .expect("verified, so ASCII")
            .parse()
            .expect("verified, so decimal");
        assert!(
            t.abs_diff(now) <= WINDOW_MS.unsigned_abs(),
            "accepted {t} at {now}"
        );
    }
});
