//! Content Credentials (C2PA) on a clean clip (issue 19 item 6,
//! docs/bundle.md §3.1, docs/access.md §4): a manifest that standard C2PA
//! tools read, stating where the clip came from: a `c2pa.actions`
//! assertion (the recording `c2pa.opened` as the parent ingredient, then
//! `c2pa.edited`: cut to the granted window, not re-encoded) and
//! [`LABEL`], the custody facts: the device's key (and name if it has
//! one), the recording, each signed segment the clip was cut from (record
//! hash, ciphertext BLAKE3), the grant (request hash, purpose, legal
//! basis, case) and the log checkpoint.
//!
//! Who signs: a key made for this one clip and dropped after it, under a
//! certificate from a CA made with it and dropped too. C2PA requires an
//! X.509 chain; a key of ours (the requester's identity key) would sign
//! formats it was never meant to sign (X.509, COSE), and a vault CA would
//! make the vault vouch for what the requester wrote. The signature so
//! claims only that the manifest and the clip are unchanged since it was
//! made; validators show it as untrusted. Who made the clip and from what
//! is proved by the device signatures and log proofs `obhut verify`
//! checks, which the manifest's hashes point to; in a bundle the clip's
//! bytes, manifest and all, are in the disclosure the requester signed
//! and the log holds.

use std::io::{Read, Seek, Write};

use ed25519_dalek::Signer as _;
use obhut_core::identity::fingerprint;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::request::AccessRequest;
use obhut_core::segment::SegmentKind;
use obhut_log::TrustedState;
use serde::Serialize;
use zeroize::Zeroizing;

/// The custom assertion's label (reverse domain, as C2PA §6.2 asks of
/// labels outside its own namespace).
pub const LABEL: &str = "org.obhut.custody";

/// Why a clip could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The certificate chain could not be made.
    #[error("making the clip's signing certificate: {0}")]
    Certificate(String),
    /// The C2PA library refused the manifest or the clip.
    #[error("signing the clip's C2PA manifest: {0}")]
    Sign(String),
    /// The system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}

/// The [`LABEL`] assertion's content.
#[derive(Debug, Clone, Serialize)]
pub struct Custody {
    /// `obhut-custody/v1`.
    pub format: &'static str,
    /// The recording device.
    pub device: Device,
    /// Recording id, hex.
    pub recording: String,
    /// The media window clipped (ms of the recording's media time).
    pub window_ms: [u64; 2],
    /// The device-signed segments the clip was cut from.
    pub segments: Vec<Segment>,
    /// The grant under which it was opened.
    pub grant: GrantFacts,
    /// The log checkpoint the grant's entries are proved against.
    pub log: Option<Checkpoint>,
    /// How to check all of this without trusting this manifest.
    pub verify: &'static str,
}

/// A device.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// Its Ed25519 signing key, hex.
    pub key: String,
    /// Its display name, if one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A signed segment.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// Segment index.
    pub index: u32,
    /// `media`, `index` or `metadata`.
    pub kind: &'static str,
    /// The record's hash (docs/format.md §7), hex.
    pub record_hash: String,
    /// BLAKE3 of its ciphertext, as the record signs it, hex.
    pub ciphertext_blake3: String,
    /// Capture time (UTC ms) the device signed.
    pub capture_utc_ms: i64,
}

/// The grant.
#[derive(Debug, Clone, Serialize)]
pub struct GrantFacts {
    /// Request hash, hex.
    pub request_hash: String,
    /// Log index of the request's entry.
    pub request_index: u64,
    /// The requester's key fingerprint, hex.
    pub requester: String,
    /// Purpose.
    pub purpose: String,
    /// Legal basis.
    pub legal_basis: String,
    /// Case reference.
    pub case: String,
}

/// A log checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The signed note, as received.
    pub note: String,
}

impl Custody {
    /// The facts of the clip of `window` of `recording`, cut from the
    /// `covered` records, opened under `request`.
    pub fn of(
        request: &AccessRequest,
        request_index: u64,
        recording: RecordingId,
        covered: &[&SegmentRecord],
        window: [u64; 2],
        log: Option<&TrustedState>,
    ) -> Self {
        let device = covered
            .first()
            .map(|r| hex::encode(r.header().fields.device_key.to_bytes()))
            .unwrap_or_default();
        Custody {
            format: "obhut-custody/v1",
            device: Device {
                key: device,
                name: None,
            },
            recording: recording.to_string(),
            window_ms: window,
            segments: covered
                .iter()
                .map(|r| {
                    let f = &r.header().fields;
                    Segment {
                        index: r.segment_ref().index,
                        kind: match f.kind {
                            SegmentKind::Media => "media",
                            SegmentKind::ContainerIndex => "index",
                            SegmentKind::Metadata => "metadata",
                        },
                        record_hash: hex::encode(r.record_hash()),
                        ciphertext_blake3: hex::encode(r.ciphertext_hash()),
                        capture_utc_ms: f.capture_utc_ms,
                    }
                })
                .collect(),
            grant: GrantFacts {
                request_hash: hex::encode(request.request_hash()),
                request_index,
                requester: fingerprint(request.requester_sign(), request.requester_kem())
                    .to_string(),
                purpose: request.purpose.clone(),
                legal_basis: request.legal_basis.clone(),
                case: request.case_ref.clone(),
            },
            log: log.map(|s| Checkpoint {
                size: s.size,
                root: hex::encode(s.root.0),
                note: String::from_utf8_lossy(&s.checkpoint).into_owned(),
            }),
            verify: "The device signatures, segment hashes and log proofs behind these \
                     facts are checked by `obhut verify` on the evidence bundle \
                     (docs/bundle.md); this manifest's own signature is by a key made \
                     for this clip alone.",
        }
    }
}

/// Writes `clip` (a clean clip, read from its start) to `out` (empty)
/// with a C2PA manifest of `custody` embedded: one `uuid` box after
/// `ftyp`, the chunk offsets moved past it (`obhut_media::plan_clip_with`
/// makes the same layout). Returns the box's length.
pub fn sign_clip(
    custody: &Custody,
    clip: &mut (impl Read + Seek + Send),
    out: &mut (impl Read + Write + Seek + Send),
) -> Result<u64, CredentialsError> {
    let signer = OneClipSigner::new()?;
    let parent = format!("obhut:recording:{}", custody.recording);
    let definition = serde_json::json!({
        "claim_generator_info": [{
            "name": "obhut",
            "version": env!("CARGO_PKG_VERSION"),
        }],
        "title": format!("{}.mp4", custody.recording),
        "format": "video/mp4",
        "ingredients": [{
            "title": format!("recording {}", custody.recording),
            "format": "video/mp4",
            "relationship": "parentOf",
            "instance_id": parent,
            "label": parent,
        }],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": { "actions": [
                    {
                        "action": "c2pa.opened",
                        "parameters": { "ingredientIds": [parent] },
                        "description": "the recording, decrypted from its device-signed segments under a logged grant",
                    },
                    {
                        "action": "c2pa.edited",
                        "description": format!(
                            "cut to the granted window {}–{} ms without re-encoding (a new moov for the kept samples)",
                            custody.window_ms[0], custody.window_ms[1]
                        ),
                    },
                ]},
            },
            { "label": LABEL, "data": custody },
        ],
    });
    let sign = |e: c2pa::Error| CredentialsError::Sign(e.to_string());
    let mut builder = c2pa::Builder::from_context(c2pa::Context::new())
        .with_definition(definition.to_string())
        .map_err(sign)?;
    builder
        .sign(&signer, "video/mp4", clip, out)
        .map_err(sign)?;
    // Where the writer put it: right after `ftyp`, which a clean clip's
    // remux writes in 28 bytes.
    let mut head = Vec::new();
    out.rewind()
        .and_then(|()| (&mut *out).take(4096).read_to_end(&mut head))
        .map_err(|e| CredentialsError::Sign(e.to_string()))?;
    obhut_media::c2pa_box_at(&head)
        .map(|r| r.end - r.start)
        .ok_or_else(|| CredentialsError::Sign("the manifest is not right after ftyp".into()))
}

/// An Ed25519 key for one clip and its two-certificate chain (a CA that
/// signed only this key's certificate; C2PA refuses a self-signed
/// end-entity certificate). The key zeroizes when dropped; no Debug.
struct OneClipSigner {
    key: ed25519_dalek::SigningKey,
    chain: Vec<Vec<u8>>,
}

impl OneClipSigner {
    fn new() -> Result<Self, CredentialsError> {
        let ca = RcgenKey::generate()?;
        let key = RcgenKey::generate()?;
        let cert = |e: rcgen::Error| CredentialsError::Certificate(e.to_string());
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        let from = rcgen::date_time_ymd(
            i32::from(today.year()),
            u8::try_from(today.month()).unwrap_or(1),
            u8::try_from(today.day()).unwrap_or(1),
        );
        let name = |cn: &str| {
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::OrganizationName, "obhut");
            dn.push(rcgen::DnType::CommonName, cn);
            dn
        };
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.serial_number = Some(random_serial()?);
        ca_params.distinguished_name = name("obhut one-clip CA (self-issued, not a trust anchor)");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        ca_params.not_before = from;
        ca_params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(ca.key_id());
        let ca_cert = ca_params.self_signed(&ca).map_err(cert)?;
        let mut params = rcgen::CertificateParams::default();
        params.serial_number = Some(random_serial()?);
        params.distinguished_name = name("obhut clip signer (one clip, key discarded)");
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        // id-kp-documentSigning (RFC 9336), one of C2PA's allowed EKUs.
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Other(vec![
            1, 3, 6, 1, 5, 5, 7, 3, 36,
        ])];
        params.use_authority_key_identifier_extension = true;
        params.not_before = from;
        params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key.key_id());
        let issuer = rcgen::Issuer::new(ca_params, &ca);
        let ee = params.signed_by(&key, &issuer).map_err(cert)?;
        Ok(OneClipSigner {
            key: key.0,
            chain: vec![ee.der().to_vec(), ca_cert.der().to_vec()],
        })
    }
}

impl c2pa::Signer for OneClipSigner {
    fn sign(&self, data: &[u8]) -> c2pa::Result<Vec<u8>> {
        Ok(self.key.sign(data).to_bytes().to_vec())
    }

    fn alg(&self) -> c2pa::SigningAlg {
        c2pa::SigningAlg::Ed25519
    }

    fn certs(&self) -> c2pa::Result<Vec<Vec<u8>>> {
        Ok(self.chain.clone())
    }

    fn reserve_size(&self) -> usize {
        // The COSE signature with its certificate chain; c2pa pads up to it.
        10_000 + self.chain.iter().map(Vec::len).sum::<usize>()
    }
}

/// A certificate serial number: 20 random bytes, the most significant bit
/// clear so that it stays positive (RFC 5280 §4.1.2.2). rcgen makes one
/// itself only when built with its `crypto` feature, which our build leaves
/// off (we sign with ed25519-dalek): without this, every clip of the shipped
/// binary failed with "a serial number must be specified", while the tests
/// passed because a dev-dependency turned the feature on.
fn random_serial() -> Result<rcgen::SerialNumber, CredentialsError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| CredentialsError::Random(e.to_string()))?;
    bytes[0] &= 0x7f;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// An Ed25519 key as rcgen signs certificates with it (rcgen never holds
/// the secret).
struct RcgenKey(ed25519_dalek::SigningKey, [u8; 32]);

impl RcgenKey {
    fn generate() -> Result<Self, CredentialsError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|e| CredentialsError::Random(e.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        Ok(RcgenKey(key, public))
    }

    /// RFC 5280 §4.2.1.2 method (1)'s length, from SHA-256 rather than SHA-1.
    fn key_id(&self) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(self.1)[..20].to_vec()
    }
}

impl rcgen::PublicKeyData for RcgenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.1
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for RcgenKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}
