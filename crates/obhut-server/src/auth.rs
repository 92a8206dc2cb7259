//! Signed requests (docs/vault.md §2): `Obhut-Device` (or `Obhut-Person`),
//! `Obhut-Time`, `Obhut-Nonce`, `Obhut-Signature` over
//! [`obhut_core::vault::request_message`]. Checks in order: headers parse,
//! time within ±300 s, signature, key known (caller), nonce unused.

use axum::http::HeaderMap;
use axum::http::request::Parts;
use obhut_api::ErrorKind;
use obhut_core::identity::VerifyKey;
use obhut_core::labels;
use obhut_core::vault::request_message;
use obhut_store::{BlobStore, IndexStore, KeyBytes};

use crate::app::App;
use crate::error::{ApiError, ApiResult};

/// Accepted clock difference between a request and the vault (ms).
pub const WINDOW_MS: i64 = 300_000;

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
    if (time_ms.saturating_sub(now_ms)).abs() > WINDOW_MS {
        return Err(ApiError::new(
            ErrorKind::StaleTime,
            format!(
                "Obhut-Time is {} s from the vault's clock (allowed: ±300 s); check the device's clock",
                (time_ms.saturating_sub(now_ms)) / 1000
            ),
        ));
    }
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

    /// Use the request's nonce once (kept until the window has passed).
    pub async fn use_nonce(&self, s: &Signed) -> ApiResult<()> {
        let now = self.clock.now_ms();
        let fresh = self
            .index
            .use_nonce(s.key, s.nonce, s.time_ms.saturating_add(WINDOW_MS), now)
            .await?;
        if !fresh {
            return Err(ApiError::new(
                ErrorKind::ReplayedNonce,
                "this request's nonce was already used; send a fresh nonce",
            ));
        }
        Ok(())
    }

    /// A device request: signature, enrolled and not revoked, nonce.
    pub async fn authenticate_device(
        &self,
        parts: &Parts,
        body_digest: &[u8; 32],
    ) -> ApiResult<obhut_store::DeviceRow> {
        let s = verify(
            parts,
            Signer::Device,
            &self.identity(Signer::Device),
            body_digest,
            self.clock.now_ms(),
        )?;
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
        let s = verify(
            parts,
            Signer::Person,
            &self.identity(Signer::Person),
            &empty,
            self.clock.now_ms(),
        )?;
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
        let s = verify(
            parts,
            Signer::Person,
            &self.identity(Signer::Person),
            &empty,
            self.clock.now_ms(),
        )?;
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
