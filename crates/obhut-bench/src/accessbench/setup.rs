//! The access benchmark's world, built untimed: a vault, a group, a
//! device enrolled, one long recording sealed and uploaded, a requester.

use std::sync::Arc;
use std::time::{Duration, Instant};

use obhut_api::log::KeyResponse;
use obhut_client::log::{LogClient, MemoryCheckpoint};
use obhut_core::audit::Event;
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochPublic;
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_log::{VerifierKey, WitnessPolicy};
use obhut_server::SystemClock;
use obhut_server::config::FileConfig;
use obhut_server::testkit::{
    InProcess, Sealed, TestGroup, VaultIds, create_token, http, operator_entry, put_sealed,
    signed_headers,
};
use obhut_store::{AccessStore, IndexStore};

use super::{AccessArgs, CLASS, Error, SEGMENT_MS, World, b64, check, now_ms};

/// The plaintext of segment `index`: `len` pseudo-random bytes, reproducible
/// so that opened segments can be compared without keeping them.
pub(super) fn payload(index: u32, len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(index) << 17) ^ 0x5851_f42d;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

impl World {
    pub(super) fn setup(a: &AccessArgs, work: tempfile::TempDir) -> Result<(World, Ingest), Error> {
        let vault = InProcess::start_with(
            &work.path().join("data"),
            &work.path().join("keys"),
            Arc::new(SystemClock),
            FileConfig::default(),
        );
        let group = TestGroup::new(2, 3);
        let device = SignKey::generate(&mut os_rng());
        let token = vault.block_on(create_token(
            &vault.app.index,
            &group.pinned,
            CLASS,
            now_ms(),
        ));
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(device.verify_key().to_bytes()),
        }))?;
        let h = signed_headers(
            &VaultIds::ENROL,
            &device,
            false,
            "POST",
            "/v1/enrol",
            now_ms(),
            &body_sha256(&body),
        );
        check(
            &http(vault.addr, "POST", "/v1/enrol", &h, &body)?,
            200,
            "enrol",
        )?;

        // The recording is yesterday's shift: the whole of it inside one
        // epoch (the device seals a recording under one epoch key).
        let e = http(
            vault.addr,
            "GET",
            &format!("/v1/epochs?class={CLASS}"),
            &[],
            &[],
        )?;
        check(&e, 200, "epochs")?;
        let cur = &e.json()["current"];
        let (nb, na) = (
            cur["not_before"].as_i64().unwrap_or(0),
            cur["not_after"].as_i64().unwrap_or(0),
        );
        let period = na - nb;
        let media_ms = a.media_segments() * SEGMENT_MS;
        if media_ms as i64 > period {
            return Err(format!(
                "a {} h recording does not fit in one epoch of {} h; pass a smaller --hours",
                a.hours,
                period / 3_600_000
            )
            .into());
        }
        let capture0 = nb - period;
        // The vault makes a past period's epoch only for an enrolled device
        // that asks (signed), as the agent does for footage docked late.
        let path = format!("/v1/epochs?class={CLASS}&at={capture0}");
        let h = signed_headers(
            &vault.ids(),
            &device,
            false,
            "GET",
            &path,
            now_ms(),
            &body_sha256(&[]),
        );
        let e = http(vault.addr, "GET", &path, &h, &[])?;
        check(&e, 200, "epochs?at")?;
        let epoch =
            EpochPublic::from_bytes(&b64(e.json()["covering"]["public"].as_str().unwrap_or(""))?)?;

        let rid = RecordingId::random(&mut os_rng());
        let ingest = ingest(a, &vault, &group, &device, &epoch, rid, capture0)?;

        let requester = PersonSecret::generate("investigator", &mut os_rng());
        let gid = group.pinned.group_id();
        let t = now_ms();
        for key in group
            .custodians
            .iter()
            .map(|c| &c.sign)
            .chain([&requester.sign])
        {
            let k = key.verify_key().to_bytes();
            vault.block_on(vault.app.index.add_reader(
                k,
                gid,
                t,
                &operator_entry(
                    t,
                    Event::ReaderAdded {
                        person_key: k,
                        group_id: gid,
                    },
                ),
            ))?;
        }
        let k = requester.sign.verify_key().to_bytes();
        vault.block_on(vault.app.index.add_requester(
            k,
            gid,
            t,
            &operator_entry(
                t,
                Event::RequesterAdded {
                    person_key: k,
                    name: "requester".into(),
                    group_id: gid,
                },
            ),
        ))?;

        // The log key, pinned here from the vault's own answer (a real
        // client takes it from its organisation).
        let kr = http(vault.addr, "GET", "/v1/log/key", &[], &[])?;
        check(&kr, 200, "log key")?;
        let kr: KeyResponse = serde_json::from_slice(&kr.body)?;
        let log = LogClient::new(
            &format!("http://{}", vault.addr),
            VerifierKey::parse(&kr.vkey).map_err(|e| format!("log key: {e}"))?,
            WitnessPolicy::none(),
            Box::new(MemoryCheckpoint::default()),
        );
        let records = ingest.records.clone();
        Ok((
            World {
                _work: work,
                vault,
                group,
                requester,
                rid,
                records,
                segment_bytes: a.segment_bytes(),
                log,
            },
            ingest,
        ))
    }
}

/// What the ingest did.
pub(super) struct Ingest {
    pub(super) records: Vec<SegmentRecord>,
    pub(super) elapsed: Duration,
    pub(super) blob_bytes: u64,
}

/// Seal (one thread) and upload (this thread) the recording.
fn ingest(
    a: &AccessArgs,
    vault: &InProcess,
    group: &TestGroup,
    device: &SignKey,
    epoch: &EpochPublic,
    rid: RecordingId,
    capture0: i64,
) -> Result<Ingest, Error> {
    let media = a.media_segments();
    let n = media + 1;
    let len = a.segment_bytes();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Sealed>(8);
    let started = Instant::now();
    let sealed = std::thread::scope(|s| {
        let sealer = s.spawn(move || -> Result<(), String> {
            let mut sealer = RecordingSealer::new(device, &group.pinned, epoch, rid);
            let mut rng = os_rng();
            for i in 0..n {
                let spec = if i < media {
                    SegmentSpec {
                        kind: SegmentKind::Media,
                        media_start_ms: i * SEGMENT_MS,
                        media_end_ms: (i + 1) * SEGMENT_MS,
                        capture_utc_ms: capture0 + (i * SEGMENT_MS) as i64,
                        is_final: false,
                    }
                } else {
                    // The container index (`moov` last), written at the end.
                    SegmentSpec {
                        kind: SegmentKind::ContainerIndex,
                        media_start_ms: 0,
                        media_end_ms: 0,
                        capture_utc_ms: capture0,
                        is_final: true,
                    }
                };
                let p = payload(i as u32, len);
                let mut blob = Vec::with_capacity(len + len / 512 + 4096);
                let record = sealer
                    .seal_segment(spec, &p[..], &mut blob, &mut rng)
                    .map_err(|e| e.to_string())?;
                if tx.send(Sealed { record, blob }).is_err() {
                    return Ok(()); // the uploader failed and says why
                }
            }
            Ok(())
        });
        let mut records = Vec::with_capacity(n as usize);
        let mut bytes = 0u64;
        for s in rx {
            let r = put_sealed(vault.addr, &vault.ids(), device, &s, now_ms())
                .map_err(|e| format!("upload: {e}"))?;
            if r.status != 201 {
                return Err(format!(
                    "upload of segment {}: HTTP {}: {}",
                    s.record.segment_ref().index,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            bytes += s.blob.len() as u64;
            records.push(s.record);
            if records.len() % 600 == 0 {
                eprintln!("  ingested {} of {n} segments", records.len());
            }
        }
        sealer
            .join()
            .map_err(|_| "the sealer panicked".to_owned())??;
        Ok((records, bytes))
    });
    let (records, blob_bytes) = sealed.map_err(Error::from)?;
    Ok(Ingest {
        records,
        elapsed: started.elapsed(),
        blob_bytes,
    })
}
