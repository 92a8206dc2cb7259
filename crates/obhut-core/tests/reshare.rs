//! Resharing a custody group (docs/format.md §4.3): a (2,3) group is
//! reshared to (3,5) without touching sealed footage. Footage sealed before
//! and after opens with any 3 new custodians, never with 2, never with old
//! and new shares mixed; lying dealers are named; fewer than k old
//! custodians cannot reshare; deals round-trip and bad points are refused.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::MultiscalarMul;
use obhut_core::Error;
use obhut_core::access::{GrantKeys, records_in_scope, release_for_grant};
use obhut_core::chain::verify_chain;
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::{EpochPublic, EpochSecret};
use obhut_core::error::{
    PartialFailure, RefusalReason, RejectedPartial, ReshareFailure, SegmentFailure,
};
use obhut_core::group::{self, CustodianShare, GroupDescriptor, PinnedGroup, ShareEnvelope};
use obhut_core::identity::{DeviceSecret, PersonSecret};
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::kem;
use obhut_core::partial::Runs;
use obhut_core::partial::{PartialEnvelope, custodian_partial};
use obhut_core::pq_custody::{self, RunHandover};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope};
use obhut_core::reshare::{self, ReshareDeal, ResharePlan};
use obhut_core::rng::os_rng;
use obhut_core::secret::Secret32;
use obhut_core::segment::{KeyParts, SegmentKind, SegmentOpener};

type Rng = rand_core::UnwrapErr<getrandom::SysRng>;

const NOW: i64 = 1_790_000_000_000;
const SEGMENT_MS: u64 = 10_000;
/// The old custodians who deal in the standard reshare: 2 of the old 3.
const DEALERS: [u16; 2] = [1, 3];

/// A set of custodians with their opened shares and the pinned descriptor.
struct Custody {
    custodians: Vec<PersonSecret>,
    shares: Vec<CustodianShare>,
    envelopes: Vec<ShareEnvelope>,
    group: PinnedGroup,
}

impl Custody {
    /// A dealt (k, n) group, signed by all n.
    fn deal(k: u16, n: u16, rng: &mut Rng) -> Self {
        let custodians: Vec<PersonSecret> = (1..=n)
            .map(|i| PersonSecret::generate(&format!("old custodian {i}"), rng))
            .collect();
        let publics: Vec<_> = custodians.iter().map(PersonSecret::public).collect();
        let (mut descriptor, envelopes) = group::deal("district 4", k, n, &publics, rng).unwrap();
        let shares: Vec<CustodianShare> = envelopes
            .iter()
            .zip(&custodians)
            .map(|(e, c)| e.open(c, &descriptor).unwrap())
            .collect();
        for (s, c) in shares.iter().zip(&custodians) {
            group::sign_descriptor(&mut descriptor, s, c).unwrap();
        }
        Custody {
            custodians,
            shares,
            envelopes,
            group: descriptor.pin().unwrap(),
        }
    }

    /// Custodian `index` (1-based).
    fn who(&self, index: u16) -> (&PersonSecret, &CustodianShare) {
        let i = usize::from(index) - 1;
        (&self.custodians[i], &self.shares[i])
    }

    /// Old custodian `index` deals for `plan`.
    fn deal_for(&self, index: u16, plan: &ResharePlan, rng: &mut Rng) -> ReshareDeal {
        let (me, share) = self.who(index);
        ReshareDeal::create(me, share, &self.group, plan, rng).unwrap()
    }
}

/// n′ fresh people and the plan moving `old` to them with threshold k′.
fn plan(k2: u16, n2: u16, rng: &mut Rng) -> (Vec<PersonSecret>, ResharePlan) {
    let people: Vec<PersonSecret> = (1..=n2)
        .map(|j| PersonSecret::generate(&format!("new custodian {j}"), rng))
        .collect();
    let publics: Vec<_> = people.iter().map(PersonSecret::public).collect();
    let plan = ResharePlan::new(&DEALERS, "district 4 (2027)", k2, &publics).unwrap();
    (people, plan)
}

/// Every new custodian receives; the descriptor gathers all signatures.
fn receive_all(
    old: &Custody,
    people: Vec<PersonSecret>,
    deals: &[ReshareDeal],
    rng: &mut Rng,
) -> Custody {
    let received: Vec<_> = people
        .iter()
        .map(|p| reshare::receive(p, &old.group, deals, rng).unwrap())
        .collect();
    let mut descriptor = received[0].descriptor.clone();
    for r in &received[1..] {
        assert_eq!(r.descriptor.signed_body(), descriptor.signed_body());
        let sig = r.descriptor.signatures()[0];
        descriptor.add_signature(sig.index, sig.signature).unwrap();
    }
    // The envelope each custodian keeps opens to the same share.
    for (r, p) in received.iter().zip(&people) {
        let again = r.envelope.open(p, &descriptor).unwrap();
        assert_eq!(again.index(), r.share.index());
        assert_eq!(again.public(), r.share.public());
        assert_eq!(
            ShareEnvelope::from_bytes(&r.envelope.to_bytes()).unwrap(),
            r.envelope
        );
    }
    let group = reshare::verify_successor(&old.group, deals, &descriptor).unwrap();
    let (shares, envelopes) = received.into_iter().map(|r| (r.share, r.envelope)).unzip();
    Custody {
        custodians: people,
        shares,
        envelopes,
        group,
    }
}

/// One recording: records, blobs and plaintexts.
struct Recording {
    records: Vec<SegmentRecord>,
    blobs: Vec<Vec<u8>>,
    plaintexts: Vec<Vec<u8>>,
}

impl Recording {
    fn id(&self) -> RecordingId {
        self.records[0].segment_ref().recording
    }
}

/// Two media segments (two chunks each) sealed to `group`.
fn record(
    device: &DeviceSecret,
    group: &PinnedGroup,
    epoch: &EpochPublic,
    salt: u8,
    rng: &mut Rng,
) -> Recording {
    let mut sealer = RecordingSealer::new(&device.sign, group, epoch, RecordingId::random(rng));
    let mut out = Recording {
        records: Vec::new(),
        blobs: Vec::new(),
        plaintexts: Vec::new(),
    };
    for i in 0..2u32 {
        let plaintext: Vec<u8> = (0..70_000u32)
            .map(|j| (j.wrapping_mul(17) ^ i ^ u32::from(salt)) as u8)
            .collect();
        let spec = SegmentSpec {
            kind: SegmentKind::Media,
            media_start_ms: u64::from(i) * SEGMENT_MS,
            media_end_ms: u64::from(i + 1) * SEGMENT_MS,
            capture_utc_ms: NOW - 3_600_000 + i64::from(i) * 10_000,
            is_final: i == 1,
        };
        let mut blob = Vec::new();
        out.records.push(
            sealer
                .seal_segment(spec, &plaintext[..], &mut blob, rng)
                .unwrap(),
        );
        out.blobs.push(blob);
        out.plaintexts.push(plaintext);
    }
    out
}

/// A (2,3) group, footage sealed to it, a reshare to (3,5) by old
/// custodians 1 and 3, and footage sealed to the new generation.
struct World {
    old: Custody,
    new: Custody,
    deals: Vec<ReshareDeal>,
    epoch: EpochSecret,
    requester: PersonSecret,
    before: Recording,
    after: Recording,
    /// The old custodians' positions in the custody runs of `before`,
    /// handed over to the new custodians (§5.6).
    handovers: Vec<RunHandover>,
}

/// Who takes over old position x: new custodians x and x + 3, so that any
/// 3 of the 5 new custodians hold at least 2 distinct old positions (the
/// old footage's c stays 2-of-3 over positions).
fn successors(x: u16) -> Vec<u16> {
    [x, x + 3].into_iter().filter(|&j| j <= 5).collect()
}

/// Each old custodian hands its position in every custody run of
/// `recording` over to its successors.
fn hand_over(
    old: &Custody,
    new: &Custody,
    recording: &Recording,
    rng: &mut Rng,
) -> Vec<RunHandover> {
    let mut out = Vec::new();
    for start in recording
        .records
        .iter()
        .filter(|r| r.custody().run.is_some())
    {
        let f = &start.header().fields;
        for (pos, me) in old.custodians.iter().enumerate() {
            for j in successors(pos as u16 + 1) {
                let to = &new.custodians[usize::from(j) - 1];
                out.push(
                    RunHandover::create(
                        me,
                        start.custody(),
                        f.recording_id,
                        &f.device_key,
                        to.public().fingerprint(),
                        &to.kem.public_key(),
                        rng,
                    )
                    .unwrap(),
                );
            }
        }
    }
    out
}

fn world() -> World {
    let mut rng = os_rng();
    let old = Custody::deal(2, 3, &mut rng);
    let epoch = EpochSecret::generate(EpochId([4; 16]), &mut rng);
    let epoch_public = epoch.public("bodycam-30d", 0, i64::MAX);
    let device = DeviceSecret::generate("bodycam-7", &mut rng);
    let before = record(&device, &old.group, &epoch_public, 1, &mut rng);

    let (people, plan) = plan(3, 5, &mut rng);
    let deals: Vec<ReshareDeal> = DEALERS
        .iter()
        .map(|&i| old.deal_for(i, &plan, &mut rng))
        .collect();
    let new = receive_all(&old, people, &deals, &mut rng);
    // The device re-pins and seals under the new generation.
    let after = record(&device, &new.group, &epoch_public, 2, &mut rng);
    let handovers = hand_over(&old, &new, &before, &mut rng);
    World {
        handovers,
        old,
        new,
        deals,
        epoch,
        requester: PersonSecret::generate("investigator", &mut rng),
        before,
        after,
    }
}

/// A request to `group` for the given recordings (media only).
fn request(
    requester: &PersonSecret,
    group: &PinnedGroup,
    recordings: &[RecordingId],
) -> AccessRequest {
    RequestContent {
        request_id: [1; 16],
        group_id: group.group_id(),
        generation: group.generation(),
        scope: recordings
            .iter()
            .map(|&recording_id| Scope::Recording {
                recording_id,
                media_start_ms: 0,
                media_end_ms: u64::MAX,
                include_metadata: false,
            })
            .collect(),
        purpose: "criminal investigation".into(),
        justification: "assault reported at 14:02".into(),
        legal_basis: "StPO §94".into(),
        case_ref: "2026-K-0042".into(),
        recipients: vec!["public prosecutor".into()],
        created_utc_ms: NOW,
        expires_utc_ms: NOW + 86_400_000,
    }
    .sign(requester)
    .unwrap()
}

impl World {
    fn all_records(&self) -> Vec<SegmentRecord> {
        self.before
            .records
            .iter()
            .chain(&self.after.records)
            .cloned()
            .collect()
    }

    fn blob(&self, record: &SegmentRecord) -> (&[u8], &[u8]) {
        for rec in [&self.before, &self.after] {
            if let Some(i) = rec.records.iter().position(|r| r == record) {
                return (&rec.blobs[i], &rec.plaintexts[i]);
            }
        }
        unreachable!()
    }

    /// Partials of the given custodians of `custody` for `request`.
    fn partials(
        &self,
        custody: &Custody,
        who: &[u16],
        request: &AccessRequest,
        records: &[SegmentRecord],
    ) -> Vec<PartialEnvelope> {
        let grant = GrantRef::new(7, request);
        let all = self.all_records();
        let runs = Runs {
            records: &all,
            handovers: &self.handovers,
        };
        who.iter()
            .map(|&i| {
                let (me, share) = custody.who(i);
                custodian_partial(
                    me,
                    share,
                    &custody.group,
                    request,
                    &grant,
                    records,
                    runs,
                    NOW,
                    &mut os_rng(),
                )
                .unwrap()
            })
            .collect()
    }

    /// The whole access path with the given new custodians.
    fn keys(&self, who: &[u16], request: &AccessRequest) -> Result<GrantKeys, Error> {
        let all = self.all_records();
        let in_scope: Vec<SegmentRecord> = records_in_scope(request, &all)
            .into_iter()
            .cloned()
            .collect();
        let refs: Vec<&SegmentRecord> = in_scope.iter().collect();
        let grant = GrantRef::new(7, request);
        let partials = self.partials(&self.new, who, request, &in_scope);
        let release = release_for_grant(
            |_| Some(&self.epoch),
            request,
            &grant,
            &refs,
            NOW,
            &mut os_rng(),
        )?;
        GrantKeys::recover(
            &self.new.group,
            request,
            &grant,
            &refs,
            &partials,
            &release,
            &self.requester,
        )
    }

    /// `a` from the D values of the given partials, Lagrange-weighted over
    /// `set` as if they were shares of one polynomial; then whether the
    /// segment's key commitment accepts (a, b).
    fn mixed_opens(&self, record: &SegmentRecord, ds: &[(u16, RistrettoPoint)]) -> bool {
        let set: Vec<u16> = ds.iter().map(|(i, _)| *i).collect();
        let lambdas: Vec<Scalar> = set.iter().map(|&i| lagrange(i, &set)).collect();
        let s_r = RistrettoPoint::multiscalar_mul(&lambdas, ds.iter().map(|(_, d)| *d));
        let f = &record.header().fields;
        let a = kem::derive_a(&s_r, &f.capsule, &self.new.group.group_key().key);
        let b = self
            .epoch
            .unwrap(
                &f.epoch_wrap,
                f.recording_id,
                &f.device_key,
                f.segment_index,
            )
            .unwrap();
        let parts = KeyParts {
            a,
            b,
            c: self.c_of(record),
        };
        match SegmentOpener::from_header(record.header(), &parts) {
            Ok(_) => true,
            Err(Error::Segment {
                failure: SegmentFailure::KeyCommitment,
                ..
            }) => false,
            Err(e) => panic!("{e}"),
        }
    }

    /// The segment's c, from new custodians 1 and 2 (their own entries or
    /// the handovers to them).
    fn c_of(&self, record: &SegmentRecord) -> Secret32 {
        let all = self.all_records();
        let runs = Runs {
            records: &all,
            handovers: &self.handovers,
        };
        let f = &record.header().fields;
        let start = runs
            .start(f.recording_id, record.custody().run_start)
            .unwrap();
        let shares: Vec<(u16, Secret32)> = self.new.custodians[..3]
            .iter()
            .map(|p| {
                let key = runs.key(start, &p.public().fingerprint(), &p.kem).unwrap();
                (
                    key.x(),
                    key.share(record.custody(), &f.header_hash()).unwrap(),
                )
            })
            .collect();
        let refs: Vec<(u16, &Secret32)> = shares.iter().map(|(x, s)| (*x, s)).collect();
        pq_custody::combine_c(record.custody().threshold, &refs).unwrap()
    }

    /// D of `record`'s segment in a partial envelope.
    fn d_of(&self, env: &PartialEnvelope, record: &SegmentRecord) -> RistrettoPoint {
        env.open(&self.requester.kem)
            .unwrap()
            .entries
            .iter()
            .find(|e| e.segment == record.segment_ref())
            .unwrap()
            .d
    }
}

fn lagrange(i: u16, set: &[u16]) -> Scalar {
    let xi = Scalar::from(i);
    let (num, den) = set
        .iter()
        .filter(|&&j| j != i)
        .fold((Scalar::ONE, Scalar::ONE), |(n, d), &j| {
            (n * Scalar::from(j), d * (Scalar::from(j) - xi))
        });
    num * den.invert()
}

fn subsets(n: u16, k: usize) -> Vec<Vec<u16>> {
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == k {
            out.push((1..=n).filter(|i| mask & (1 << (i - 1)) != 0).collect());
        }
    }
    out
}

fn reshare_failure(e: Error) -> (u16, ReshareFailure) {
    match e {
        Error::Reshare { dealer, failure } => (dealer, failure),
        other => panic!("expected a reshare failure, got {other}"),
    }
}

#[test]
fn every_three_new_custodians_open_footage_sealed_before_and_after() {
    let w = world();
    // Same group and key, next generation, new threshold and size.
    assert_eq!(w.new.group.group_id(), w.old.group.group_id());
    assert_eq!(w.new.group.group_key().key, w.old.group.group_key().key);
    assert_eq!(w.new.group.generation(), w.old.group.generation() + 1);
    assert_eq!((w.new.group.threshold(), w.new.group.size()), (3, 5));
    assert_eq!(w.new.group.name(), "district 4 (2027)");
    assert_eq!(w.new.group.signers(), [1, 2, 3, 4, 5]);
    // Anyone holding the old descriptor and the deals can check the move.
    let again = reshare::verify_successor(&w.old.group, &w.deals, &w.new.group).unwrap();
    assert_eq!(again, w.new.group);
    for r in &w.before.records {
        assert_eq!(r.header().fields.capsule.generation, 1);
    }
    for r in &w.after.records {
        assert_eq!(r.header().fields.capsule.generation, 2);
    }
    // The new key verifies both chains; the old key does not vouch for
    // footage of a later generation.
    let new_key = w.new.group.group_key();
    verify_chain(&w.before.records, &[new_key]).unwrap();
    verify_chain(&w.after.records, &[new_key]).unwrap();
    let err = verify_chain(&w.after.records, &[w.old.group.group_key()]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Segment {
                failure: SegmentFailure::Misplaced(_),
                ..
            }
        ),
        "{err}"
    );

    let request = request(&w.requester, &w.new.group, &[w.before.id(), w.after.id()]);
    let all = w.all_records();
    assert_eq!(records_in_scope(&request, &all).len(), 4);
    let trios = subsets(5, 3);
    assert_eq!(trios.len(), 10);
    for who in &trios {
        let keys = w.keys(who, &request).unwrap();
        for record in &all {
            let (blob, plaintext) = w.blob(record);
            let mut out = Vec::new();
            keys.open_segment(record, blob, &mut out)
                .unwrap_or_else(|e| panic!("custodians {who:?}: {e}"));
            assert_eq!(
                out,
                plaintext,
                "custodians {who:?}, {}",
                record.segment_ref()
            );
        }
    }
}

#[test]
fn two_new_custodians_open_nothing() {
    let w = world();
    let request = request(&w.requester, &w.new.group, &[w.before.id(), w.after.id()]);
    for pair in subsets(5, 2) {
        let err = w.keys(&pair, &request).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotEnoughPartials {
                    needed: 3,
                    have: 2,
                    ..
                }
            ),
            "{pair:?}: {err}"
        );
    }
    // Interpolating two new partials as if the threshold were 2 gives
    // nothing either.
    let all = w.all_records();
    let envs = w.partials(&w.new, &[1, 2, 3], &request, &all);
    for record in &all {
        let d: Vec<_> = (0..3).map(|p| w.d_of(&envs[p], record)).collect();
        assert!(w.mixed_opens(record, &[(1, d[0]), (2, d[1]), (3, d[2])]));
        assert!(!w.mixed_opens(record, &[(1, d[0]), (2, d[1])]));
        assert!(!w.mixed_opens(record, &[(2, d[1]), (3, d[2])]));
    }
}

#[test]
fn old_and_new_shares_do_not_mix() {
    let w = world();
    let mut rng = os_rng();
    let both = [w.before.id(), w.after.id()];
    let new_request = request(&w.requester, &w.new.group, &both);
    let new_grant = GrantRef::new(7, &new_request);
    let before = w.before.records.clone();

    // An old share is not a share of the new generation.
    let (old1, old_share1) = w.old.who(1);
    assert!(!old_share1.matches(&w.new.group));
    let err = custodian_partial(
        old1,
        old_share1,
        &w.new.group,
        &new_request,
        &new_grant,
        &before,
        Runs::default(),
        NOW,
        &mut rng,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Refused(RefusalReason::WrongShare(1))),
        "{err}"
    );
    // Old custodian software refuses the new generation's requests ...
    let err = custodian_partial(
        old1,
        old_share1,
        &w.old.group,
        &new_request,
        &new_grant,
        &before,
        Runs::default(),
        NOW,
        &mut rng,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Refused(RefusalReason::RequestForOtherGroup)),
        "{err}"
    );
    // ... and footage sealed under the new generation.
    let old_request = request(&w.requester, &w.old.group, &both);
    let old_grant = GrantRef::new(7, &old_request);
    let err = custodian_partial(
        old1,
        old_share1,
        &w.old.group,
        &old_request,
        &old_grant,
        &w.after.records,
        Runs::default(),
        NOW,
        &mut rng,
    )
    .unwrap_err();
    let first_after = w.after.records[0].segment_ref();
    assert!(
        matches!(err, Error::Refused(RefusalReason::OtherGroup(s)) if s == first_after),
        "{err}"
    );

    // An old custodian's partial (for old footage, before its share was
    // destroyed) among new partials is refused by combine, naming it.
    let old_partial = w.partials(&w.old, &[1], &old_request, &before);
    let new_partials = w.partials(&w.new, &[2, 3, 4], &new_request, &before);
    let expected: Vec<&SegmentRecord> = before.iter().collect();
    let mixed = [
        old_partial[0].clone(),
        new_partials[0].clone(),
        new_partials[1].clone(),
    ];
    let err = obhut_core::combine::combine(
        &w.new.group,
        &new_request,
        &new_grant,
        &expected,
        &mixed,
        &w.requester.kem,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughPartials { needed: 3, have: 2, ref rejected }
                if matches!(
                    rejected.as_slice(),
                    [RejectedPartial {
                        custodian: 1,
                        failure: PartialFailure::WrongGrant,
                        ..
                    }]
                )
        ),
        "{err}"
    );
    // Without the old one, the three new partials combine.
    obhut_core::combine::combine(
        &w.new.group,
        &new_request,
        &new_grant,
        &expected,
        &new_partials,
        &w.requester.kem,
    )
    .unwrap();
    // Arithmetically, old and new D values do not interpolate to s·R under
    // either threshold.
    for record in &before {
        let old_d = w.d_of(&old_partial[0], record);
        let d2 = w.d_of(&new_partials[0], record);
        let d3 = w.d_of(&new_partials[1], record);
        let d4 = w.d_of(&new_partials[2], record);
        assert!(w.mixed_opens(record, &[(2, d2), (3, d3), (4, d4)]));
        assert!(!w.mixed_opens(record, &[(1, old_d), (2, d2), (3, d3)]));
        assert!(!w.mixed_opens(record, &[(1, old_d), (2, d2)]));
        assert!(!w.mixed_opens(record, &[(1, old_d), (3, d3)]));
    }
    // Share envelopes are bound to their generation: an old envelope does
    // not open against the new descriptor, nor a new one against the old.
    for (i, c) in w.old.custodians.iter().enumerate() {
        let err = w.old.envelopes[i].open(c, &w.new.group).unwrap_err();
        assert!(matches!(err, Error::Custody(_)), "{err}");
    }
    for (j, c) in w.new.custodians.iter().enumerate() {
        assert_eq!(w.new.envelopes[j].generation, 2);
        assert!(w.new.envelopes[j].open(c, &w.old.group).is_err());
        w.new.envelopes[j].open(c, &w.new.group).unwrap();
    }
}

#[test]
fn lying_dealers_are_detected_and_named() {
    let mut rng = os_rng();
    let old = Custody::deal(2, 3, &mut rng);
    let (people, plan) = plan(3, 5, &mut rng);
    let d1 = old.deal_for(1, &plan, &mut rng);
    let d3 = old.deal_for(3, &plan, &mut rng);
    let signer = |i: u16| &old.who(i).0.sign;
    let first = &people[0];
    // The honest deals pass.
    d1.verify(&old.group).unwrap();
    d3.verify(&old.group).unwrap();
    reshare::new_descriptor(&old.group, &[d1.clone(), d3.clone()]).unwrap();

    // Wrong constant commitment (would change the group key).
    let mut lie = d3.clone();
    lie.commitments[0] += G;
    lie.sign(signer(3));
    assert_eq!(
        reshare_failure(lie.verify(&old.group).unwrap_err()),
        (3, ReshareFailure::WrongConstant)
    );
    assert_eq!(
        reshare_failure(
            reshare::receive(first, &old.group, &[d1.clone(), lie.clone()], &mut rng).unwrap_err()
        ),
        (3, ReshareFailure::WrongConstant)
    );
    assert_eq!(
        reshare_failure(reshare::new_descriptor(&old.group, &[d1.clone(), lie]).unwrap_err()),
        (3, ReshareFailure::WrongConstant)
    );

    // Sub-shares that do not match the commitments: the public checks pass,
    // every recipient names the dealer.
    let mut lie = d3.clone();
    lie.commitments[1] += G;
    lie.sign(signer(3));
    lie.verify(&old.group).unwrap();
    for (j, p) in people.iter().enumerate() {
        let recipient = j as u16 + 1;
        assert_eq!(
            reshare_failure(
                reshare::receive(p, &old.group, &[d1.clone(), lie.clone()], &mut rng).unwrap_err()
            ),
            (3, ReshareFailure::BadSubShare { recipient })
        );
    }

    // Sub-shares sent to the wrong recipients do not open.
    let mut lie = d1.clone();
    lie.subshares.swap(0, 1);
    lie.sign(signer(1));
    assert_eq!(
        reshare_failure(
            reshare::receive(first, &old.group, &[lie, d3.clone()], &mut rng).unwrap_err()
        ),
        (1, ReshareFailure::Undecryptable { recipient: 1 })
    );

    // A deal for another group, or another generation of this one.
    let other = Custody::deal(2, 3, &mut rng);
    let foreign = other.deal_for(3, &plan, &mut rng);
    assert_eq!(
        reshare_failure(foreign.verify(&old.group).unwrap_err()),
        (3, ReshareFailure::OtherGroup)
    );
    assert_eq!(
        reshare_failure(
            reshare::receive(first, &old.group, &[d1.clone(), foreign], &mut rng).unwrap_err()
        ),
        (3, ReshareFailure::OtherGroup)
    );
    let mut later = d3.clone();
    later.old_generation = 2;
    later.new_generation = 3;
    later.sign(signer(3));
    assert_eq!(
        reshare_failure(later.verify(&old.group).unwrap_err()),
        (3, ReshareFailure::OtherGroup)
    );

    // A bad signature; a deal signed by another old custodian.
    let mut forged = d1.clone();
    forged.signature[5] ^= 1;
    assert_eq!(
        reshare_failure(forged.verify(&old.group).unwrap_err()),
        (1, ReshareFailure::BadSignature)
    );
    let mut impostor = d3.clone();
    impostor.dealer = 1;
    impostor.sign(signer(3));
    assert_eq!(
        reshare_failure(impostor.verify(&old.group).unwrap_err()),
        (1, ReshareFailure::BadSignature)
    );
    assert_eq!(
        reshare_failure(reshare::new_descriptor(&old.group, &[d1.clone(), forged]).unwrap_err()),
        (1, ReshareFailure::BadSignature)
    );

    // An old custodian outside the dealer set.
    let (c2, s2) = old.who(2);
    assert!(matches!(
        ReshareDeal::create(c2, s2, &old.group, &plan, &mut rng),
        Err(Error::Custody(_))
    ));
    let mut outsider = d3.clone();
    outsider.plan = ResharePlan::new(
        &[1, 2],
        plan.name(),
        3,
        &people.iter().map(PersonSecret::public).collect::<Vec<_>>(),
    )
    .unwrap();
    outsider.sign(signer(3));
    assert_eq!(
        reshare_failure(outsider.verify(&old.group).unwrap_err()),
        (3, ReshareFailure::NotADealer)
    );

    // Deals for different plans: the odd one out is named.
    let publics: Vec<_> = people.iter().map(PersonSecret::public).collect();
    let other_plan = ResharePlan::new(&DEALERS, "another name", 3, &publics).unwrap();
    let d3_other = old.deal_for(3, &other_plan, &mut rng);
    assert_eq!(
        reshare_failure(reshare::new_descriptor(&old.group, &[d1.clone(), d3_other]).unwrap_err()),
        (3, ReshareFailure::PlanMismatch)
    );

    // Two different deals from one dealer (equivocation); a repeat of the
    // same deal is harmless.
    let d1_again = old.deal_for(1, &plan, &mut rng);
    assert_eq!(
        reshare_failure(
            reshare::new_descriptor(&old.group, &[d1.clone(), d3.clone(), d1_again]).unwrap_err()
        ),
        (1, ReshareFailure::Duplicate)
    );
    let with_repeat =
        reshare::new_descriptor(&old.group, &[d1.clone(), d3.clone(), d1.clone()]).unwrap();
    assert_eq!(
        with_repeat,
        reshare::new_descriptor(&old.group, &[d3.clone(), d1.clone()]).unwrap()
    );

    // A dealer of the set that did not deal.
    assert_eq!(
        reshare_failure(
            reshare::receive(first, &old.group, std::slice::from_ref(&d1), &mut rng).unwrap_err()
        ),
        (3, ReshareFailure::Missing)
    );
    assert!(matches!(
        reshare::new_descriptor(&old.group, &[]),
        Err(Error::Custody(_))
    ));

    // Someone not among the new custodians cannot receive.
    let stranger = PersonSecret::generate("stranger", &mut rng);
    assert!(matches!(
        reshare::receive(&stranger, &old.group, &[d1, d3], &mut rng),
        Err(Error::Custody(_))
    ));
}

#[test]
fn fewer_than_k_old_custodians_cannot_reshare() {
    let mut rng = os_rng();
    let old = Custody::deal(2, 3, &mut rng);
    let people: Vec<PersonSecret> = (1..=5)
        .map(|j| PersonSecret::generate(&format!("new {j}"), &mut rng))
        .collect();
    let publics: Vec<_> = people.iter().map(PersonSecret::public).collect();
    // The dealer refuses a dealer set smaller than k, or one naming a
    // custodian the old group does not list.
    for dealers in [&[1u16][..], &[1, 4]] {
        let small = ResharePlan::new(dealers, "n", 3, &publics).unwrap();
        let (c1, s1) = old.who(1);
        let err = ReshareDeal::create(c1, s1, &old.group, &small, &mut rng).unwrap_err();
        assert!(matches!(err, Error::Custody(_)), "{err}");
    }
    // A deal that claims S = {1} (λ_1 = 1, so its constant commitment would
    // have to be P_1 ≠ P) is refused by everyone, even re-signed by its
    // dealer with a matching constant.
    let plan = ResharePlan::new(&DEALERS, "n", 3, &publics).unwrap();
    let mut alone = old.deal_for(1, &plan, &mut rng);
    alone.plan = ResharePlan::new(&[1], "n", 3, &publics).unwrap();
    let p_1 = *old.group.verification_share(1).unwrap();
    assert_ne!(p_1, old.group.group_key().key);
    alone.commitments[0] = p_1;
    alone.sign(&old.who(1).0.sign);
    assert_eq!(
        reshare_failure(alone.verify(&old.group).unwrap_err()),
        (1, ReshareFailure::TooFewDealers { needed: 2, have: 1 })
    );
    assert_eq!(
        reshare_failure(reshare::receive(&people[0], &old.group, &[alone], &mut rng).unwrap_err()),
        (1, ReshareFailure::TooFewDealers { needed: 2, have: 1 })
    );
    // All three old custodians may deal (|S| > k works too).
    let all3 = ResharePlan::new(&[3, 1, 2], "n", 3, &publics).unwrap();
    assert_eq!(all3.dealers(), [1, 2, 3]);
    let deals: Vec<_> = (1..=3).map(|i| old.deal_for(i, &all3, &mut rng)).collect();
    let new = receive_all(&old, people, &deals, &mut rng);
    assert_eq!(new.group.group_key().key, old.group.group_key().key);
}

#[test]
fn a_successor_needs_the_deals_and_k_prime_signatures() {
    let mut rng = os_rng();
    let old = Custody::deal(2, 3, &mut rng);
    let (people, plan) = plan(3, 5, &mut rng);
    let deals: Vec<_> = DEALERS
        .iter()
        .map(|&i| old.deal_for(i, &plan, &mut rng))
        .collect();
    let received: Vec<_> = people
        .iter()
        .map(|p| reshare::receive(p, &old.group, &deals, &mut rng).unwrap())
        .collect();
    let mut descriptor = received[0].descriptor.clone();
    descriptor
        .add_signature(2, received[1].descriptor.signatures()[0].signature)
        .unwrap();
    // Two of three needed signatures: not yet.
    assert!(matches!(
        reshare::verify_successor(&old.group, &deals, &descriptor),
        Err(Error::NotEnoughSignatures { needed: 3, have: 2 })
    ));
    descriptor
        .add_signature(5, received[4].descriptor.signatures()[0].signature)
        .unwrap();
    let pinned = reshare::verify_successor(&old.group, &deals, &descriptor).unwrap();
    assert_eq!(pinned.signers(), [1, 2, 5]);
    // Not without every dealer's deal.
    assert!(reshare::verify_successor(&old.group, &deals[..1], &descriptor).is_err());
    // A descriptor with the same key but its own custodians, signed by
    // them, is not the successor.
    let impostors: Vec<PersonSecret> = (1..=5)
        .map(|j| PersonSecret::generate(&format!("impostor {j}"), &mut rng))
        .collect();
    let (mut fake, _) = group::deal(
        plan.name(),
        3,
        5,
        &impostors
            .iter()
            .map(PersonSecret::public)
            .collect::<Vec<_>>(),
        &mut rng,
    )
    .unwrap();
    fake = GroupDescriptor::from_bytes(&fake.to_bytes()).unwrap();
    let err = reshare::verify_successor(&old.group, &deals, &fake).unwrap_err();
    assert!(matches!(err, Error::Custody(_)), "{err}");
    // Shares are redacted in Debug.
    let shown = format!("{:?}", received[0]);
    assert!(shown.contains("share <redacted>"), "{shown}");
}

#[test]
fn deals_round_trip_and_refuse_bad_encodings() {
    let mut rng = os_rng();
    let old = Custody::deal(2, 3, &mut rng);
    let (_, plan) = plan(3, 5, &mut rng);
    let deal = old.deal_for(1, &plan, &mut rng);
    let bytes = deal.to_bytes();
    let parsed = ReshareDeal::from_bytes(&bytes).unwrap();
    assert_eq!(parsed, deal);
    assert_eq!(parsed.to_bytes(), bytes);
    parsed.verify(&old.group).unwrap();
    // Length: preamble, ids, plan, k′ commitments, n′ sub-shares, signature.
    let name_len = plan.name().len();
    let commitments_at =
        7 + 16 + 4 + 4 + 2 + (2 + 2 * 2) + (4 + name_len) + 2 + 2 + 5 * (2 + 32 + 1216);
    assert_eq!(
        bytes.len(),
        commitments_at + 3 * 32 + 5 * (1120 + reshare::SUBSHARE_CT_LEN) + 64
    );
    assert_eq!(reshare::SUBSHARE_CT_LEN, 79);
    assert_eq!(
        &bytes[commitments_at..commitments_at + 32],
        deal.commitments[0].compress().as_bytes()
    );

    let parse = |b: &[u8]| ReshareDeal::from_bytes(b).unwrap_err();
    // Trailing, truncated, wrong magic, version, suite.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        parse(&longer),
        Error::TrailingBytes { count: 1, .. }
    ));
    assert!(matches!(
        parse(&bytes[..bytes.len() - 1]),
        Error::Truncated { .. }
    ));
    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(parse(&b), Error::BadMagic { .. }));
    let mut b = bytes.clone();
    b[4] = 2;
    assert!(matches!(
        parse(&b),
        Error::UnsupportedVersion { found: 2, .. }
    ));
    let mut b = bytes.clone();
    b[6] = 2;
    assert!(matches!(parse(&b), Error::UnsupportedSuite { .. }));

    // Invalid commitment points: the identity, a non-canonical encoding,
    // an encoding that is not a point.
    for m in 0..3 {
        let at = commitments_at + 32 * m;
        for bad in [[0u8; 32], [0xff; 32], {
            let mut odd = G.compress().to_bytes();
            odd[0] |= 1;
            odd
        }] {
            let mut b = bytes.clone();
            b[at..at + 32].copy_from_slice(&bad);
            assert!(
                matches!(
                    parse(&b),
                    Error::InvalidPoint {
                        field: "commitment",
                        ..
                    }
                ),
                "commitment {m}"
            );
        }
    }

    // Generations out of step; dealer 0.
    let ids = 7 + 16;
    let mut b = bytes.clone();
    b[ids + 4..ids + 8].copy_from_slice(&5u32.to_be_bytes());
    assert!(matches!(parse(&b), Error::Malformed { .. }));
    let mut b = bytes.clone();
    b[ids + 8..ids + 10].copy_from_slice(&0u16.to_be_bytes());
    assert!(matches!(parse(&b), Error::Malformed { .. }));
    // Dealer set: empty, not increasing.
    let set = ids + 10;
    let mut b = bytes.clone();
    b[set..set + 2].copy_from_slice(&0u16.to_be_bytes());
    assert!(matches!(parse(&b), Error::Malformed { .. }));
    let mut b = bytes.clone();
    b[set + 2..set + 6].copy_from_slice(&[0, 3, 0, 1]);
    assert!(matches!(parse(&b), Error::Malformed { .. }));
    // k′ > n′, k′ = 0.
    let kn = set + 6 + 4 + name_len;
    for k in [0u16, 6] {
        let mut b = bytes.clone();
        b[kn..kn + 2].copy_from_slice(&k.to_be_bytes());
        assert!(matches!(parse(&b), Error::Malformed { .. }), "k′ = {k}");
    }
    // New custodians: an index out of order, a repeated key, a weak key.
    let first = kn + 4;
    let entry = 2 + 32 + 1216;
    let mut b = bytes.clone();
    b[first..first + 2].copy_from_slice(&2u16.to_be_bytes());
    assert!(matches!(parse(&b), Error::Malformed { .. }));
    let mut b = bytes.clone();
    let (head, tail) = b.split_at_mut(first + entry);
    tail[2..entry].copy_from_slice(&head[first + 2..first + entry]);
    assert!(matches!(parse(&b), Error::Malformed { .. }));
    let mut b = bytes.clone();
    let mut weak = [0u8; 32];
    weak[0] = 1;
    b[first + 2..first + 34].copy_from_slice(&weak);
    assert!(matches!(parse(&b), Error::InvalidSigningKey { .. }));
    // A name over 128 bytes.
    assert!(matches!(
        ResharePlan::new(
            &DEALERS,
            &"x".repeat(129),
            1,
            &[PersonSecret::generate("p", &mut rng).public()]
        ),
        Err(Error::Custody(_))
    ));
    // Any flipped byte in the signed body breaks the signature (or the parse).
    for at in [9, commitments_at - 5, bytes.len() - 100] {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        if let Ok(d) = ReshareDeal::from_bytes(&b) {
            assert!(d.verify(&old.group).is_err(), "byte {at}");
        }
    }
}
