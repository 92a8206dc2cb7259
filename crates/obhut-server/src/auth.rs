//! Signed requests (docs/vault.md §2): `Obhut-Device` (or `Obhut-Person`),
//! `Obhut-Time`, `Obhut-Nonce`, `Obhut-Signature` over
//! [`obhut_core::vault::request_message`]. Checks in order: headers parse,
//! time within ±300 s, signature, key known (caller), nonce unused
//! (in memory for reads, durably for writes: `replay.rs`).

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use obhut_api::ErrorKind;
use obhut_core::identity::VerifyKey;
use obhut_core::labels;
use obhut_core::vault::request_message;
use obhut_store::{BlobStore, IndexStore, KeyBytes};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::replay::Taken;

pub use crate::replay::WINDOW_MS;

/// Who signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// A device: `Obhut-Device`, context `obhut/v1/device-request`.
    Device,
    /// A person: `Obhut-Person`, context `obhut/v1/person-request`.
    Person,
}

/// A request whose signature and time verified (nonce not yet used).
#[derive(Debug)]
pub struct Signed {
    /// The signing key.
    pub key: KeyBytes,
    nonce: [u8; 16],
    time_ms: i64,
    /// A read (GET, HEAD): its nonce is kept in memory, not on disk.
    read: bool,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    h.get(name)
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::BadSignature,
                format!("missing header {name} (docs/vault.md §2)"),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::new(ErrorKind::BadSignature, format!("{name} is not ASCII")))
}

fn hex_array<const N: usize>(s: &str, name: &str) -> ApiResult<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| {
        ApiError::new(
            ErrorKind::BadSignature,
            format!("{name} is not {} hex digits", 2 * N),
        )
    })?;
    Ok(out)
}

/// Refuse an `Obhut-Time` more than [`WINDOW_MS`] from `now_ms`.
///
/// Both values may be anything an i64 holds (the header is the client's):
/// the distance is taken with `abs_diff`, which cannot overflow. The
/// former `(time − now).abs()` saturated at −2⁶³ and then overflowed in
/// `abs`, so a time near −2⁶³ passed the window and its nonce expired at
/// once: one signed request replayed forever (issue 16).
pub fn check_time(time_ms: i64, now_ms: i64) -> ApiResult<()> {
    let distance = time_ms.abs_diff(now_ms);
    if distance > WINDOW_MS.unsigned_abs() {
        let dir = if time_ms < now_ms {
            "behind"
        } else {
            "ahead of"
        };
        return Err(ApiError::new(
            ErrorKind::StaleTime,
            format!(
                "Obhut-Time is {} s {dir} the vault's clock (allowed: ±300 s); check the device's clock",
                distance / 1000
            ),
        ));
    }
    Ok(())
}

/// Verify headers, time and signature of a request with `body_digest`,
/// signed for the vault `vault` ([`App::identity`]; zeros for an
/// enrolment, [`obhut_core::vault::ENROL_VAULT`]).
pub fn verify(
    parts: &Parts,
    signer: Signer,
    vault: &[u8; 32],
    body_digest: &[u8; 32],
    now_ms: i64,
) -> ApiResult<Signed> {
    let h = &parts.headers;
    let (key_header, label) = match signer {
        Signer::Device => ("obhut-device", labels::DEVICE_REQUEST_SIG),
        Signer::Person => ("obhut-person", labels::PERSON_REQUEST_SIG),
    };
    let key_hex = header(h, key_header)?;
    let time_s = header(h, "obhut-time")?;
    let nonce_s = header(h, "obhut-nonce")?;
    let sig_s = header(h, "obhut-signature")?;
    let key = hex_array::<32>(key_hex, key_header)?;
    let nonce = hex_array::<16>(nonce_s, "obhut-nonce")?;
    let sig = hex_array::<64>(sig_s, "obhut-signature")?;
    let time_ms: i64 = time_s.parse().map_err(|_| {
        ApiError::new(
            ErrorKind::BadSignature,
            "Obhut-Time is not a decimal UTC millisecond count",
        )
    })?;
    check_time(time_ms, now_ms)?;
    let vk = VerifyKey::from_bytes(&key, "request", key_header).map_err(|_| {
        ApiError::new(
            ErrorKind::BadSignature,
            format!("{key_header} is not a valid Ed25519 key"),
        )
    })?;
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let msg = request_message(
        vault,
        parts.method.as_str(),
        path,
        time_ms,
        nonce_s,
        body_digest,
    );
    vk.verify(label, &msg, &sig, "request").map_err(|_| {
        ApiError::new(
            ErrorKind::BadSignature,
            "the request signature does not verify (signed for another vault, or altered); \
             a device signs for the vault key it pinned at enrolment, a person for the --log-key given",
        )
    })?;
    Ok(Signed {
        key,
        nonce,
        time_ms,
        read: matches!(parts.method, Method::GET | Method::HEAD),
    })
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// The identity `signer`s bind their requests to (docs/vault.md §2):
    /// the key each kind of client already pins, the receipt key for
    /// devices and the audit-log key for people.
    pub fn identity(&self, signer: Signer) -> [u8; 32] {
        match signer {
            Signer::Device => self.keystore.vault_key().verify_key().to_bytes(),
            Signer::Person => self.keystore.log_key().verify_key().to_bytes(),
        }
    }

    /// [`verify`] a request from `signer` with `body_digest`, signed for
    /// this vault, at the vault's clock (nonce not yet used).
    pub fn verify_signed(
        &self,
        parts: &Parts,
        signer: Signer,
        body_digest: &[u8; 32],
    ) -> ApiResult<Signed> {
        verify(
            parts,
            signer,
            &self.identity(signer),
            body_digest,
            self.clock.now_ms(),
        )
    }

    /// Use the request's nonce once (kept until the window has passed): a
    /// read's in memory, unless it must be durable, a write's durably
    /// (the design and its argument: `replay.rs`).
    pub async fn use_nonce(&self, s: &Signed) -> ApiResult<()> {
        let now = self.clock.now_ms();
        if s.read && s.time_ms < self.replay.floor() {
            return Err(ApiError::new(
                ErrorKind::StaleTime,
                "this read was signed before the vault (re)started; sign it again with the current time",
            ));
        }
        let replayed = || {
            ApiError::new(
                ErrorKind::ReplayedNonce,
                "this request's nonce was already used; send a fresh nonce",
            )
        };
        let taken = self.replay.take(s.key, s.nonce, s.time_ms, now);
        if taken == Taken::Replayed {
            return Err(replayed());
        }
        // With other servers on the store their memory is not this one's,
        // and a read replayed to one of them would pass: every read is
        // recorded durably there, as writes are (docs/vault.md §6.3).
        let durable =
            !s.read || s.time_ms > now || taken == Taken::Full || self.sequencing.is_shared();
        let fresh = if durable {
            self.index
                .use_nonce(s.key, s.nonce, s.time_ms.saturating_add(WINDOW_MS), now)
                .await
        } else {
            // A read signed ahead of the clock by an earlier process may
            // have been recorded durably only.
            self.index
                .nonce_seen(s.key, s.nonce)
                .await
                .map(|seen| !seen)
        };
        match fresh {
            Ok(true) => Ok(()),
            Ok(false) => Err(replayed()),
            Err(e) => {
                if taken == Taken::Fresh {
                    self.replay.give_back(s.key, s.nonce);
                }
                Err(e.into())
            }
        }
    }

    /// A device request: signature, enrolled and not revoked, nonce.
    pub async fn authenticate_device(
        &self,
        parts: &Parts,
        body_digest: &[u8; 32],
    ) -> ApiResult<obhut_store::DeviceRow> {
        let s = self.verify_signed(parts, Signer::Device, body_digest)?;
        let device = self.index.device(s.key).await?.ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnknownDevice,
                format!("device {} is not enrolled", hex::encode(s.key)),
            )
        })?;
        if device.revoked_ms.is_some() {
            return Err(ApiError::new(
                ErrorKind::RevokedDevice,
                format!("device {} was revoked", hex::encode(s.key)),
            ));
        }
        self.use_nonce(&s).await?;
        Ok(device)
    }

    /// A person request: signature, registered reader, nonce. Returns the
    /// groups the person may read.
    pub async fn authenticate_person(
        &self,
        parts: &Parts,
    ) -> ApiResult<Vec<obhut_core::ids::GroupId>> {
        let empty = obhut_core::vault::body_sha256(&[]);
        let s = self.verify_signed(parts, Signer::Person, &empty)?;
        let groups = self.index.reader_groups(s.key).await?;
        if groups.is_empty() {
            return Err(ApiError::new(
                ErrorKind::UnknownPerson,
                format!(
                    "person {} may read no group (an admin adds readers with `obhut admin add-reader`)",
                    hex::encode(s.key)
                ),
            ));
        }
        self.use_nonce(&s).await?;
        Ok(groups)
    }
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Authenticate a person-signed request (empty body) from an auditor:
    /// someone an admin allowed to read audit entry bodies.
    pub async fn authenticate_auditor(&self, parts: &Parts) -> ApiResult<KeyBytes> {
        let empty = obhut_core::vault::body_sha256(&[]);
        let s = self.verify_signed(parts, Signer::Person, &empty)?;
        if !self.index.is_auditor(s.key).await? {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                format!(
                    "person {} is not an auditor; audit entry bodies hold case data \
                     (an admin adds auditors with `obhut admin add-auditor`); \
                     checkpoints, tiles and proofs are public",
                    hex::encode(s.key)
                ),
            ));
        }
        self.use_nonce(&s).await?;
        Ok(s.key)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use obhut_core::identity::SignKey;
    use obhut_core::rng::os_rng;
    use proptest::prelude::*;

    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    /// The vault these tests' requests are signed for.
    const VAULT: [u8; 32] = [7; 32];

    /// Extreme and boundary values of a time taken from the wire.
    fn extreme() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(i64::MAX),
            Just(-1),
            Just(0),
            Just(NOW - WINDOW_MS - 1),
            Just(NOW - WINDOW_MS),
            Just(NOW + WINDOW_MS),
            Just(NOW + WINDOW_MS + 1),
            (i64::MIN..i64::MIN + 1_000_000),
            (i64::MAX - 1_000_000..=i64::MAX),
            any::<i64>(),
        ]
    }

    fn verify_at(parts: &Parts, now: i64) -> ApiResult<Signed> {
        verify(
            parts,
            Signer::Person,
            &VAULT,
            &obhut_core::vault::body_sha256(&[]),
            now,
        )
    }

    fn signed_parts(key: &SignKey, time_header: &str, time_signed: i64) -> Parts {
        let nonce = "00112233445566778899aabbccddeeff";
        let digest = obhut_core::vault::body_sha256(&[]);
        let msg = request_message(&VAULT, "GET", "/v1/recordings", time_signed, nonce, &digest);
        let sig = key.sign(labels::PERSON_REQUEST_SIG, &msg);
        let (parts, ()) = Request::get("/v1/recordings")
            .header("obhut-person", hex::encode(key.verify_key().to_bytes()))
            .header("obhut-time", time_header)
            .header("obhut-nonce", nonce)
            .header("obhut-signature", hex::encode(sig))
            .body(())
            .expect("a request")
            .into_parts();
        parts
    }

    /// Issue 16: a signed time of −2⁶³ overflowed the window check (a
    /// panic in debug builds, a pass in release ones).
    #[test]
    fn issue16_a_time_near_minus_two_to_the_63_is_stale() {
        let key = SignKey::generate(&mut os_rng());
        for t in [i64::MIN, i64::MIN + 1, i64::MIN + WINDOW_MS, i64::MAX] {
            for now in [NOW, 0, i64::MIN, i64::MAX] {
                if t.abs_diff(now) <= WINDOW_MS.unsigned_abs() {
                    continue;
                }
                let parts = signed_parts(&key, &t.to_string(), t);
                let e = verify_at(&parts, now).expect_err("outside the window");
                assert_eq!(e.kind, ErrorKind::StaleTime, "t = {t}, now = {now}");
            }
        }
    }

    #[test]
    fn times_within_the_window_verify() {
        let key = SignKey::generate(&mut os_rng());
        for t in [NOW - WINDOW_MS, NOW, NOW + WINDOW_MS] {
            let parts = signed_parts(&key, &t.to_string(), t);
            let s = verify_at(&parts, NOW).expect("inside the window");
            assert_eq!(s.time_ms, t);
        }
    }

    proptest! {
        /// The window check agrees with exact arithmetic for every pair of
        /// times, however extreme, and never panics.
        #[test]
        fn the_window_is_exact_for_extreme_times(t in extreme(), now in extreme()) {
            let exact = (i128::from(t) - i128::from(now)).abs() <= i128::from(WINDOW_MS);
            let r = check_time(t, now);
            prop_assert_eq!(r.is_ok(), exact);
            if let Err(e) = r {
                prop_assert_eq!(e.kind, ErrorKind::StaleTime);
            }
        }

        /// Whatever the `Obhut-Time` header holds, `verify` answers with an
        /// error kind or a time inside the window, never a panic.
        #[test]
        fn verify_survives_any_time_header(
            t in extreme(),
            junk in "[-+0-9 a-z]{0,24}",
            use_junk in any::<bool>(),
        ) {
            let key = SignKey::generate(&mut os_rng());
            let header = if use_junk { junk } else { t.to_string() };
            let parts = signed_parts(&key, &header, t);
            match verify_at(&parts, NOW) {
                Ok(s) => prop_assert!(s.time_ms.abs_diff(NOW) <= WINDOW_MS.unsigned_abs()),
                Err(e) => prop_assert!(
                    [ErrorKind::StaleTime, ErrorKind::BadSignature].contains(&e.kind),
                    "{}", e
                ),
            }
        }
    }
}
