//! Shared pieces of Obhut's fuzz targets: a deterministic RNG, the fixed
//! sealed segments and signed records that the decryption and chain targets
//! start from, the round-trip check every parser target applies, and the
//! seed corpora (`examples/gen_seeds.rs` writes them).
//!
//! Everything here is deterministic: the same build gives the same
//! fixtures and byte-identical seeds, so a crash input found against one
//! run's fixtures reproduces against another's.

use std::sync::OnceLock;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use obhut_core::epoch::{EpochRelease, EpochSecret, EpochWrap, ReleaseEntry};
use obhut_core::group;
use obhut_core::hpke_wrap::ENC_LEN;
use obhut_core::hpke_wrap::KemSecretKey;
use obhut_core::identity::{DeviceSecret, PersonSecret, SignKey};
use obhut_core::ids::Fingerprint;
use obhut_core::ids::{EpochId, GroupId, RecordingId, SegmentRef};
use obhut_core::kem::{self, CapsuleContext, GroupKey};
use obhut_core::locked::{self, Content, KdfParams};
use obhut_core::partial::custodian_partial;
use obhut_core::pq_custody::{CustodyRun, SegmentCustody};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{GrantRef, RequestContent, Scope};
use obhut_core::secret::{Secret32, SecretBytes};
use obhut_core::segment::{HeaderFields, KeyParts, SegmentKind, SegmentOpener, seal_payload};

/// A deterministic CSPRNG-shaped generator (BLAKE3 in XOF mode over a
/// label). For fixtures and seeds only: never for anything real.
pub struct DetRng(blake3::OutputReader);

impl DetRng {
    /// A generator whose stream is determined by `label`.
    pub fn new(label: &str) -> Self {
        let mut h = blake3::Hasher::new_derive_key("obhut-fuzz deterministic rng v1");
        h.update(label.as_bytes());
        DetRng(h.finalize_xof())
    }
}

impl rand_core::TryRng for DetRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for DetRng {}

/// Deterministic filler bytes.
pub fn det_bytes(label: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand_core::Rng::fill_bytes(&mut DetRng::new(label), &mut out);
    out
}

/// The round trip every parser target asserts: if `parse(data)` succeeds,
/// the value's canonical encoding is `data` exactly.
#[macro_export]
macro_rules! roundtrip {
    ($data:expr, $parse:expr, $encode:expr) => {{
        let data: &[u8] = $data;
        if let Ok(v) = $parse(data) {
            let again: Vec<u8> = $encode(&v);
            assert!(
                again.as_slice() == data,
                "parse-then-serialize changed the input:\n input {}\noutput {}",
                $crate::hex(data),
                $crate::hex(&again)
            );
            Some(v)
        } else {
            None
        }
    }};
}

/// Lowercase hex, for assertion messages.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The passphrase of the `locked_unlock` target and its seeds.
pub const PASSPHRASE: &[u8] = b"correct horse battery staple";

// ---------------------------------------------------------------------------
// Sealed segments for `segment_open`.

/// Custody part `a` of every fixture segment.
pub const FIXED_A: [u8; 32] = [0x11; 32];
/// Epoch part `b` of every fixture segment.
pub const FIXED_B: [u8; 32] = [0x22; 32];
/// The post-quantum part `c` every fixture segment is sealed with.
pub const FIXED_C: [u8; 32] = [0x33; 32];

/// The fixed key parts (a, b, c) of the fixture segments.
pub fn fixed_parts() -> KeyParts {
    KeyParts {
        a: Secret32::new(FIXED_A),
        b: Secret32::new(FIXED_B),
        c: Secret32::new(FIXED_C),
    }
}

/// A well-formed custody block for `fields`' segment (§5.6): one custodian,
/// a run starting at this segment. Its shares are of another c than
/// [`FIXED_C`]: the fixtures open with the fixed parts, not through shares.
pub fn fixture_custody(fields: &HeaderFields) -> SegmentCustody {
    let mut rng = DetRng::new("custody fixture");
    let kem = KemSecretKey::from_seed(Secret32::new([0x77; 32])).public_key();
    CustodyRun::for_custodians(
        &[(Fingerprint([0x78; 32]), &kem)],
        1,
        fields.recording_id,
        &fields.device_key,
        fields.segment_index,
        &mut rng,
    )
    .seal_c(fields.segment_index, &fields.header_hash(), &mut rng)
    .1
}

/// A group key P = 7·G (the threshold side is not exercised here).
pub fn fixture_group_key() -> GroupKey {
    GroupKey {
        group_id: GroupId([0x47; 16]),
        generation: 1,
        key: RistrettoPoint::mul_base(&Scalar::from(7u64)),
    }
}

/// A device signing key from a fixed seed.
pub fn fixture_device(n: u8) -> SignKey {
    SignKey::from_seed(&Secret32::new([0xd0 ^ n; 32]))
}

/// Header fields with a real capsule (valid points and proof) and a
/// deterministic epoch wrap. The capsule's own `a` is discarded: the
/// segment keys come from whatever `a` the caller seals with.
pub fn fixture_fields(
    device: &SignKey,
    recording_id: RecordingId,
    index: u32,
    kind: SegmentKind,
) -> HeaderFields {
    let label = format!("fields {} {index} {}", hex(&recording_id.0), kind.to_u8());
    let mut rng = DetRng::new(&label);
    let group = fixture_group_key();
    // The same times as the fields below: the proof binds them (§5.3).
    let ctx = CapsuleContext {
        recording_id,
        device_key: device.verify_key().to_bytes(),
        segment_index: index,
        kind: kind.to_u8(),
        media_start_ms: u64::from(index) * 2000,
        media_end_ms: u64::from(index) * 2000 + 2000,
        capture_utc_ms: 1_790_000_000_000 + i64::from(index) * 2000,
    };
    let (capsule, _a) = kem::encapsulate(&group, &ctx, &mut rng);
    let enc: [u8; ENC_LEN] = det_bytes(&format!("{label} enc"), ENC_LEN)
        .try_into()
        .expect("ENC_LEN bytes");
    let ct: [u8; 48] = det_bytes(&format!("{label} ct"), 48)
        .try_into()
        .expect("48 bytes");
    HeaderFields {
        kind,
        recording_id,
        device_key: device.verify_key(),
        segment_index: index,
        media_start_ms: u64::from(index) * 2000,
        media_end_ms: u64::from(index) * 2000 + 2000,
        capture_utc_ms: 1_790_000_000_000 + i64::from(index) * 2000,
        capsule,
        epoch_wrap: EpochWrap {
            epoch_id: EpochId([0xe9; 16]),
            enc: Box::new(enc),
            ct,
        },
    }
}

/// Valid metadata patches (docs/format.md §7.4): one entry, and a box
/// followed by two runs of samples.
fn metadata_patch_seeds() -> Vec<Vec<u8>> {
    use obhut_core::meta_patch::{MetadataPatch, PatchEntry};
    let udta = [&[0, 0, 0, 16][..], b"udta", b"OFFICER1"].concat();
    let one = MetadataPatch::new(
        100,
        vec![PatchEntry {
            offset: 40,
            data: &udta,
        }],
    );
    let three = MetadataPatch::new(
        1 << 20,
        vec![
            PatchEntry {
                offset: 8,
                data: b"\0\x05GPS 1",
            },
            PatchEntry {
                offset: 4096,
                data: b"\0\x05GPS 2\0\x05GPS 3",
            },
            PatchEntry {
                offset: 900_000,
                data: &udta,
            },
        ],
    );
    [one, three]
        .into_iter()
        .filter_map(Result::ok)
        .map(|p| p.to_bytes())
        .collect()
}

/// The header and epoch secret the `epoch_rewrap` target unwraps against:
/// segment 3 of a fixed recording whose `b` is really wrapped to the
/// secret's epoch, so a mutated re-wrap reaches every check (§5.5).
pub fn rewrap_fixture() -> (
    &'static obhut_core::segment::SegmentHeader,
    &'static EpochSecret,
) {
    static F: OnceLock<(obhut_core::segment::SegmentHeader, EpochSecret)> = OnceLock::new();
    let (h, s) = F.get_or_init(|| {
        let mut rng = DetRng::new("rewrap fixture");
        let device = fixture_device(4);
        let mut fields = fixture_fields(&device, RecordingId([0x4e; 16]), 3, SegmentKind::Media);
        let old = EpochSecret::generate(EpochId([0x01; 16]), &mut rng);
        let b = Secret32::new([0x44; 32]);
        fields.epoch_wrap =
            old.public("c", 0, 1)
                .wrap(&b, fields.recording_id, &fields.device_key, 3, &mut rng);
        let parts = KeyParts {
            a: Secret32::new([0x45; 32]),
            b,
            c: Secret32::new([0x46; 32]),
        };
        let custody = fixture_custody(&fields);
        let sealed =
            seal_payload(fields, custody, &parts, &b"x"[..], std::io::sink()).expect("seals");
        (
            sealed.header,
            EpochSecret::generate(EpochId([0x02; 16]), &mut rng),
        )
    });
    (h, s)
}

/// The successor the `run_handover` target opens handovers as.
pub fn handover_successor() -> (&'static Fingerprint, &'static KemSecretKey) {
    static S: OnceLock<(Fingerprint, KemSecretKey)> = OnceLock::new();
    let (f, k) = S.get_or_init(|| {
        let me = PersonSecret::generate("successor", &mut DetRng::new("handover successor"));
        (me.public().fingerprint(), me.kem)
    });
    (f, k)
}

/// Handovers of the custody run of a fixture record to
/// [`handover_successor`], from its one custodian.
fn handover_seeds(rng: &mut DetRng) -> Vec<Vec<u8>> {
    use obhut_core::pq_custody::RunHandover;
    let custodian = PersonSecret::generate("run custodian", &mut DetRng::new("run custodian"));
    let device = fixture_device(5);
    let fields = fixture_fields(&device, RecordingId([0x4f; 16]), 0, SegmentKind::Media);
    let mut r = DetRng::new("handover run");
    let kem = custodian.public().kem_key;
    let (_, custody) = CustodyRun::for_custodians(
        &[(custodian.public().fingerprint(), &kem)],
        1,
        fields.recording_id,
        &fields.device_key,
        0,
        &mut r,
    )
    .seal_c(0, &fields.header_hash(), &mut r);
    let (to, _) = handover_successor();
    let to_kem = PersonSecret::generate("successor", &mut DetRng::new("handover successor"))
        .public()
        .kem_key;
    vec![
        RunHandover::create(
            &custodian,
            &custody,
            fields.recording_id,
            &fields.device_key,
            *to,
            &to_kem,
            rng,
        )
        .expect("the custodian hands its position over")
        .to_bytes(),
    ]
}

/// Valid re-wraps of the [`rewrap_fixture`] segment, one per reason.
fn rewrap_seeds(rng: &mut DetRng) -> Vec<Vec<u8>> {
    use obhut_core::rewrap::{EpochRewrap, RewrapReason};
    let (header, secret) = rewrap_fixture();
    let to = secret.public("c", 0, 1);
    let b = Secret32::new([0x44; 32]);
    [RewrapReason::EpochSplit, RewrapReason::LegalHold]
        .into_iter()
        .map(|r| EpochRewrap::seal(&b, header, r, &to, rng).to_bytes())
        .collect()
}

/// One sealed segment and an opener for it.
pub struct OpenFixture {
    /// The plaintext that was sealed.
    pub plaintext: Vec<u8>,
    /// The blob (header ‖ chunks).
    pub blob: Vec<u8>,
    /// The header bytes (`blob[..1452]`).
    pub header: Vec<u8>,
    /// Opener built from the fixed `a`, `b` and the header.
    pub opener: SegmentOpener,
}

fn open_fixture(plaintext_len: usize, index: u32) -> OpenFixture {
    let device = fixture_device(0);
    let fields = fixture_fields(&device, RecordingId([0x52; 16]), index, SegmentKind::Media);
    let plaintext = det_bytes(&format!("plaintext {plaintext_len}"), plaintext_len);
    let parts = fixed_parts();
    let custody = fixture_custody(&fields);
    let mut blob = Vec::new();
    let sealed = seal_payload(fields, custody, &parts, &plaintext[..], &mut blob).expect("seals");
    let opener = SegmentOpener::from_header(&sealed.header, &parts).expect("opens");
    OpenFixture {
        header: sealed.header.to_bytes(),
        plaintext,
        blob,
        opener,
    }
}

/// A one-chunk segment (300 bytes of plaintext, 1768-byte blob): the
/// fuzzer supplies the whole blob.
pub fn small_segment() -> &'static OpenFixture {
    static F: OnceLock<OpenFixture> = OnceLock::new();
    F.get_or_init(|| open_fixture(300, 0))
}

/// A three-chunk segment (2·65 536 + 100 bytes): the fuzzer edits it.
pub fn large_segment() -> &'static OpenFixture {
    static F: OnceLock<OpenFixture> = OnceLock::new();
    F.get_or_init(|| open_fixture(2 * 65_536 + 100, 1))
}

/// A segment with no plaintext (one empty final chunk).
pub fn empty_segment() -> &'static OpenFixture {
    static F: OnceLock<OpenFixture> = OnceLock::new();
    F.get_or_init(|| open_fixture(0, 2))
}

// ---------------------------------------------------------------------------
// Signed records for `chain_structure`.

/// Sign a record for segment `index` of `recording_id` by device `dev`.
pub fn fixture_record(
    dev: u8,
    recording_id: RecordingId,
    index: u32,
    prev: [u8; 32],
    is_final: bool,
    payload: &str,
) -> SegmentRecord {
    let device = fixture_device(dev);
    let fields = fixture_fields(&device, recording_id, index, SegmentKind::Media);
    let plaintext = det_bytes(payload, 64 + index as usize);
    let custody = fixture_custody(&fields);
    let sealed = seal_payload(
        fields,
        custody,
        &fixed_parts(),
        &plaintext[..],
        std::io::sink(),
    )
    .expect("seals");
    SegmentRecord::sign(&device, &sealed, prev, is_final).expect("signs")
}

/// The record pool of the chain target; an input byte below 0x80 names
/// `pool[byte % len]`. `pool[0..4]` is a valid chain of recording R1 by
/// device D1 (index 3 final); the rest are faulty neighbours.
pub fn chain_pool() -> &'static [SegmentRecord] {
    static P: OnceLock<Vec<SegmentRecord>> = OnceLock::new();
    P.get_or_init(|| {
        let r1 = RecordingId([0x01; 16]);
        let r2 = RecordingId([0x02; 16]);
        let mut pool: Vec<SegmentRecord> = Vec::new();
        let mut prev = [0u8; 32];
        for i in 0..4u32 {
            let rec = fixture_record(1, r1, i, prev, i == 3, "chain");
            prev = rec.record_hash();
            pool.push(rec);
        }
        let h0 = pool[0].record_hash();
        let h1 = pool[1].record_hash();
        // 4: an equivocating twin of segment 1.
        pool.push(fixture_record(1, r1, 1, h0, false, "twin"));
        // 5: segment 2 with a broken prev link.
        pool.push(fixture_record(1, r1, 2, [0; 32], false, "chain"));
        // 6: another recording of the same device.
        pool.push(fixture_record(1, r2, 0, [0; 32], true, "chain"));
        // 7: the same recording id from another device.
        pool.push(fixture_record(2, r1, 0, [0; 32], true, "chain"));
        // 8: segment 1 marked final (a recording that ends early).
        pool.push(fixture_record(1, r1, 1, h0, true, "early"));
        // 9: segment 2 linked to the twin.
        pool.push(fixture_record(
            1,
            r1,
            2,
            pool[4].record_hash(),
            false,
            "chain",
        ));
        // 10: segment 0 with a non-zero prev link.
        pool.push(fixture_record(1, r1, 0, h1, false, "chain"));
        pool
    })
}

// ---------------------------------------------------------------------------
// The agent's journal for `journal_log`.

/// A fresh journal of recording R1 (`chain_pool()[0..4]`'s), nothing
/// sealed yet.
pub fn fixture_journal() -> obhut_agent::journal::Journal {
    let source = obhut_agent::journal::FileId {
        path: "/dock/clip.mp4".into(),
        len: 1,
        mtime_ms: 0,
    };
    obhut_agent::journal::Journal::new(
        "fixture.json".into(),
        source,
        None,
        RecordingId([0x01; 16]),
        0,
        Vec::new(),
    )
}

/// The log of R1's four segments each pending, then acknowledged (the
/// last one's acknowledgement cut short, as a crash mid-append leaves it),
/// and one pending record forgotten.
fn journal_log_seeds() -> Vec<Vec<u8>> {
    use obhut_agent::journal::JournalWrite;
    let pool = chain_pool();
    let mut j = fixture_journal();
    let mut log = Vec::new();
    let take = |j: &mut obhut_agent::journal::Journal, log: &mut Vec<u8>| {
        if let JournalWrite::Append { lines, .. } = j.take_write(false).expect("writes") {
            log.extend_from_slice(&lines);
        }
    };
    for r in &pool[..4] {
        j.add_pending(r);
        j.ack(r, b"receipt").expect("in order");
        take(&mut j, &mut log);
    }
    let whole = log.clone();
    let torn = log[..log.len() - 9].to_vec();
    let mut f = fixture_journal();
    let mut forgot = Vec::new();
    f.add_pending(&pool[0]);
    f.forget_pending(&pool[0].record_hash()).expect("forgets");
    take(&mut f, &mut forgot);
    vec![whole, torn, forgot]
}

// ---------------------------------------------------------------------------
// Seeds.

/// Seed inputs per target: `(target, seeds)`.
pub fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut rng = DetRng::new("seeds");
    let rng = &mut rng;
    let mut out: Vec<(&'static str, Vec<Vec<u8>>)> = Vec::new();
    out.push(("journal_log", journal_log_seeds()));

    let alice = PersonSecret::generate("alice", rng);
    let bob = PersonSecret::generate("", rng);
    let long = PersonSecret::generate(&"n".repeat(128), rng);
    out.push((
        "public_identity",
        [&alice, &bob, &long]
            .iter()
            .map(|p| p.public().to_bytes())
            .collect(),
    ));
    out.push((
        "person_secret",
        [&alice, &bob, &long]
            .iter()
            .map(|p| p.to_secret_bytes().expose().to_vec())
            .collect(),
    ));
    let cam = DeviceSecret::generate("cam-1", rng);
    let cam2 = DeviceSecret::generate("", rng);
    out.push((
        "device_public",
        [&cam, &cam2]
            .iter()
            .map(|d| d.public().to_bytes())
            .collect(),
    ));
    out.push((
        "device_secret",
        [&cam, &cam2]
            .iter()
            .map(|d| d.to_secret_bytes().expose().to_vec())
            .collect(),
    ));
    let epoch = EpochSecret::generate(EpochId([7; 16]), rng);
    let epoch_pub = epoch.public("bodycam-30d", 0, 86_400_000);
    out.push((
        "epoch_public",
        vec![
            epoch_pub.to_bytes(),
            epoch.public("", i64::MIN, i64::MAX).to_bytes(),
        ],
    ));
    out.push((
        "epoch_secret",
        vec![epoch.to_secret_bytes().expose().to_vec()],
    ));

    let seg = |recording: u8, index: u32| SegmentRef {
        recording: RecordingId([recording; 16]),
        index,
    };
    let h = [9u8; 32];
    let b = Secret32::new([0x33; 32]);
    let release = |n: u32, rng: &mut DetRng| EpochRelease {
        grant_log_index: 5,
        request_hash: h,
        requester_fpr: alice.public().fingerprint(),
        entries: (0..n)
            .map(|i| ReleaseEntry::seal(&b, seg(3, i), &h, &alice.public().kem_key, rng))
            .collect(),
    };
    out.push((
        "epoch_release",
        vec![release(1, rng).to_bytes(), release(2, rng).to_bytes()],
    ));

    out.push(("epoch_rewrap", rewrap_seeds(rng)));
    out.push(("run_handover", handover_seeds(rng)));
    out.push(("metadata_patch", metadata_patch_seeds()));

    let locked_seed = |c: Content, s: &SecretBytes, pass: &[u8], rng: &mut DetRng| {
        locked::lock(c, s, pass, KdfParams::MINIMUM, rng).expect("locks")
    };
    out.push((
        "locked_unlock",
        vec![
            locked_seed(Content::Person, &alice.to_secret_bytes(), PASSPHRASE, rng),
            locked_seed(Content::Device, &cam.to_secret_bytes(), PASSPHRASE, rng),
            locked_seed(Content::Epoch, &epoch.to_secret_bytes(), PASSPHRASE, rng),
            locked_seed(
                Content::Person,
                &SecretBytes::new(Vec::new()),
                PASSPHRASE,
                rng,
            ),
            locked_seed(
                Content::Device,
                &cam.to_secret_bytes(),
                b"another passphrase",
                rng,
            ),
        ],
    ));

    out.push((
        "segment_header",
        vec![
            small_segment().header.clone(),
            large_segment().header.clone(),
            empty_segment().header.clone(),
        ],
    ));
    let pool = chain_pool();
    out.push((
        "segment_record",
        vec![pool[0].to_bytes(), pool[3].to_bytes(), pool[7].to_bytes()],
    ));

    // Custody: a 2-of-3 group, dealt, signed by all and pinned.
    let custodians: Vec<PersonSecret> = (1..=3)
        .map(|i| PersonSecret::generate(&format!("custodian {i}"), rng))
        .collect();
    let publics: Vec<_> = custodians.iter().map(|c| c.public()).collect();
    let (unsigned, envelopes) = group::deal("fuzz group", 2, 3, &publics, rng).expect("deals");
    let shares: Vec<_> = envelopes
        .iter()
        .zip(&custodians)
        .map(|(e, c)| e.open(c, &unsigned).expect("opens"))
        .collect();
    let mut signed = unsigned.clone();
    for (s, c) in shares.iter().zip(&custodians) {
        group::sign_descriptor(&mut signed, s, c).expect("signs");
    }
    let pinned = signed.pin().expect("pins");
    let (solo, _) = group::deal("", 1, 1, &publics[..1], rng).expect("deals");
    out.push((
        "group_descriptor",
        vec![unsigned.to_bytes(), signed.to_bytes(), solo.to_bytes()],
    ));
    out.push((
        "share_envelope",
        envelopes.iter().map(|e| e.to_bytes()).collect(),
    ));

    // Records sealed to the pinned group, an access request and partials.
    let device = fixture_device(9);
    let recording = RecordingId([0x5a; 16]);
    let epoch_public = epoch_pub.clone();
    let mut sealer =
        obhut_core::device::RecordingSealer::new(&device, &pinned, &epoch_public, recording);
    let mut records = Vec::new();
    for i in 0..2u32 {
        let spec = obhut_core::device::SegmentSpec {
            kind: SegmentKind::Media,
            media_start_ms: u64::from(i) * 2000,
            media_end_ms: u64::from(i) * 2000 + 2000,
            capture_utc_ms: 1_790_000_000_000 + i64::from(i) * 2000,
            is_final: i == 1,
        };
        records.push(
            sealer
                .seal_segment(spec, &det_bytes("req seg", 50)[..], std::io::sink(), rng)
                .expect("seals"),
        );
    }
    let requester = PersonSecret::generate("requester", rng);
    let content = RequestContent {
        request_id: [0x72; 16],
        group_id: pinned.group_id(),
        generation: pinned.generation(),
        scope: vec![Scope::Recording {
            recording_id: recording,
            media_start_ms: 0,
            media_end_ms: 10_000,
            include_metadata: true,
        }],
        purpose: "investigation".into(),
        justification: "incident 42".into(),
        legal_basis: "§ 1".into(),
        case_ref: "CASE-1".into(),
        recipients: vec!["court".into()],
        created_utc_ms: 1_790_000_000_000,
        expires_utc_ms: 1_790_086_400_000,
    };
    let request = content.sign(&requester).expect("signs");
    let device_scope = RequestContent {
        request_id: [0x73; 16],
        group_id: GroupId([1; 16]),
        generation: 7,
        scope: vec![
            Scope::Device {
                device_key: device.verify_key(),
                utc_start_ms: -5,
                utc_end_ms: 5,
                include_metadata: false,
            },
            Scope::Recording {
                recording_id: recording,
                media_start_ms: 3,
                media_end_ms: 3,
                include_metadata: false,
            },
        ],
        purpose: String::new(),
        justification: String::new(),
        legal_basis: String::new(),
        case_ref: String::new(),
        recipients: vec![],
        created_utc_ms: -1,
        expires_utc_ms: 0,
    }
    .sign(&requester)
    .expect("signs");
    out.push((
        "access_request",
        vec![request.to_bytes(), device_scope.to_bytes()],
    ));
    let grant = GrantRef::new(11, &request);
    let mut partial_envs = Vec::new();
    let mut partials = Vec::new();
    for i in 0..2usize {
        let env = custodian_partial(
            &custodians[i],
            &shares[i],
            &pinned,
            &request,
            &grant,
            &records[..i + 1],
            obhut_core::partial::Runs::in_records(&records),
            1_790_000_000_001,
            rng,
        )
        .expect("partial");
        partials.push(env.open(&requester.kem).expect("opens").to_bytes());
        partial_envs.push(env.to_bytes());
    }
    out.push(("partial_envelope", partial_envs));
    out.push(("partial", partials));

    // segment_open: see the target for the layout.
    let mut open = Vec::new();
    let small = small_segment();
    let range = |mode: u8, start: u32, end: u32, plen: Option<u32>| {
        let mut v = vec![mode];
        v.extend_from_slice(&start.to_be_bytes());
        v.extend_from_slice(&end.to_be_bytes());
        v.push(u8::from(plen.is_some()));
        v.extend_from_slice(&plen.unwrap_or(0).to_be_bytes());
        v
    };
    let mut s = range(0, 10, 200, None);
    s.extend_from_slice(&small.blob);
    open.push(s);
    let mut s = range(0, 0, 300, Some(300));
    s.extend_from_slice(&small.blob[..small.blob.len() - 1]);
    open.push(s);
    open.push(range(1, 65_000, 131_172, None)); // no edits
    let mut s = range(1, 0, 131_172, None);
    s.extend_from_slice(&[0, 0, 0, 0x05, 0x00, 0x7f]); // flip a byte of chunk 0
    open.push(s);
    let mut s = range(1, 131_100, 131_172, None);
    s.extend_from_slice(&[1, 0x00, 0x02, 0x05, 0xbc]); // truncate after chunk 1
    open.push(s);
    let mut s = range(1, 70_000, 70_001, None);
    s.extend_from_slice(&[4, 0, 1]); // swap chunks 0 and 1
    open.push(s);
    let mut s = range(1, 0, 1, None);
    s.extend_from_slice(&[5, 1, 2]); // duplicate chunk 1 after chunk 2
    open.push(s);
    let mut s = range(2, 0, 0, Some(0));
    s.extend_from_slice(&empty_segment().blob);
    open.push(s);
    out.push(("segment_open", open));

    // chain_structure: pool references and one raw record.
    let mut raw = vec![0x80];
    let rec = pool[0].to_bytes();
    raw.extend_from_slice(&(rec.len() as u16).to_be_bytes());
    raw.extend_from_slice(&rec);
    raw.extend_from_slice(&[1, 2, 3]);
    out.push((
        "chain_structure",
        vec![
            vec![0, 1, 2, 3],
            vec![0, 1, 2],
            vec![6],
            vec![0, 4, 9, 3],
            vec![0, 8],
            vec![0, 1, 1, 2, 3],
            vec![7, 0],
            raw,
        ],
    ));
    // The audit log's parsers (obhut-log, obhut-core audit).
    let log_key =
        obhut_log::NoteSigner::from_seed("example.com/log", &[7; 32]).expect("a key name");
    let mut tree = obhut_log::MemoryTree::new();
    for i in 0u8..5 {
        tree.append_entry(&[i]);
    }
    let note = obhut_log::Checkpoint::new("example.com/log", 5, tree.root())
        .and_then(|c| c.sign(&log_key))
        .expect("a checkpoint")
        .to_bytes();
    out.push(("log_note", vec![note.clone()]));
    let proof = tree.consistency_proof(3, 5).expect("a proof");
    out.push((
        "log_witness_request",
        vec![
            obhut_log::witness::AddCheckpoint {
                old_size: 3,
                proof,
                checkpoint: note.clone(),
            }
            .to_bytes(),
            obhut_log::witness::AddCheckpoint {
                old_size: 0,
                proof: Vec::new(),
                checkpoint: note,
            }
            .to_bytes(),
        ],
    ));
    out.push((
        "log_tile_path",
        [
            "tile/0/000",
            "tile/1/x001/x234/067.p/17",
            "tile/entries/x002/345.p/5",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect(),
    ));
    // A custodian's signed denial: a decision entry's actor is its signer.
    let custodian = SignKey::generate(&mut DetRng::new("log entry custodian"));
    let denial = obhut_core::decision::DecisionContent {
        verdict: obhut_core::decision::Verdict::Deny,
        vault: [8; 32],
        request_hash: [6; 32],
        request_index: 42,
        custodian: 2,
        segments: 0,
        time_ms: 1_790_000_000_000,
        reason: "no legal basis".into(),
    }
    .sign(&custodian)
    .expect("a valid denial");
    let entry = |event| obhut_core::audit::LogEntry {
        time_ms: 1_790_000_000_000,
        actor: obhut_core::audit::Actor {
            role: obhut_core::audit::Role::Person,
            key: custodian.verify_key().to_bytes(),
        },
        recording: Some(obhut_core::ids::RecordingId([4; 16])),
        event,
    };
    out.push((
        "log_entry",
        [
            obhut_core::audit::Event::SegmentReceived {
                index: 7,
                record_hash: [5; 32],
                blob_len: 1 << 20,
                capture_utc_ms: 1_790_000_000_000,
            },
            obhut_core::audit::Event::Denied { decision: denial },
            obhut_core::audit::Event::PolicyInEffect {
                policy: "witnesses 1 of 2; release needs k approvals".into(),
            },
        ]
        .into_iter()
        .map(|e| entry(e).to_bytes().expect("a small entry"))
        .collect(),
    ));
    out.extend(derived_seeds(&cam.sign, &custodian));
    out.push(("name_claim", name_seeds(&cam.sign, &custodian)));

    out
}

/// Seeds of `artifact_record` and `consent_statement` (docs/format.md §13).
fn derived_seeds(device: &SignKey, custodian: &SignKey) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    use obhut_core::artifact::{ArtifactContent, ArtifactKind, ArtifactRecord, SignerRole, Source};
    use obhut_core::consent::{Consent, ConsentAction, ConsentStatement};
    let clip = ArtifactContent {
        artifact_id: RecordingId([1; 16]),
        group_id: GroupId([2; 16]),
        kind: ArtifactKind::Clip,
        name: "clip".into(),
        purpose: "criminal investigation".into(),
        legal_basis: "court order".into(),
        consent_id: None,
        created_ms: 1_790_000_000_000,
        sources: vec![Source::Segments {
            recording_id: RecordingId([3; 16]),
            first: 0,
            end: 2,
        }],
    };
    let set = ArtifactContent {
        artifact_id: RecordingId([4; 16]),
        kind: ArtifactKind::TrainingSet,
        consent_id: Some([5; 16]),
        sources: vec![
            Source::Artifact {
                artifact_id: RecordingId([1; 16]),
            },
            Source::Segments {
                recording_id: RecordingId([3; 16]),
                first: 4,
                end: 9,
            },
        ],
        ..clip.clone()
    };
    let artifacts = [
        ArtifactRecord::sign(clip, SignerRole::Device, device),
        ArtifactRecord::sign(set, SignerRole::Person, custodian),
    ]
    .into_iter()
    .map(|r| r.and_then(|r| r.to_bytes()).expect("a valid record"))
    .collect();
    let grant = ConsentAction::Grant(Consent {
        consent_id: [5; 16],
        group_id: GroupId([2; 16]),
        purposes: 3,
        not_before: 0,
        not_after: 1_790_000_000_000,
    });
    let withdraw = ConsentAction::Withdraw {
        consent_id: [5; 16],
        group_id: GroupId([2; 16]),
        time_ms: 1_790_000_000_000,
    };
    let statements = [grant, withdraw]
        .into_iter()
        .map(|a| {
            ConsentStatement::sign(a, 1, custodian)
                .and_then(|s| s.to_bytes())
                .expect("a valid statement")
        })
        .collect();
    vec![
        ("artifact_record", artifacts),
        ("consent_statement", statements),
    ]
}

/// Seeds of `name_claim` (docs/format.md §3.5): a person naming itself, a
/// custodian naming a device.
fn name_seeds(device: &SignKey, custodian: &SignKey) -> Vec<Vec<u8>> {
    use obhut_core::name::{NameClaim, Subject};
    [
        NameClaim::sign_own(Subject::Person, "Anna Weiß", 1_790_000_000_000, custodian),
        NameClaim::sign(
            Subject::Device,
            &device.verify_key(),
            "Bodycam 7",
            1_790_000_000_000,
            custodian,
        ),
    ]
    .into_iter()
    .map(|c| c.expect("a valid claim").to_bytes())
    .collect()
}
