//! The requester's last steps at a vault (docs/access.md §2 steps 3–4):
//! prove the request is logged, have the vault release (logged before
//! anything is decrypted), resolve the scope from the device-signed
//! records and check it against what was released, combine k partials
//! with the epoch parts; then open the scope ([`Grant::open_recording`],
//! [`Grant::open_range`]) and report it opened, or do both into a
//! directory ([`Grant::write_to_dir`]).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use obhut_api::access::{Logged, ReleaseJson};
use obhut_core::access::GrantKeys;
use obhut_core::audit::Event;
use obhut_core::decision::{DecisionContent, Verdict};
use obhut_core::epoch::EpochRelease;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::PersonSecret;
use obhut_core::ids::RecordingId;
use obhut_core::partial::{PartialEnvelope, records_from_bytes};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef};

use crate::access::{AccessClient, b64, check_group, confirm_logged, parse_request};
use crate::assemble::{Assembled, Layout, Progress, VaultBlobs, assemble, assemble_range};
use crate::clip::FileLayout;
use crate::error::{Error, Result};
use crate::log::LogClient;
use crate::output::{OutputFile, PRIVATE};
use crate::reader::now_ms;
use crate::scope::{self, Resolved};

/// What the vault released for a request, decoded.
#[derive(Debug)]
pub struct Released {
    /// The records the vault says are in scope (signatures checked).
    pub records: Vec<SegmentRecord>,
    /// The custodians' partials.
    pub partials: Vec<PartialEnvelope>,
    /// The epoch parts, sealed to the requester.
    pub epoch: EpochRelease,
    /// The release's log entry.
    pub logged: Logged,
}

impl Released {
    /// Decode the vault's answer to `POST …/release`.
    pub fn decode(release: &ReleaseJson) -> Result<Self> {
        let raw = release
            .records
            .iter()
            .map(|r| b64("record", r))
            .collect::<Result<Vec<_>>>()?;
        let records = records_from_bytes(&raw).map_err(Error::ReleaseRecords)?;
        let partials = release
            .partials
            .iter()
            .map(|p| {
                PartialEnvelope::from_bytes(&b64("partial", p)?).map_err(Error::PartialInvalid)
            })
            .collect::<Result<Vec<_>>>()?;
        let epoch = EpochRelease::from_bytes(&b64("release", &release.release)?)
            .map_err(Error::ReleaseInvalid)?;
        Ok(Released {
            records,
            partials,
            epoch,
            logged: release.logged.clone(),
        })
    }

    /// Refuse a release of other segments than `mine` (the scope resolved
    /// from the device-signed records).
    pub fn check_scope(&self, mine: &[&SegmentRecord]) -> Result<()> {
        let mut a: Vec<_> = mine.iter().map(|r| r.record_hash()).collect();
        let mut b: Vec<_> = self
            .records
            .iter()
            .map(SegmentRecord::record_hash)
            .collect();
        a.sort();
        b.sort();
        if a != b {
            return Err(Error::ReleaseMismatch {
                released: b.len(),
                covered: a.len(),
            });
        }
        Ok(())
    }

    /// The segment keys of `records` from the partials and the epoch parts.
    pub fn recover(
        &self,
        group: &PinnedGroup,
        request: &AccessRequest,
        request_index: u64,
        records: &[&SegmentRecord],
        me: &PersonSecret,
    ) -> Result<GrantKeys> {
        let grant = GrantRef::new(request_index, request);
        GrantKeys::recover(
            group,
            request,
            &grant,
            records,
            &self.partials,
            &self.epoch,
            me,
        )
        .map_err(Error::Recover)
    }
}

/// A released grant, ready to open.
#[derive(Debug)]
pub struct Grant {
    /// The request (64 hex digits).
    pub request_hash: String,
    /// The request.
    pub request: AccessRequest,
    /// The segment keys of the scope.
    pub keys: GrantKeys,
    /// The recordings in scope, with their records and covered segments.
    pub resolved: Vec<Resolved>,
    /// Log index of the request (the grant's).
    pub request_index: u64,
    /// Log index of the release.
    pub release_entry: u64,
    /// The request as the vault holds it (its entry and approvals).
    pub request_json: obhut_api::access::RequestJson,
    /// The release's log entry.
    pub release_logged: Logged,
}

/// The requester's steps 3–4 up to the keys, as `me`: the request proved
/// logged, the release made and proved logged, the scope resolved and
/// checked against the release, the keys recovered.
pub fn open_as(
    client: &AccessClient<'_>,
    log: &LogClient,
    request_hash: &str,
    group: &PinnedGroup,
    me: &PersonSecret,
) -> Result<Grant> {
    let rj = client.get(request_hash)?;
    let req = parse_request(&rj, Some(request_hash))?;
    check_group(&req, group.descriptor())?;
    if me.public().fingerprint() != req.requester_fingerprint() {
        return Err(Error::NotRequester);
    }
    let bytes = req.to_bytes();
    confirm_logged(
        log,
        &rj.logged,
        "your request",
        |e| matches!(&e.event, Event::AccessRequested { request } if *request == bytes),
    )?;

    // The scope from the device-signed records (fetched and checked while
    // the vault makes the release: the release waits on the vault's disk,
    // the resolution on this machine's CPU), then checked against what the
    // vault released. The release is proved logged before anything is
    // decrypted.
    let rh = req.request_hash();
    let request_index = rj.logged.log_index;
    let (release, resolved) = std::thread::scope(|s| {
        let resolving = s.spawn(|| scope::resolve(client.reader(), &req));
        let release = client.release(request_hash).and_then(|release| {
            confirm_logged(log, &release.logged, "the release", |e| {
                matches!(&e.event, Event::Released { request_hash: h, request_index: i, .. }
                    if *h == rh && *i == request_index)
            })?;
            Ok(release)
        });
        let resolved = resolving
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (release, resolved)
    });
    let (release, resolved) = (release?, resolved?);
    let mine: Vec<&SegmentRecord> = resolved.iter().flat_map(|r| r.covered()).collect();
    let released = Released::decode(&release)?;
    released.check_scope(&mine)?;
    let keys = released.recover(group, &req, request_index, &mine, me)?;
    Ok(Grant {
        request_hash: request_hash.to_owned(),
        request: req,
        keys,
        resolved,
        request_index,
        release_entry: release.logged.log_index,
        request_json: rj,
        release_logged: release.logged,
    })
}

impl Grant {
    /// Each covered segment of `rec` at its original offset in `media`
    /// ([`Layout::Original`]); its metadata segment, if covered, into
    /// `metadata`.
    pub fn open_recording(
        &self,
        client: &AccessClient<'_>,
        rec: &Resolved,
        media: &mut File,
        metadata: Option<&mut dyn Write>,
        progress: &mut dyn Progress,
    ) -> Result<Assembled> {
        assemble(
            &self.keys,
            rec,
            Layout::Original,
            &mut VaultBlobs(client.reader()),
            media,
            metadata,
            progress,
        )
    }

    /// Bytes `[start, end)` of the one recording in scope, fetching and
    /// decrypting only the chunks that cover them (HTTP Range requests),
    /// with its metadata in place if the grant includes it.
    pub fn open_range(
        &self,
        client: &AccessClient<'_>,
        start: u64,
        end: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<Assembled> {
        let [rec] = &self.resolved[..] else {
            return Err(Error::RangeNeedsOneRecording);
        };
        assemble_range(
            &self.keys,
            rec,
            start,
            end,
            &mut VaultBlobs(client.reader()),
            out,
            &mut (),
        )
    }

    /// Decrypt the scope into `dir` (created if missing), then report it
    /// opened: for each recording, with [`FileLayout::Clip`], a clean clip
    /// of the window `DIR/<recording>.mp4` ([`crate::clip`]; where none can
    /// be made, as with [`FileLayout::Original`]:) `DIR/<recording>.media`
    /// laid out like the original ([`Grant::open_recording`]); and
    /// `DIR/<recording>.metadata`
    /// for a covered metadata segment, or with [`OpenAs::Range`] only those bytes of
    /// the one recording in `DIR/<recording>.range`. Each file is private
    /// (0600) and appears whole or not at all (the metadata file only when
    /// a sidecar was opened: the metadata patch, docs/format.md §7.4, is
    /// applied to the media file); an existing one is refused
    /// unless `overwrite`. The opening is reported (and logged) only once
    /// every file is in place.
    pub fn write_to_dir(
        &self,
        client: &AccessClient<'_>,
        log: &LogClient,
        dir: &Path,
        what: OpenAs,
        overwrite: bool,
        progress: &mut dyn Progress,
    ) -> Result<Opened> {
        std::fs::create_dir_all(dir).map_err(|source| Error::OutputDir {
            dir: dir.to_owned(),
            source,
        })?;
        let file = |rec: &Resolved, ext: &str| {
            let path = dir.join(format!("{}.{ext}", rec.recording));
            OutputFile::create(path, overwrite, PRIVATE)
        };
        let mut opened = 0;
        let mut clips = Vec::new();
        let mut originals = Vec::new();
        match what {
            OpenAs::Range(start, end) => {
                let [one] = &self.resolved[..] else {
                    return Err(Error::RangeNeedsOneRecording);
                };
                let mut out = file(one, "range")?;
                opened = self.open_range(client, start, end, out.file())?.segments();
                out.commit()?;
            }
            OpenAs::Files(layout) => {
                for rec in &self.resolved {
                    let mut media = file(rec, "media")?;
                    let mut metadata = match rec.covers_metadata() {
                        true => Some(file(rec, "metadata")?),
                        false => None,
                    };
                    let done = self.open_recording(
                        client,
                        rec,
                        media.file(),
                        metadata.as_mut().map(|m| m.file() as &mut dyn Write),
                        progress,
                    )?;
                    opened += done.segments();
                    if layout == FileLayout::Clip {
                        // The original layout is staged beside, remuxed,
                        // and removed unless the clip cannot be made.
                        let mut clip = file(rec, "mp4")?;
                        let mut written = media.reopen_read()?;
                        match self.clip(client, log, dir, rec, &mut written, clip.file()) {
                            Ok(p) => {
                                clip.commit()?;
                                clips.push(ClipMade {
                                    recording: rec.recording,
                                    start_ms: p.start_ms,
                                    end_ms: p.end_ms,
                                });
                            }
                            Err(e @ Error::Clip { .. }) => {
                                media.commit()?;
                                originals.push((rec.recording, e.to_string()));
                            }
                            Err(e) => return Err(e),
                        }
                    } else {
                        media.commit()?;
                    }
                    // Only a sidecar makes a metadata file; a metadata
                    // patch went into the media.
                    if let Some(m) = metadata.filter(|_| done.metadata_written > 0) {
                        m.commit()?;
                    }
                }
            }
        }
        let logged = self.report_opened(client, log, opened)?;
        Ok(Opened {
            opened,
            opened_entry: logged.log_index,
            clips,
            originals,
        })
    }

    /// The clean clip of `rec` (opened into `original`) into `out`: with
    /// Content Credentials when built with them (feature `c2pa`), the
    /// unsigned and the signed clip staged in `dir` meanwhile (unlinked
    /// files, gone when closed).
    #[cfg(feature = "c2pa")]
    fn clip(
        &self,
        client: &AccessClient<'_>,
        log: &LogClient,
        dir: &Path,
        rec: &Resolved,
        original: &mut File,
        out: &mut File,
    ) -> Result<obhut_media::ClipPlan> {
        use std::io::Seek;
        let scratch = tempfile::tempfile_in(dir).map_err(Error::Write)?;
        // The C2PA writer reads back what it wrote; `out` is write-only.
        let mut signed = tempfile::tempfile_in(dir).map_err(Error::Write)?;
        let state = log.load_state()?;
        // The device's display name only if its own key signed it: the
        // manifest states no name a reader could not check.
        let device = rec
            .records
            .first()
            .map(|r| r.header().fields.device_key.to_bytes());
        let name = device.and_then(|d| {
            match crate::names::Names::fetch_or_none(client.reader(), &[d], &[]).get(&d) {
                Some(crate::names::Name::Verified(n)) => Some(n.clone()),
                _ => None,
            }
        });
        let (plan, _) = crate::clip::write_signed_clip(
            &self.request,
            self.request_index,
            rec,
            state.as_ref(),
            name,
            original,
            scratch,
            &mut signed,
        )?;
        signed.rewind().map_err(Error::Write)?;
        std::io::copy(&mut signed, out).map_err(Error::Write)?;
        Ok(plan)
    }

    #[cfg(not(feature = "c2pa"))]
    fn clip(
        &self,
        _client: &AccessClient<'_>,
        _log: &LogClient,
        _dir: &Path,
        rec: &Resolved,
        original: &mut File,
        out: &mut File,
    ) -> Result<obhut_media::ClipPlan> {
        crate::clip::write_clip(&self.request, rec, original, out)
    }

    /// Report `segments` opened (`POST …/opened`) and prove the report
    /// logged, as ours: an opening the vault acknowledges but leaves out of
    /// the log (or attributes to someone else) is caught here.
    pub fn report_opened(
        &self,
        client: &AccessClient<'_>,
        log: &LogClient,
        segments: u32,
    ) -> Result<Logged> {
        let report = client
            .reader()
            .sign_decision(DecisionContent {
                verdict: Verdict::Opened,
                vault: client.reader().vault(),
                request_hash: self.request.request_hash(),
                request_index: self.request_index,
                custodian: 0,
                segments,
                time_ms: now_ms(),
                reason: String::new(),
            })
            .map_err(Error::Decision)?;
        let logged = client.opened(&self.request_hash, &report)?;
        // Our signed report, word for word (the entry's parse checked that
        // its actor is the signer).
        confirm_logged(log, &logged, "your report of the opening", |e| {
            e.event.decision() == Some(&report)
        })?;
        Ok(logged)
    }

    /// Partials the combine skipped because they failed a check; k others
    /// were valid (docs/format.md §8.4). A caller shows each to the person:
    /// a custodian's client or the vault is misbehaving.
    pub fn rejected_partials(&self) -> &[obhut_core::error::RejectedPartial] {
        self.keys.rejected()
    }

    /// Segments of the scoped recordings left sealed.
    pub fn sealed(&self) -> usize {
        self.resolved.iter().map(Resolved::sealed).sum()
    }

    /// All covered records.
    pub fn covered(&self) -> impl Iterator<Item = &SegmentRecord> {
        self.resolved.iter().flat_map(Resolved::covered)
    }
}

/// What [`Grant::write_to_dir`] did.
#[derive(Debug)]
pub struct Opened {
    /// Segments decrypted.
    pub opened: u32,
    /// Log index of the `opened` report.
    pub opened_entry: u64,
    /// The clean clips written ([`FileLayout::Clip`]).
    pub clips: Vec<ClipMade>,
    /// Recordings written in the original layout although a clip was
    /// asked for, and why (not a progressive MP4, …).
    pub originals: Vec<(RecordingId, String)>,
}

/// What [`Grant::write_to_dir`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAs {
    /// A file per recording, in this layout.
    Files(FileLayout),
    /// Bytes `[start, end)` (`end`: the media's end if `None`) of the one
    /// recording in scope.
    Range(u64, Option<u64>),
}

/// A clean clip [`Grant::write_to_dir`] wrote: `DIR/<recording>.mp4`.
#[derive(Debug, Clone, Copy)]
pub struct ClipMade {
    /// The recording.
    pub recording: RecordingId,
    /// Where its first frame is in the recording (ms).
    pub start_ms: u64,
    /// Where its last frame ends in the recording (ms).
    pub end_ms: u64,
}
