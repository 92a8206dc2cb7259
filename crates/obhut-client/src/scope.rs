//! Resolving an access request's scope to segments from the
//! device-signed records themselves (docs/access.md §2): custodians before
//! approving, requesters before opening. The vault only ships bytes; each
//! recording's chain is checked here and authenticated by its last
//! record's signature (`chain::records_so_far_lazy`). A recording without its
//! final segment (a camera still streaming, a device that died) resolves
//! too, marked unfinished, since footage that matters most may be the
//! footage whose camera stopped. The capsules' validity proofs of the
//! segments in scope are the custodian's (checked by `custodian_partial`
//! against the pinned group); a requester needs none: a wrong capsule only
//! fails to open.

use obhut_core::access;
use obhut_core::chain;
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, Scope};
use obhut_core::segment::SegmentKind;

use obhut_api::read::RecordsResponse;

use crate::error::{Error, Result};
use crate::reader::Reader;

/// One recording of the scope: all its records (verified chain) and which
/// of them the request covers.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The recording.
    pub recording: RecordingId,
    /// Every record, in index order.
    pub records: Vec<SegmentRecord>,
    /// Indexes (into `records`) of the covered ones.
    pub in_scope: Vec<usize>,
    /// Whether the last record is marked final. An unfinished recording
    /// may have later segments the vault does not hold yet (or holds back):
    /// show it to the person deciding.
    pub finished: bool,
}

impl Resolved {
    /// `records` with the covered ones among them (`records_in_scope`
    /// returns references into `records`).
    pub fn new(
        recording: RecordingId,
        records: Vec<SegmentRecord>,
        request: &AccessRequest,
    ) -> Self {
        let covered = access::records_in_scope(request, &records);
        let in_scope: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| covered.iter().any(|c| std::ptr::eq(*c, *r)))
            .map(|(i, _)| i)
            .collect();
        let finished = records.last().is_some_and(SegmentRecord::is_final);
        Resolved {
            recording,
            records,
            in_scope,
            finished,
        }
    }

    /// The covered records.
    pub fn covered(&self) -> impl Iterator<Item = &SegmentRecord> {
        self.in_scope.iter().map(|&i| &self.records[i])
    }

    /// Whether the request covers the recording's metadata segment.
    pub fn covers_metadata(&self) -> bool {
        self.covered().any(|r| !is_media(r))
    }

    /// Records outside the request (they stay sealed).
    pub fn sealed(&self) -> usize {
        self.records.len() - self.in_scope.len()
    }
}

/// A segment of the recording's media file (media or container index), as
/// opposed to its metadata segment.
pub fn is_media(r: &SegmentRecord) -> bool {
    r.header().fields.kind != SegmentKind::Metadata
}

/// The recordings a request names (for device scopes: every recording of
/// the device the vault lists), each with its records and covered segments.
pub fn resolve(reader: &Reader<'_>, request: &AccessRequest) -> Result<Vec<Resolved>> {
    Ok(resolve_with(reader, request, false)?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// [`resolve`], keeping each recording's records answer (with `with_log`,
/// its log entries for [`crate::provenance`]).
pub(crate) fn resolve_with(
    reader: &Reader<'_>,
    request: &AccessRequest,
    with_log: bool,
) -> Result<Vec<(Resolved, RecordsResponse)>> {
    let mut ids: Vec<RecordingId> = Vec::new();
    for s in &request.scope {
        match s {
            Scope::Recording { recording_id, .. } => ids.push(*recording_id),
            Scope::Device { device_key, .. } => {
                let key = hex::encode(device_key.to_bytes());
                for r in reader.recordings()?.recordings {
                    if r.device_key == key
                        && let Some(id) = RecordingId::from_hex(&r.recording_id)
                    {
                        ids.push(id);
                    }
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        // The whole chain at once: one signature authenticates it (the
        // last record's, through the hash links), not one per record. The
        // capsules' points are checked for the covered records only: the
        // others' are never used (format.md §7.2).
        let (raw, answer) = reader.records_logged(id, with_log)?;
        let chain_error = |source| Error::Chain {
            recording: id,
            source,
        };
        let (records, _) = chain::records_so_far_lazy(&raw).map_err(chain_error)?;
        let resolved = Resolved::new(id, records, request);
        for r in resolved.covered() {
            r.header()
                .fields
                .capsule
                .check_points()
                .map_err(chain_error)?;
        }
        out.push((resolved, answer));
    }
    if out.iter().all(|(r, _)| r.in_scope.is_empty()) {
        return Err(Error::EmptyScope);
    }
    Ok(out)
}
