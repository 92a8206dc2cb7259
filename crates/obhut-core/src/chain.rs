//! Verifying a recording without keys (docs/format.md §7.2): the chain of
//! device-signed segment records, each capsule's validity proof, and each
//! blob against its record.
//!
//! Device signatures are already checked: a [`SegmentRecord`] cannot exist
//! unverified. What is left is the chain's structure (one recording and
//! device, indices 0 … m−1 in order, `prev` links, exactly the last record
//! final), the TDH2 proofs, and the blobs.

use std::io::Read;

use crate::error::{ChainFailure, Error, Result, SegmentFailure};
use crate::identity::VerifyKey;
use crate::ids::RecordingId;
use crate::kem::{GroupKey, verify_capsule_proof};
use crate::record::SegmentRecord;
use crate::segment::{HEADER_LEN, HeaderCheck, ciphertext_hasher};
use crate::stream::{CHUNK_SIZE, io_error, read_full};

/// What a verified chain establishes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainSummary {
    /// The recording.
    pub recording_id: RecordingId,
    /// The device that sealed and signed every segment.
    pub device_key: VerifyKey,
    /// Number of segments (indices 0 … count − 1).
    pub segment_count: u64,
    /// Sum of the segments' plaintext lengths.
    pub plaintext_len: u64,
    /// Record hash of the last record: commits to every record up to it
    /// (the whole recording when `finished`).
    pub head_record_hash: [u8; 32],
    /// Whether the last record is marked final. Always true from
    /// [`verify_chain_structure`] and [`records_from_chain`]; false from
    /// [`records_so_far`] for a recording still being made, or whose
    /// device stopped before sealing its last segment.
    pub finished: bool,
}

/// Verify a recording's chain of records (§7.2) and every capsule's TDH2
/// validity proof against the custody group keys in `groups` (from pinned
/// descriptors). A capsule of an earlier generation of a supplied group is
/// checked against that group's key with the capsule's generation
/// (resharing keeps the key, §4.3; see [`GroupKey::for_capsule`]).
///
/// `records` must be in segment-index order: a caller may then rely on that
/// order (e.g. to concatenate the opened segments). Fails with
/// [`Error::Chain`] for structural faults (see
/// [`verify_chain_structure`]), and with [`Error::Segment`] naming the
/// segment for a capsule sealed to a group not in `groups`
/// ([`SegmentFailure::Misplaced`]) or whose proof does not verify
/// ([`SegmentFailure::BadKemProof`]).
pub fn verify_chain(records: &[SegmentRecord], groups: &[GroupKey]) -> Result<ChainSummary> {
    let summary = verify_chain_structure(records)?;
    for rec in records {
        let fields = &rec.header().fields;
        let capsule = &fields.capsule;
        // An exact match first; else a later generation of the same group,
        // which has the same key P (resharing, §4.3).
        let group = groups
            .iter()
            .find(|g| g.group_id == capsule.group_id && g.generation == capsule.generation)
            .copied()
            .or_else(|| groups.iter().find_map(|g| g.for_capsule(capsule)))
            .ok_or(Error::Segment {
                segment: rec.segment_ref(),
                failure: SegmentFailure::Misplaced(
                    "sealed to a custody group or generation that was not supplied",
                ),
            })?;
        verify_capsule_proof(capsule, &group, &fields.capsule_context())?;
    }
    Ok(summary)
}

/// Parse a whole recording's records (in index order) and authenticate
/// them with **one** signature: every record is checked as
/// [`SegmentRecord::from_bytes`] checks it except for its own signature;
/// the chain's structure is verified ([`verify_chain_structure`]: one
/// recording and device, indices in order, each `prev_record_hash` the
/// record hash of the record before, exactly the last record final); then
/// the final record's device signature is verified strictly. That
/// signature covers the final record's `prev_record_hash`, a
/// collision-resistant digest of every byte of the record before — its
/// device key and `prev_record_hash` included — and so on down to segment
/// 0: each record is as authentic as if its own signature had been
/// checked (§7.2). For a 10-hour recording of 3,600 segments this is one
/// Ed25519 verification instead of 3,600.
///
/// Use it where the whole chain is at hand (a custodian resolving a
/// scope, a requester placing it); a single record or a partial list
/// needs [`SegmentRecord::from_bytes`]. Fails as that function and
/// [`verify_chain_structure`] do; a bad final signature is
/// [`SegmentFailure::BadSignature`] naming the final segment.
pub fn records_from_chain<B: AsRef<[u8]>>(
    records: &[B],
) -> Result<(Vec<SegmentRecord>, ChainSummary)> {
    authenticate(records, Ending::Final)
}

/// [`records_from_chain`] for a chain that may not be finished: a camera
/// still streaming, a device that died before its final segment. The same
/// checks except that the last record need not be final; the last
/// record's signature authenticates every record before it through the
/// links exactly as the final one would. What it cannot say is that no
/// later segment exists: [`ChainSummary::finished`] tells, and a caller
/// shows it (a vault could hold back the segments after a point).
pub fn records_so_far<B: AsRef<[u8]>>(records: &[B]) -> Result<(Vec<SegmentRecord>, ChainSummary)> {
    authenticate(records, Ending::SoFar)
}

/// [`records_so_far`] for placing a scope in a long recording: the same
/// checks, in the same order, except that the capsules' points (R, Ū) are
/// not decompressed; the device key is decoded once, from the first
/// record, and taken for every record carrying the same bytes. A caller
/// calls [`crate::kem::Capsule::check_points`] on the records it uses
/// (docs/format.md §7.2: a requester checks the records in its scope);
/// every use of a point decodes it strictly anyway
/// ([`crate::kem::verify_capsule_proof`], [`crate::kem::Capsule::r_point`]).
///
/// Why: decompressing a ristretto255 point costs a square root, about as
/// much as the rest of a record's parse; for a 1-minute scope of a 10-hour
/// recording, 7,200 of them for capsules nobody touches.
pub fn records_so_far_lazy<B: AsRef<[u8]>>(
    records: &[B],
) -> Result<(Vec<SegmentRecord>, ChainSummary)> {
    let Some(first) = records.first() else {
        return Err(Error::Chain(ChainFailure::Empty));
    };
    let first = SegmentRecord::parse_checking(
        first.as_ref(),
        HeaderCheck {
            known_device_key: None,
            defer_points: true,
        },
    )?;
    let check = HeaderCheck {
        known_device_key: Some(first.header().fields.device_key),
        defer_points: true,
    };
    let parsed = std::iter::once(Ok(first))
        .chain(
            records[1..]
                .iter()
                .map(|b| SegmentRecord::parse_checking(b.as_ref(), check)),
        )
        .collect::<Result<Vec<_>>>()?;
    finish(parsed, Ending::SoFar)
}

/// Whether a chain must end with a record marked final.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Final,
    SoFar,
}

fn authenticate<B: AsRef<[u8]>>(
    records: &[B],
    ending: Ending,
) -> Result<(Vec<SegmentRecord>, ChainSummary)> {
    let parsed = records
        .iter()
        .map(|b| SegmentRecord::parse_unverified(b.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    finish(parsed, ending)
}

/// The structure of parsed records, then the last one's signature.
fn finish(
    parsed: Vec<SegmentRecord>,
    ending: Ending,
) -> Result<(Vec<SegmentRecord>, ChainSummary)> {
    let summary = check_structure(&parsed, ending)?;
    match parsed.last() {
        Some(last) => last.verify_signature()?,
        None => return Err(Error::Chain(ChainFailure::Empty)),
    }
    Ok((parsed, summary))
}

/// The structural part of [`verify_chain`], without the capsule proofs
/// (which need the group keys). Checks, record by record in order:
/// the same recording and device as the first record
/// ([`ChainFailure::Foreign`]); index equal to position
/// ([`ChainFailure::Missing`], [`ChainFailure::Duplicate`],
/// [`ChainFailure::OutOfOrder`]); the `prev` link, zeros for segment 0
/// ([`ChainFailure::BrokenLink`]); no final flag before the last record
/// ([`ChainFailure::FinalFlag`]); and finally that the last record is final
/// ([`ChainFailure::NotFinal`]). An empty list is [`ChainFailure::Empty`].
pub fn verify_chain_structure(records: &[SegmentRecord]) -> Result<ChainSummary> {
    check_structure(records, Ending::Final)
}

fn check_structure(records: &[SegmentRecord], ending: Ending) -> Result<ChainSummary> {
    let chain = |f| Err(Error::Chain(f));
    let Some(first) = records.first() else {
        return chain(ChainFailure::Empty);
    };
    let recording_id = first.header().fields.recording_id;
    let device_key = first.header().fields.device_key;
    let mut prev_hash = [0u8; 32];
    let mut plaintext_len = 0u64;
    for (position, rec) in records.iter().enumerate() {
        let fields = &rec.header().fields;
        let index = fields.segment_index;
        if fields.recording_id != recording_id || fields.device_key != device_key {
            return chain(ChainFailure::Foreign(rec.segment_ref()));
        }
        // More than 2^32 records cannot all have distinct u32 indices.
        let Ok(position) = u32::try_from(position) else {
            return chain(ChainFailure::Duplicate(index));
        };
        if index != position {
            // Positions before this one hold exactly 0 … position − 1.
            if index < position {
                return chain(ChainFailure::Duplicate(index));
            }
            let later = &records[position as usize + 1..];
            if later
                .iter()
                .any(|r| r.header().fields.segment_index == position)
            {
                return chain(ChainFailure::OutOfOrder {
                    position,
                    found: index,
                });
            }
            return chain(ChainFailure::Missing { missing: position });
        }
        if rec.prev_record_hash() != &prev_hash {
            return chain(ChainFailure::BrokenLink(index));
        }
        let last = position as usize + 1 == records.len();
        if rec.is_final() && !last {
            return chain(ChainFailure::FinalFlag(index));
        }
        if last && !rec.is_final() && ending == Ending::Final {
            return chain(ChainFailure::NotFinal { last: index });
        }
        prev_hash = rec.record_hash();
        plaintext_len = plaintext_len.saturating_add(rec.plaintext_len());
    }
    Ok(ChainSummary {
        recording_id,
        device_key,
        segment_count: records.len() as u64,
        plaintext_len,
        head_record_hash: prev_hash,
        finished: records.last().is_some_and(SegmentRecord::is_final),
    })
}

/// Check a blob against its signed record without keys (§7.2): its header
/// equals the record's ([`SegmentFailure::HeaderMismatch`]), its length
/// equals the §6.2 formula ([`SegmentFailure::LengthMismatch`]), and its
/// BLAKE3 ciphertext hash equals the record's
/// ([`SegmentFailure::HashMismatch`]). Reads `blob` to its end.
pub fn verify_blob(record: &SegmentRecord, mut blob: impl Read) -> Result<()> {
    let fail = |failure| Error::Segment {
        segment: record.segment_ref(),
        failure,
    };
    let mut header = [0u8; HEADER_LEN];
    let n = read_full(&mut blob, &mut header).map_err(io_error("reading the blob's header"))?;
    if n != HEADER_LEN || header[..] != record.header().to_bytes()[..] {
        return Err(fail(SegmentFailure::HeaderMismatch));
    }
    let mut hasher = ciphertext_hasher();
    hasher.update(&header);
    let mut found = HEADER_LEN as u64;
    // 64 KiB reads let BLAKE3 hash many 1 KiB chunks in parallel (SIMD).
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = read_full(&mut blob, &mut buf).map_err(io_error("reading the blob"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        found += n as u64;
    }
    let hash: [u8; 32] = hasher.finalize().into();
    let expected = record.blob_len();
    if found != expected {
        return Err(fail(SegmentFailure::LengthMismatch {
            field: "blob length",
            expected,
            found,
        }));
    }
    if &hash != record.ciphertext_hash() {
        return Err(fail(SegmentFailure::HashMismatch));
    }
    Ok(())
}
