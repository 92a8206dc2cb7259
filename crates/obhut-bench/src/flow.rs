//! The real seal and open paths, end to end, on files: a 2-of-3 custody
//! group, a device, an epoch key, a requester. Keys are generated per run
//! and kept in DIR/keys so that `open` can play requester, custodians and
//! vault for what `seal` wrote.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use obhut_core::access::{GrantKeys, records_in_scope};
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::{EpochPublic, EpochRelease, EpochSecret, ReleaseEntry};
use obhut_core::group::{self, PinnedGroup, ShareEnvelope};
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::partial::custodian_partial;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{GrantRef, RequestContent, Scope};
use obhut_core::rng::{DeterministicRng, os_rng};
use obhut_core::secret::Secret32;
use obhut_core::segment::SegmentKind;
use obhut_core::stream::PlaintextReader;

use crate::{Figure, peak_rss_mib};

type Error = Box<dyn std::error::Error>;

/// Segment size: a minute or so of bodycam video.
const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;

pub(crate) struct Cast {
    custodians: Vec<PersonSecret>,
    requester: PersonSecret,
    pub(crate) device: SignKey,
    epoch: EpochSecret,
    epoch_public: EpochPublic,
    pub(crate) group: PinnedGroup,
    shares: Vec<ShareEnvelope>,
}

/// `seal` and `open` run as separate processes; they share the cast by
/// deriving it from a seed stored in DIR. A benchmark, not a key store.
pub(crate) fn cast(seed: [u8; 32]) -> Result<Cast, Error> {
    let mut rng = DeterministicRng::new(seed);
    let custodians: Vec<PersonSecret> = (1..=3)
        .map(|i| PersonSecret::generate(&format!("custodian {i}"), &mut rng))
        .collect();
    let requester = PersonSecret::generate("requester", &mut rng);
    let device = SignKey::generate(&mut rng);
    let epoch = EpochSecret::generate(EpochId([1; 16]), &mut rng);
    let epoch_public = epoch.public("bench", 0, i64::MAX);
    let publics: Vec<_> = custodians.iter().map(PersonSecret::public).collect();
    let (mut descriptor, shares) = group::deal("bench", 2, 3, &publics, &mut rng)?;
    for (c, env) in custodians.iter().zip(&shares) {
        let share = env.open(c, &descriptor)?;
        group::sign_descriptor(&mut descriptor, &share, c)?;
    }
    let group = descriptor.pin()?;
    Ok(Cast {
        custodians,
        requester,
        device,
        epoch,
        epoch_public,
        group,
        shares,
    })
}

/// seal INPUT DIR THREADS: cut INPUT into 32 MiB segments and seal them as
/// one recording; THREADS workers seal segments in parallel, then the
/// records are signed in order.
pub fn seal(input: &Path, dir: &Path, threads: usize) -> Result<(), Error> {
    fs::create_dir_all(dir)?;
    let seed = obhut_core::rng::random_32(&mut os_rng());
    fs::write(dir.join("seed"), seed)?;
    let cast = cast(seed)?;
    let len = fs::metadata(input)?.len();
    let count = len.div_ceil(SEGMENT_BYTES).max(1) as u32;
    let recording = RecordingId::random(&mut os_rng());
    let mut sealer = RecordingSealer::new(&cast.device, &cast.group, &cast.epoch_public, recording);
    let spec = |i: u32| SegmentSpec {
        kind: SegmentKind::Media,
        media_start_ms: u64::from(i) * 60_000,
        media_end_ms: u64::from(i + 1) * 60_000,
        capture_utc_ms: 1_764_000_000_000 + i64::from(i) * 60_000,
        is_final: i + 1 == count,
    };

    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let sealed = std::thread::scope(|s| -> Result<Vec<_>, Error> {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| -> Result<Vec<_>, String> {
                    let mut rng = os_rng();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as u32;
                        if i >= count {
                            return Ok(done);
                        }
                        let mut file = File::open(input).map_err(|e| e.to_string())?;
                        file.seek(SeekFrom::Start(u64::from(i) * SEGMENT_BYTES))
                            .map_err(|e| e.to_string())?;
                        let reader = PlaintextReader::new(file.take(SEGMENT_BYTES));
                        let out = File::create(dir.join(format!("{i}.seg")))
                            .map_err(|e| e.to_string())?;
                        let writer = out;
                        let seg = sealer
                            .seal_at(i, spec(i), reader, writer, &mut rng)
                            .map_err(|e| e.to_string())?;
                        done.push(seg);
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().map_err(|_| "seal worker panicked")??);
        }
        Ok(all)
    })?;
    let mut sealed = sealed;
    sealed.sort_by_key(|s| s.header.fields.segment_index);
    for seg in &sealed {
        let i = seg.header.fields.segment_index;
        let record = sealer.sign_next(seg, spec(i).is_final)?;
        fs::write(dir.join(format!("{i}.rec")), record.to_bytes())?;
    }
    let elapsed = start.elapsed();
    let mut f = Figure::new(
        &format!("obhut seal (32 MiB segments, {threads} thread(s))"),
        len,
        elapsed,
    );
    f.cores = threads;
    f.print();
    Ok(())
}

/// seal-mem BYTES THREADS: the same sealing path from a buffer in memory
/// into a sink, so the figure shows the crypto pipeline without the
/// kernel's page-cache copies (which `seal` pays, as `cp` does).
pub fn seal_in_memory(bytes: u64, threads: usize) -> Result<(), Error> {
    let seed = obhut_core::rng::random_32(&mut os_rng());
    let cast = cast(seed)?;
    let data = vec![0x5au8; SEGMENT_BYTES as usize];
    let count = bytes.div_ceil(SEGMENT_BYTES).max(1) as u32;
    let sealer = RecordingSealer::new(
        &cast.device,
        &cast.group,
        &cast.epoch_public,
        RecordingId([9; 16]),
    );
    let spec = SegmentSpec {
        kind: SegmentKind::Media,
        media_start_ms: 0,
        media_end_ms: 60_000,
        capture_utc_ms: 1_764_000_000_000,
        is_final: false,
    };
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut rng = os_rng();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as u32;
                    if i >= count {
                        return;
                    }
                    let sealed = sealer.seal_at(i, spec, &data[..], std::io::sink(), &mut rng);
                    std::hint::black_box(sealed.expect("sealing into a sink cannot fail"));
                }
            });
        }
    });
    let mut f = Figure::new(
        &format!("obhut seal, memory to sink (32 MiB segments, {threads} thread(s))"),
        u64::from(count) * SEGMENT_BYTES,
        start.elapsed(),
    );
    f.cores = threads;
    f.print();
    Ok(())
}

/// open DIR OUTPUT THREADS: play the requester (a whole-recording request),
/// two custodians and the vault to recover every segment's keys, then open
/// all segments into OUTPUT with THREADS workers, verifying each blob's
/// hash against its signed record.
pub fn open(dir: &Path, output: &Path, threads: usize) -> Result<(), Error> {
    let seed: [u8; 32] = fs::read(dir.join("seed"))?
        .try_into()
        .map_err(|_| "bad seed file")?;
    let cast = cast(seed)?;
    let mut records = Vec::new();
    for i in 0.. {
        match fs::read(dir.join(format!("{i}.rec"))) {
            Ok(bytes) => records.push(SegmentRecord::from_bytes(&bytes)?),
            Err(_) => break,
        }
    }
    obhut_core::chain::verify_chain(&records, &[cast.group.group_key()])?;
    let mut rng = os_rng();

    let keys_start = Instant::now();
    let recording = records.first().ok_or("no records")?.segment_ref().recording;
    let request = RequestContent {
        request_id: [2; 16],
        group_id: cast.group.group_id(),
        generation: cast.group.generation(),
        scope: vec![Scope::Recording {
            recording_id: recording,
            media_start_ms: 0,
            media_end_ms: u64::MAX,
            include_metadata: false,
        }],
        purpose: "benchmark".into(),
        justification: "measuring open throughput".into(),
        legal_basis: "none (synthetic data)".into(),
        case_ref: "BENCH-1".into(),
        recipients: vec![],
        created_utc_ms: 0,
        expires_utc_ms: i64::MAX,
    }
    .sign(&cast.requester)?;
    let grant = GrantRef::new(0, &request);
    let in_scope = records_in_scope(&request, &records);
    let owned: Vec<SegmentRecord> = in_scope.iter().map(|r| (*r).clone()).collect();
    let partials = cast.custodians[..2]
        .iter()
        .zip(&cast.shares)
        .map(|(c, env)| {
            let share = env.open(c, &cast.group)?;
            custodian_partial(
                c,
                &share,
                &cast.group,
                &request,
                &grant,
                &owned,
                obhut_core::partial::Runs::in_records(&records),
                0,
                &mut rng,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let release = EpochRelease {
        grant_log_index: grant.log_index,
        request_hash: grant.request_hash,
        requester_fpr: request.requester_fingerprint(),
        entries: in_scope
            .iter()
            .map(|r| {
                let f = &r.header().fields;
                let b: Secret32 = cast.epoch.unwrap(
                    &f.epoch_wrap,
                    f.recording_id,
                    &f.device_key,
                    f.segment_index,
                )?;
                Ok(ReleaseEntry::seal(
                    &b,
                    r.segment_ref(),
                    &grant.request_hash,
                    request.requester_kem(),
                    &mut rng,
                ))
            })
            .collect::<Result<_, obhut_core::Error>>()?,
    };
    let keys = GrantKeys::recover(
        &cast.group,
        &request,
        &grant,
        &in_scope,
        &partials,
        &release,
        &cast.requester,
    )?;
    let keys_elapsed = keys_start.elapsed();

    if output == Path::new("-") {
        return open_from_memory(dir, &records, &keys, threads);
    }
    let out = File::create(output)?;
    let offsets: Vec<u64> = records
        .iter()
        .scan(0u64, |acc, r| {
            let at = *acc;
            *acc += r.plaintext_len();
            Some(at)
        })
        .collect();
    let total: u64 = records.iter().map(SegmentRecord::plaintext_len).sum();
    out.set_len(total)?;
    let start = Instant::now();
    for_each_segment(threads, records.len(), |i| {
        let blob = File::open(dir.join(format!("{i}.seg"))).map_err(|e| e.to_string())?;
        let writer = AtWriter {
            file: &out,
            at: offsets[i],
        };
        keys.open_segment(&records[i], blob, writer)
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    let elapsed = start.elapsed();
    let mut f = Figure::new(
        &format!("obhut open + verify hash ({threads} thread(s))"),
        total,
        elapsed,
    );
    f.cores = threads;
    f.print();
    println!(
        "| obhut key recovery: request, 2 partials, release, combine ({} segments) | 1 | {:.1} ms | {} MiB |",
        records.len(),
        keys_elapsed.as_secs_f64() * 1e3,
        peak_rss_mib()
    );
    Ok(())
}

/// Writes sequentially into a shared file from a fixed offset.
struct AtWriter<'f> {
    file: &'f File,
    at: u64,
}

impl Write for AtWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_all_at(buf, self.at)?;
        self.at += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The open path without the kernel's copies: every blob is read into
/// memory first (not timed), then opened and hash-checked into a sink.
fn open_from_memory(
    dir: &Path,
    records: &[SegmentRecord],
    keys: &GrantKeys,
    threads: usize,
) -> Result<(), Error> {
    let blobs = (0..records.len())
        .map(|i| fs::read(dir.join(format!("{i}.seg"))))
        .collect::<Result<Vec<_>, _>>()?;
    let total: u64 = records.iter().map(SegmentRecord::plaintext_len).sum();
    let start = Instant::now();
    for_each_segment(threads, records.len(), |i| {
        keys.open_segment_buffered(&records[i], &blobs[i][..], std::io::sink())
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    let mut f = Figure::new(
        &format!("obhut open + verify hash, memory to sink ({threads} thread(s))"),
        total,
        start.elapsed(),
    );
    f.cores = threads;
    f.print();
    Ok(())
}

/// Run `work(i)` for every segment index `0..count` on `threads` workers
/// that take the next index as they finish; the first error wins.
fn for_each_segment(
    threads: usize,
    count: usize,
    work: impl Fn(usize) -> Result<(), String> + Sync,
) -> Result<(), Error> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<(), Error> {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| -> Result<(), String> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        work(i)?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "open worker panicked")??;
        }
        Ok(())
    })
}
