//! Shared fixtures for the threshold tests: a dealt and pinned custody
//! group, a device that seals segments into signed records, requesters and
//! requests.
#![allow(dead_code)]

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use obhut_core::epoch::{EpochPublic, EpochSecret};
use obhut_core::group::{self, CustodianShare, GroupDescriptor, PinnedGroup, ShareEnvelope};
use obhut_core::hpke_wrap;
use obhut_core::identity::{DeviceSecret, PersonSecret};
use obhut_core::ids::{EpochId, RecordingId, SegmentRef};
use obhut_core::kem::{self, Capsule, CapsuleContext, GroupKey};
use obhut_core::labels;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope};
use obhut_core::secret::Secret32;
use obhut_core::segment::{HeaderFields, KeyParts, SegmentKind, seal_payload};
use obhut_core::wire::Writer;

/// "Now" for every test (UTC ms).
pub const NOW: i64 = 1_790_000_000_000;

pub type Rng = rand_core::UnwrapErr<getrandom::SysRng>;

pub fn rng() -> Rng {
    obhut_core::rng::os_rng()
}

/// A k-of-n group: custodians' identities, their opened shares, the raw
/// envelopes, and the descriptor signed by all n and pinned.
pub struct Group {
    pub custodians: Vec<PersonSecret>,
    pub shares: Vec<CustodianShare>,
    pub envelopes: Vec<ShareEnvelope>,
    pub unsigned: GroupDescriptor,
    pub pinned: PinnedGroup,
}

impl Group {
    pub fn new(k: u16, n: u16, rng: &mut Rng) -> Self {
        let custodians: Vec<PersonSecret> = (1..=n)
            .map(|i| PersonSecret::generate(&format!("custodian {i}"), rng))
            .collect();
        let publics: Vec<_> = custodians.iter().map(|c| c.public()).collect();
        let (unsigned, envelopes) = group::deal("test group", k, n, &publics, rng).unwrap();
        let shares: Vec<CustodianShare> = envelopes
            .iter()
            .zip(&custodians)
            .map(|(e, c)| e.open(c, &unsigned).unwrap())
            .collect();
        let mut signed = unsigned.clone();
        for (share, c) in shares.iter().zip(&custodians) {
            group::sign_descriptor(&mut signed, share, c).unwrap();
        }
        let pinned = signed.pin().unwrap();
        Group {
            custodians,
            shares,
            envelopes,
            unsigned,
            pinned,
        }
    }

    pub fn key(&self) -> GroupKey {
        self.pinned.group_key()
    }

    /// Custodian `index` (1-based) identity and share.
    pub fn custodian(&self, index: u16) -> (&PersonSecret, &CustodianShare) {
        let i = index as usize - 1;
        (&self.custodians[i], &self.shares[i])
    }

    /// The secret share scalar of custodian `index`, extracted the way
    /// custodian software that skips every check could: by opening the
    /// share envelope with the custodian's own X-Wing key.
    pub fn raw_share(&self, index: u16) -> Scalar {
        let i = index as usize - 1;
        let env = &self.envelopes[i];
        let mut aad = Writer::with_preamble(
            labels::magic::SHARE_ENVELOPE,
            labels::VERSION,
            labels::SUITE_V1,
        );
        aad.bytes(&env.group_id.0)
            .u32(env.generation)
            .u16(env.index);
        let pt = hpke_wrap::open(
            &self.custodians[i].kem,
            labels::SHARE_ENVELOPE_INFO,
            aad.as_slice(),
            &env.enc,
            &env.sealed,
            "share envelope",
        )
        .unwrap();
        let pt = pt.expose();
        let bytes: [u8; 32] = pt[pt.len() - 32..].try_into().unwrap();
        Scalar::from_canonical_bytes(bytes).unwrap()
    }
}

/// A sealing device with its epoch key (b) and the vault's epoch secret.
pub struct Device {
    pub secret: DeviceSecret,
    pub epoch: EpochSecret,
    pub epoch_public: EpochPublic,
}

/// One sealed segment: its signed record, blob, and the a and b the device
/// used (the device forgets them; tests keep them to compare).
pub struct Sealed {
    pub record: SegmentRecord,
    pub blob: Vec<u8>,
    pub plaintext: Vec<u8>,
    pub a: Secret32,
    pub b: Secret32,
    pub c: Secret32,
}

impl Sealed {
    pub fn segment(&self) -> SegmentRef {
        self.record.segment_ref()
    }
    pub fn capsule(&self) -> Capsule {
        self.record.header().fields.capsule
    }
    pub fn expected(&self) -> (SegmentRef, Capsule) {
        (self.segment(), self.capsule())
    }
    pub fn r(&self) -> RistrettoPoint {
        self.capsule().r_point().unwrap()
    }
    /// The key parts (copied) as an opener takes them.
    pub fn parts(&self) -> KeyParts {
        KeyParts {
            a: self.a.clone(),
            b: self.b.clone(),
            c: self.c.clone(),
        }
    }
}

/// What a device states about a segment.
#[derive(Clone, Copy)]
pub struct Spec {
    pub recording: RecordingId,
    pub index: u32,
    pub kind: SegmentKind,
    pub media_start_ms: u64,
    pub media_end_ms: u64,
    pub capture_utc_ms: i64,
}

impl Spec {
    pub fn media(recording: RecordingId, index: u32, start: u64, end: u64) -> Self {
        Spec {
            recording,
            index,
            kind: SegmentKind::Media,
            media_start_ms: start,
            media_end_ms: end,
            capture_utc_ms: NOW - 86_400_000 + start as i64,
        }
    }
}

impl Device {
    pub fn new(name: &str, rng: &mut Rng) -> Self {
        let secret = DeviceSecret::generate(name, rng);
        let epoch = EpochSecret::generate(EpochId::random(rng), rng);
        let epoch_public = epoch.public("test-30d", NOW - 10 * 86_400_000, NOW + 86_400_000);
        Device {
            secret,
            epoch,
            epoch_public,
        }
    }

    /// Header fields as this device would seal them, with a fresh capsule
    /// bound to the header's identity. Returns the fields, a and b.
    pub fn fields(
        &self,
        group: &Group,
        spec: Spec,
        rng: &mut Rng,
    ) -> (HeaderFields, Secret32, Secret32) {
        let group = &group.key();
        let device_key = self.secret.sign.verify_key();
        let ctx = CapsuleContext {
            recording_id: spec.recording,
            device_key: device_key.to_bytes(),
            segment_index: spec.index,
            kind: spec.kind.to_u8(),
            media_start_ms: spec.media_start_ms,
            media_end_ms: spec.media_end_ms,
            capture_utc_ms: spec.capture_utc_ms,
        };
        let (capsule, a) = kem::encapsulate(group, &ctx, rng);
        let b = Secret32::random(rng);
        let epoch_wrap = self
            .epoch_public
            .wrap(&b, spec.recording, &device_key, spec.index, rng);
        let fields = HeaderFields {
            kind: spec.kind,
            recording_id: spec.recording,
            device_key,
            segment_index: spec.index,
            media_start_ms: spec.media_start_ms,
            media_end_ms: spec.media_end_ms,
            capture_utc_ms: spec.capture_utc_ms,
            capsule,
            epoch_wrap,
        };
        (fields, a, b)
    }

    /// Seal `fields` with keys a, b and a fresh c shared among `group`'s
    /// custodians in a custody run starting at this segment (§5.6), and
    /// sign the record.
    pub fn seal_fields(
        &self,
        group: &Group,
        fields: HeaderFields,
        a: Secret32,
        b: Secret32,
    ) -> Sealed {
        let run = group.pinned.custody_run(
            fields.recording_id,
            &fields.device_key,
            fields.segment_index,
            &mut rng(),
        );
        let (c, custody) = run.seal_c(fields.segment_index, &fields.header_hash(), &mut rng());
        let plaintext: Vec<u8> = format!(
            "footage of {} segment {}",
            fields.recording_id, fields.segment_index
        )
        .into_bytes();
        let mut blob = Vec::new();
        let parts = KeyParts { a, b, c };
        let sealed = seal_payload(fields, custody, &parts, &plaintext[..], &mut blob).unwrap();
        let record = SegmentRecord::sign(&self.secret.sign, &sealed, [0u8; 32], true).unwrap();
        Sealed {
            record,
            blob,
            plaintext,
            a: parts.a,
            b: parts.b,
            c: parts.c,
        }
    }

    pub fn seal(&self, group: &Group, spec: Spec, rng: &mut Rng) -> Sealed {
        let (fields, a, b) = self.fields(group, spec, rng);
        self.seal_fields(group, fields, a, b)
    }
}

/// A signed request of `requester` for `scope` to `group`, valid for an hour.
pub fn request(
    requester: &PersonSecret,
    group: &PinnedGroup,
    scope: Vec<Scope>,
    rng: &mut Rng,
) -> AccessRequest {
    let mut request_id = [0u8; 16];
    rand_core::Rng::fill_bytes(rng, &mut request_id);
    RequestContent {
        request_id,
        group_id: group.group_id(),
        generation: group.generation(),
        scope,
        purpose: "investigation".into(),
        justification: "complaint 42 about the arrest on 3 March".into(),
        legal_basis: "§ 100 StPO".into(),
        case_ref: "AZ 1 Js 42/26".into(),
        recipients: vec!["public prosecutor".into()],
        created_utc_ms: NOW - 1_000,
        expires_utc_ms: NOW + 3_600_000,
    }
    .sign(requester)
    .unwrap()
}

/// A whole-recording scope.
pub fn whole_recording(recording: RecordingId) -> Scope {
    Scope::Recording {
        recording_id: recording,
        media_start_ms: 0,
        media_end_ms: u64::MAX,
        include_metadata: true,
    }
}

/// The grant of `request` at log index 7.
pub fn grant(request: &AccessRequest) -> GrantRef {
    GrantRef::new(7, request)
}

/// All k-subsets of 1..=n.
pub fn subsets(n: u16, k: usize) -> Vec<Vec<u16>> {
    fn rec(start: u16, n: u16, k: usize, cur: &mut Vec<u16>, out: &mut Vec<Vec<u16>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..=n {
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(1, n, k, &mut Vec::new(), &mut out);
    out
}
