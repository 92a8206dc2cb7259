//! The requester's side of docs/format.md §8.4–8.5: pick the records a
//! request covers, recover each segment's `a` (k partials) and `b` (the
//! vault's release), and open segments, checking every blob byte against
//! the device-signed record.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};

use crate::blob_tree::BlobHasher;
use crate::combine;
use crate::epoch::{EpochRelease, EpochSecret, MAX_RELEASE_ENTRIES, ReleaseEntry};
use crate::error::{Error, RefusalReason, RejectedPartial, Result, SegmentFailure};
use crate::group::PinnedGroup;
use crate::identity::PersonSecret;
use crate::ids::EpochId;
use crate::ids::SegmentRef;
use crate::partial::PartialEnvelope;
use crate::record::SegmentRecord;
use crate::request::{AccessRequest, GrantRef, SegmentFacts};
use crate::secret::Secret32;
use crate::segment::{HEADER_LEN, KeyParts, RangeSource, SegmentKeys, SegmentOpener};
use crate::stream::SealedReader;

/// The records of `records` that `request`'s scope covers (§8.1), in the
/// order given. Container-index segments count as covered when a media
/// segment of their recording among `records` is.
pub fn records_in_scope<'r>(
    request: &AccessRequest,
    records: &'r [SegmentRecord],
) -> Vec<&'r SegmentRecord> {
    let facts: Vec<_> = records
        .iter()
        .map(|r| SegmentFacts::from(&r.header().fields))
        .collect();
    records
        .iter()
        .zip(&facts)
        .filter(|(_, f)| request.covers(f, &facts))
        .map(|(r, _)| r)
        .collect()
}

/// The vault's release of `b` for a grant (§8.5): every record must be in
/// the request's scope; each record's `b` is unwrapped with the epoch secret
/// its header names (`epoch_secret` returns `None` for an epoch whose key is
/// destroyed or not held: the segment is then unrecoverable, and the error
/// names it) and HPKE-encrypted to the X-Wing key of the signed request,
/// never to a key from anywhere else.
///
/// Whether the grant is logged and approved by k custodians is the vault's
/// policy layer's to check before calling this.
pub fn release_for_grant<'e>(
    epoch_secret: impl Fn(EpochId) -> Option<&'e EpochSecret>,
    request: &AccessRequest,
    grant: &GrantRef,
    records: &[&SegmentRecord],
    now_utc_ms: i64,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<EpochRelease> {
    release_for_grant_with(
        |record| {
            let fields = &record.header().fields;
            let epoch = epoch_secret(fields.epoch_wrap.epoch_id).ok_or(Error::Segment {
                segment: record.segment_ref(),
                failure: SegmentFailure::NoKey,
            })?;
            epoch
                .unwrap(
                    &fields.epoch_wrap,
                    fields.recording_id,
                    &fields.device_key,
                    fields.segment_index,
                )
                .map_err(|_| Error::Segment {
                    segment: record.segment_ref(),
                    failure: SegmentFailure::Misplaced(
                        "its epoch wrap does not open with this epoch key",
                    ),
                })
        },
        request,
        grant,
        records,
        now_utc_ms,
        rng,
    )
}

/// [`release_for_grant`] with each segment's `b` from `b_of`: for a vault
/// that recovers some `b` from a re-wrap kept beside the segment (a legal
/// hold, an epoch split; docs/format.md §5.5) rather than from the
/// header's own wrap. The same checks, in the same order.
pub fn release_for_grant_with(
    b_of: impl Fn(&SegmentRecord) -> Result<Secret32>,
    request: &AccessRequest,
    grant: &GrantRef,
    records: &[&SegmentRecord],
    now_utc_ms: i64,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<EpochRelease> {
    if request.is_expired(now_utc_ms) {
        return Err(Error::Refused(RefusalReason::Expired));
    }
    if grant.request_hash != request.request_hash() {
        return Err(Error::Refused(RefusalReason::GrantMismatch));
    }
    if records.is_empty() || records.len() > MAX_RELEASE_ENTRIES {
        return Err(Error::Refused(RefusalReason::BatchSize(records.len())));
    }
    let facts: Vec<SegmentFacts> = records
        .iter()
        .map(|r| SegmentFacts::from(&r.header().fields))
        .collect();
    let mut entries = Vec::with_capacity(records.len());
    for (record, f) in records.iter().zip(&facts) {
        let segment = record.segment_ref();
        if !request.covers(f, &facts) {
            return Err(Error::Refused(RefusalReason::OutOfScope(segment)));
        }
        let b = b_of(record)?;
        entries.push(ReleaseEntry::seal(
            &b,
            segment,
            &grant.request_hash,
            request.requester_kem(),
            rng,
        ));
    }
    Ok(EpochRelease {
        grant_log_index: grant.log_index,
        request_hash: grant.request_hash,
        requester_fpr: request.requester_fingerprint(),
        entries,
    })
}

/// The keys of every segment of one grant, held by the requester.
pub struct GrantKeys {
    keys: HashMap<SegmentRef, KeyParts>,
    rejected: Vec<RejectedPartial>,
}

impl core::fmt::Debug for GrantKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "GrantKeys({} segments, keys <redacted>)",
            self.keys.len()
        )
    }
}

impl GrantKeys {
    /// Combine the custodians' partials (`a`, and the shares of `c`) and
    /// open the vault's release (`b`) for `records`, which must be the device-signed records of the
    /// segments the grant covers. Every check of [`combine::combine`] and
    /// [`EpochRelease::open`] applies; a segment the release does not cover
    /// is an error naming it.
    pub fn recover(
        group: &PinnedGroup,
        request: &AccessRequest,
        grant: &GrantRef,
        records: &[&SegmentRecord],
        partials: &[PartialEnvelope],
        release: &EpochRelease,
        requester: &PersonSecret,
    ) -> Result<Self> {
        let combined = combine::combine(group, request, grant, records, partials, &requester.kem)?;
        let mut b_parts: HashMap<SegmentRef, Secret32> = release
            .open(requester, grant.log_index, &grant.request_hash)?
            .into_iter()
            .collect();
        let mut keys = HashMap::with_capacity(combined.keys.len());
        for (segment, a, c) in combined.keys {
            let b = b_parts.remove(&segment).ok_or(Error::Segment {
                segment,
                failure: SegmentFailure::NoKey,
            })?;
            keys.insert(segment, KeyParts { a, b, c });
        }
        Ok(GrantKeys {
            keys,
            rejected: combined.rejected,
        })
    }

    /// Partials the combine did not use because they failed a check
    /// (§8.4): enough others were valid, but a person should see these.
    pub fn rejected(&self) -> &[RejectedPartial] {
        &self.rejected
    }

    /// Segments these keys open.
    pub fn segments(&self) -> impl Iterator<Item = &SegmentRef> {
        self.keys.keys()
    }

    /// An opener for `record`'s segment (checks the key commitment).
    pub fn opener(&self, record: &SegmentRecord) -> Result<SegmentOpener> {
        let segment = record.segment_ref();
        let parts = self.keys.get(&segment).ok_or(Error::Segment {
            segment,
            failure: SegmentFailure::NoKey,
        })?;
        SegmentOpener::from_header(record.header(), parts)
    }

    /// The segment key `K` of `record`'s segment (§5.1), its commitment
    /// checked against the signed header: what an export bundle carries.
    pub fn segment_key(&self, record: &SegmentRecord) -> Result<Secret32> {
        let segment = record.segment_ref();
        let parts = self.keys.get(&segment).ok_or(Error::Segment {
            segment,
            failure: SegmentFailure::NoKey,
        })?;
        let fields = &record.header().fields;
        let k = SegmentKeys::segment_key(parts, fields);
        SegmentKeys::from_segment_key(&k, fields)
            .check_commitment(&record.header().key_commitment)?;
        Ok(k)
    }

    /// Open a whole segment, streaming, and check that the blob is exactly
    /// the one the device signed (length and BLAKE3 hash). Plaintext written
    /// to `out` has been authenticated chunk by chunk; a hash mismatch at
    /// the end still fails the call, so a caller must discard `out` on error.
    pub fn open_segment(
        &self,
        record: &SegmentRecord,
        blob: impl Read,
        out: impl Write,
    ) -> Result<u64> {
        self.open_segment_buffered(record, SealedReader::new(blob, HEADER_LEN), out)
    }

    /// [`GrantKeys::open_segment`] from a buffered reader (a blob in memory
    /// as a `&[u8]`): chunks are decrypted where they lie in the reader's
    /// buffer and hashed there right after, with no copy
    /// ([`SegmentOpener::open_buffered`]).
    pub fn open_segment_buffered(
        &self,
        record: &SegmentRecord,
        blob: impl BufRead,
        out: impl Write,
    ) -> Result<u64> {
        let opener = self.opener(record)?;
        let mut hashed = HashingReader {
            inner: blob,
            hasher: BlobHasher::new(),
            read: 0,
        };
        let n = opener.open_buffered(&mut hashed, out)?;
        let segment = record.segment_ref();
        if hashed.read != record.blob_len() {
            return Err(Error::Segment {
                segment,
                failure: SegmentFailure::LengthMismatch {
                    field: "blob length",
                    expected: record.blob_len(),
                    found: hashed.read,
                },
            });
        }
        if &hashed.hasher.finalize() != record.ciphertext_hash() {
            return Err(Error::Segment {
                segment,
                failure: SegmentFailure::HashMismatch,
            });
        }
        Ok(n)
    }

    /// Decrypt plaintext bytes `start..end` of `record`'s segment, reading
    /// only the chunks that cover them.
    pub fn read_range(
        &self,
        record: &SegmentRecord,
        source: &mut impl RangeSource,
        start: u64,
        end: u64,
        out: &mut impl Write,
    ) -> Result<u64> {
        self.opener(record)?
            .read_range(source, record.plaintext_len(), start, end, out)
    }
}

/// Hashes the blob's bytes as the opener consumes them: right after they
/// were decrypted, while they are still in cache.
struct HashingReader<R> {
    inner: R,
    hasher: BlobHasher,
    read: u64,
}

impl<R: BufRead> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.inner.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // The consumed bytes are still in the inner buffer (a reader with
        // unconsumed bytes returns them without reading). Were they not,
        // they go unhashed and uncounted, and the length check fails.
        if let Ok(buf) = self.inner.fill_buf() {
            let n = n.min(buf.len());
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
        }
        self.inner.consume(n);
    }
}
