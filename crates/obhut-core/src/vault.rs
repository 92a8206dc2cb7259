//! Structures of the vault protocol (docs/vault.md, draft 2): the signed
//! request message of §2, the framing of a segment upload (§4), the ingest
//! receipt of §4, the descriptor fingerprint of §3 and the binary records
//! answer of §5. Pure functions; the
//! HTTP client and server live elsewhere.

use crate::error::{Error, Result};
use crate::group::GroupDescriptor;
use crate::identity::{SignKey, VerifyKey};
use crate::ids::{Fingerprint, RecordingId, SegmentRef};
use crate::labels::{self, SUITE_V1, VERSION, magic};
use crate::wire::{Reader, Writer};

/// Encoded length of an [`IngestReceipt`].
pub const INGEST_RECEIPT_LEN: usize = 7 + 32 + 32 + 8 + 64;

const INGEST_RECEIPT: &str = "ingest receipt";

/// The bytes a device (or person) signs for one HTTP request (§2):
/// `vault [32] ‖ method ‖ 0x00 ‖ path-and-query ‖ 0x00 ‖ time (decimal) ‖
/// 0x00 ‖ nonce (hex, as sent) ‖ 0x00 ‖ body_digest`. The signature
/// context is [`labels::DEVICE_REQUEST_SIG`] or
/// [`labels::PERSON_REQUEST_SIG`].
///
/// `vault` is the identity of the vault the request is meant for, as the
/// signer pinned it: the vault's receipt key for a device (pinned at
/// enrolment), its audit-log key for a person (`--log-key`), all zeros
/// for an enrolment (the device has pinned no vault yet; the one-time
/// token binds it to one vault). A request signed for one vault does not
/// verify at another.
pub fn request_message(
    vault: &[u8; 32],
    method: &str,
    path_and_query: &str,
    time_ms: i64,
    nonce_hex: &str,
    body_digest: &[u8; 32],
) -> Vec<u8> {
    let time = time_ms.to_string();
    let mut m = Vec::with_capacity(
        32 + method.len() + path_and_query.len() + time.len() + nonce_hex.len() + 36,
    );
    m.extend_from_slice(vault);
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        time.as_bytes(),
        nonce_hex.as_bytes(),
    ] {
        m.extend_from_slice(part);
        m.push(0);
    }
    m.extend_from_slice(body_digest);
    m
}

/// The `vault` of [`request_message`] for `POST /v1/enrol`: the device
/// has pinned no vault yet (docs/vault.md §2).
pub const ENROL_VAULT: [u8; 32] = [0; 32];

/// SHA-256 of a request body: the `body_digest` of every request except a
/// segment upload, whose digest is [`segment_upload_digest`].
pub fn body_sha256(body: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(body).into()
}

/// The path and query of a segment upload (§4):
/// `/v1/recordings/{rid}/segments/{index}?record_len={record_len}`
/// (relative to the vault's base URL). The record's length is in the
/// signed query because a record's length varies with its custody block
/// (format.md §7.1), and the vault must know where the blob ends before
/// it reads the record at the end of the body.
pub fn segment_upload_path(segment: SegmentRef, record_len: usize) -> String {
    format!(
        "/v1/recordings/{}/segments/{}?record_len={record_len}",
        segment.recording, segment.index
    )
}

/// `Content-Length` of a segment upload whose blob is `blob_len` bytes and
/// whose record is `record_len` bytes (the body is `blob ‖ record`). `None`
/// on overflow. Both lengths are known before sealing: the blob's is a
/// function of the plaintext length alone ([`crate::segment::blob_len`]),
/// the record's of the custody run ([`crate::record::record_len`]).
pub fn segment_upload_len(blob_len: u64, record_len: usize) -> Option<u64> {
    blob_len.checked_add(record_len as u64)
}

/// The `body_digest` a device signs for a segment upload (§2):
/// `Digest("obhut/v1/segment-upload", rid [16] ‖ index u32 ‖
/// content_length u64)`, integers big-endian.
///
/// It binds the upload's declared framing, which is all a streaming device
/// knows when it sends the headers; the content itself is bound by the
/// device-signed record at the end of the body (its `ciphertext_hash`,
/// `plaintext_len` and segment reference), which the vault checks against
/// the path and the bytes it received.
pub fn segment_upload_digest(recording: RecordingId, index: u32, content_length: u64) -> [u8; 32] {
    labels::digest(
        labels::SEGMENT_UPLOAD,
        &[
            &recording.0,
            &index.to_be_bytes(),
            &content_length.to_be_bytes(),
        ],
    )
}

/// `Digest("obhut/v1/fingerprint", descriptor without signatures)` (§3):
/// what custodians publish and an installer passes to `obhut enrol`.
pub fn descriptor_fingerprint(descriptor: &GroupDescriptor) -> Fingerprint {
    Fingerprint(labels::digest(
        labels::FINGERPRINT,
        &[&descriptor.signed_body()],
    ))
}

/// The vault's receipt for one stored segment (§4): "this record was on
/// stable storage at `received_utc_ms`".
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IngestReceipt {
    /// The vault's Ed25519 receipt key.
    pub vault_key: VerifyKey,
    /// Record hash of the stored segment record.
    pub record_hash: [u8; 32],
    /// Vault clock (UTC ms) when the segment became durable.
    pub received_utc_ms: i64,
    /// The vault's signature.
    pub signature: [u8; 64],
}

impl IngestReceipt {
    fn body(vault_key: &VerifyKey, record_hash: &[u8; 32], received_utc_ms: i64) -> Vec<u8> {
        let mut w = Writer::with_preamble(magic::INGEST_RECEIPT, VERSION, SUITE_V1);
        w.bytes(&vault_key.to_bytes())
            .bytes(record_hash)
            .i64(received_utc_ms);
        w.into_vec()
    }

    /// Sign a receipt with the vault's key.
    pub fn sign(vault: &SignKey, record_hash: [u8; 32], received_utc_ms: i64) -> Self {
        let vault_key = vault.verify_key();
        let signature = vault.sign(
            labels::INGEST_RECEIPT_SIG,
            &Self::body(&vault_key, &record_hash, received_utc_ms),
        );
        IngestReceipt {
            vault_key,
            record_hash,
            received_utc_ms,
            signature,
        }
    }

    /// Canonical encoding ([`INGEST_RECEIPT_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::body(&self.vault_key, &self.record_hash, self.received_utc_ms);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parse and verify the signature under the key embedded in the
    /// receipt. A device must also compare [`IngestReceipt::vault_key`]
    /// with the key it pinned at enrolment ([`IngestReceipt::verify_for`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(INGEST_RECEIPT, bytes);
        r.preamble(magic::INGEST_RECEIPT, VERSION, SUITE_V1)?;
        let vault_key = VerifyKey::read(&mut r, "vault_key")?;
        let record_hash = r.array("record_hash")?;
        let received_utc_ms = r.i64("received_utc_ms")?;
        let signature = r.array::<64>("signature")?;
        r.finish()?;
        vault_key.verify(
            labels::INGEST_RECEIPT_SIG,
            &Self::body(&vault_key, &record_hash, received_utc_ms),
            &signature,
            INGEST_RECEIPT,
        )?;
        Ok(IngestReceipt {
            vault_key,
            record_hash,
            received_utc_ms,
            signature,
        })
    }

    /// Check that this receipt is from `vault` and covers `record_hash`.
    pub fn verify_for(&self, vault: &VerifyKey, record_hash: &[u8; 32]) -> Result<()> {
        if &self.vault_key != vault {
            return Err(Error::Malformed {
                what: INGEST_RECEIPT,
                reason: "signed by another vault key than the pinned one",
            });
        }
        if &self.record_hash != record_hash {
            return Err(Error::Malformed {
                what: INGEST_RECEIPT,
                reason: "covers another record",
            });
        }
        Ok(())
    }
}

/// The media type of the binary records answer (docs/vault.md §5): a
/// reader sends it in `Accept` on `GET …/records` without `?log=true`.
pub const RECORDS_MEDIA_TYPE: &str = "application/octet-stream";

/// Bound on one record in a records answer: the longest valid record (255
/// custodians, carrying its custody run, format.md §7.1), so that no valid
/// record is refused and a hostile length cannot make a reader allocate
/// more than that.
pub const MAX_ANSWER_RECORD_LEN: usize = crate::record::MAX_RECORD_LEN;

const RECORDS_ANSWER: &str = "records answer";

/// The binary records answer (docs/vault.md §5): `count u32 ‖ count ×
/// (len u32 ‖ record)`, big-endian, the records in index order, unparsed.
/// The count makes an answer cut at a record boundary an error instead of
/// a shorter (unfinished-looking) chain.
pub fn encode_records_answer<B: AsRef<[u8]>>(records: &[B]) -> Vec<u8> {
    let total: usize = records.iter().map(|r| 4 + r.as_ref().len()).sum();
    let mut w = Writer::new();
    // A recording has at most 2^32 segments (u32 indices).
    w.u32(u32::try_from(records.len()).unwrap_or(u32::MAX));
    let mut out = w.into_vec();
    out.reserve(total);
    for r in records {
        let r = r.as_ref();
        out.extend_from_slice(&u32::try_from(r.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// Split a binary records answer into its records (borrowed, unparsed:
/// parse them as a chain). Refuses an answer that ends early
/// ([`Error::Truncated`], field `count`, `record length` or `record`), a
/// record longer than [`MAX_ANSWER_RECORD_LEN`] ([`Error::FieldTooLong`]),
/// a count the bytes cannot hold and bytes after the last record
/// ([`Error::TrailingBytes`]), all naming the records answer.
pub fn decode_records_answer(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut r = Reader::new(RECORDS_ANSWER, bytes);
    let count = r.u32("count")? as usize;
    // Each record takes at least its 4-byte length: a larger count is a
    // lie told to make us allocate.
    if count > r.remaining() / 4 {
        return Err(Error::Truncated {
            what: RECORDS_ANSWER,
            field: "record length",
        });
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(r.var_bytes("record", MAX_ANSWER_RECORD_LEN)?);
    }
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::os_rng;

    #[test]
    fn receipt_round_trip_and_tamper() {
        let key = SignKey::generate(&mut os_rng());
        let r = IngestReceipt::sign(&key, [7; 32], 1_790_000_000_000);
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), INGEST_RECEIPT_LEN);
        let back = IngestReceipt::from_bytes(&bytes).unwrap();
        assert_eq!(back, r);
        back.verify_for(&key.verify_key(), &[7; 32]).unwrap();
        assert!(back.verify_for(&key.verify_key(), &[8; 32]).is_err());
        for i in [10, 50, 80, INGEST_RECEIPT_LEN - 1] {
            let mut t = bytes.clone();
            t[i] ^= 1;
            assert!(IngestReceipt::from_bytes(&t).is_err(), "byte {i}");
        }
    }

    #[test]
    fn request_message_layout() {
        let m = request_message(&[9; 32], "PUT", "/v1/enrol", 12, "ab", &[1; 32]);
        assert_eq!(&m[..32], &[9; 32]);
        assert_eq!(&m[32..49], b"PUT\0/v1/enrol\x0012\0");
        assert_eq!(&m[49..52], b"ab\0");
        assert_eq!(&m[52..], &[1; 32]);
    }

    #[test]
    fn segment_upload_framing() {
        let rid = RecordingId([0xab; 16]);
        let seg = SegmentRef {
            recording: rid,
            index: 7,
        };
        assert_eq!(
            segment_upload_path(seg, 1896),
            format!(
                "/v1/recordings/{}/segments/7?record_len=1896",
                "ab".repeat(16)
            )
        );
        assert_eq!(segment_upload_len(1468, 1596), Some(1468 + 1596));
        assert_eq!(segment_upload_len(u64::MAX, 1), None);
        // Layout: label ‖ 0x00 ‖ rid ‖ index (BE) ‖ Content-Length (BE).
        let mut m = b"obhut/v1/segment-upload\0".to_vec();
        m.extend_from_slice(&[0xab; 16]);
        m.extend_from_slice(&[0, 0, 0, 7]);
        m.extend_from_slice(&3064u64.to_be_bytes());
        let expected: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(&m).into()
        };
        let d = segment_upload_digest(rid, 7, 3064);
        assert_eq!(d, expected);
        // Every field is bound.
        assert_ne!(d, segment_upload_digest(rid, 8, 3064));
        assert_ne!(d, segment_upload_digest(rid, 7, 3065));
        assert_ne!(d, segment_upload_digest(RecordingId([0xac; 16]), 7, 3064));
    }

    #[test]
    fn records_answer_round_trip_and_refusals() {
        let records: Vec<Vec<u8>> = vec![vec![1; 10], vec![], vec![2; 3]];
        let a = encode_records_answer(&records);
        assert_eq!(&a[..8], &[0, 0, 0, 3, 0, 0, 0, 10]);
        let back = decode_records_answer(&a).unwrap();
        assert_eq!(back, records.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(
            decode_records_answer(&encode_records_answer::<&[u8]>(&[]))
                .unwrap()
                .is_empty()
        );
        // Every cut fails, naming the answer; a cut at a record boundary
        // too (the count says more follow).
        for cut in 0..a.len() {
            let e = decode_records_answer(&a[..cut]).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Truncated {
                        what: RECORDS_ANSWER,
                        ..
                    }
                ),
                "cut {cut}: {e}"
            );
        }
        let mut long = a.clone();
        long.push(0);
        assert!(matches!(
            decode_records_answer(&long).unwrap_err(),
            Error::TrailingBytes {
                what: RECORDS_ANSWER,
                count: 1
            }
        ));
        // A huge count or length is refused before anything is allocated.
        assert!(decode_records_answer(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        let e = decode_records_answer(&[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::FieldTooLong {
                    what: RECORDS_ANSWER,
                    ..
                }
            ),
            "{e}"
        );
    }
}
