//! Encodings of the threshold structures (docs/format.md §4.1–4.2, §5.3,
//! §8.1–8.2): canonical round trips, strict points and scalars in every
//! field, pinning rules, ceremony bounds, and redacted secrets.

use crate::threshold_support;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::scalar::Scalar;
use obhut_core::error::Error;
use obhut_core::group::{self, GroupDescriptor, PinnedGroup, ShareEnvelope};
use obhut_core::identity::PersonSecret;
use obhut_core::ids::RecordingId;
use obhut_core::kem::{CAPSULE_LEN, Capsule};
use obhut_core::partial::Runs;
use obhut_core::partial::{Partial, PartialEnvelope, custodian_partial};
use obhut_core::request::{AccessRequest, Scope};
use obhut_core::wire::{Reader, Writer};
use threshold_support::*;

/// Encodings that must never decode as a point: the identity, a
/// non-canonical field element (p itself), a negative field element, and
/// a set high bit.
fn bad_points() -> Vec<[u8; 32]> {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut negative = (Scalar::from(7u8) * G).compress().to_bytes();
    negative[0] |= 1;
    let mut high = (Scalar::from(9u8) * G).compress().to_bytes();
    high[31] |= 0x80;
    vec![[0u8; 32], p, negative, high]
}

/// Scalars ≥ l.
fn bad_scalars() -> Vec<[u8; 32]> {
    // l = 2^252 + 27742317777372353535851937790883648493.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    vec![l, [0xff; 32]]
}

fn with(bytes: &[u8], at: usize, value: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + value.len()].copy_from_slice(value);
    b
}

fn is_invalid_point(r: obhut_core::Result<impl std::fmt::Debug>, field: &str) -> bool {
    match r {
        Err(Error::InvalidPoint { field: f, .. }) => f == field,
        other => panic!("expected an invalid {field}, got {other:?}"),
    }
}

fn is_invalid_scalar(r: obhut_core::Result<impl std::fmt::Debug>, field: &str) -> bool {
    match r {
        Err(Error::InvalidScalar { field: f, .. }) => f == field,
        other => panic!("expected an invalid {field}, got {other:?}"),
    }
}

/// Offset of C_0 in a descriptor named "test group".
fn commitments_at() -> usize {
    7 + 16 + 4 + 4 + "test group".len() + 2 + 2
}

#[test]
fn descriptor_round_trips_and_pins() {
    let mut rng = rng();
    let g = Group::new(3, 5, &mut rng);
    for d in [&g.unsigned, g.pinned.descriptor()] {
        let bytes = d.to_bytes();
        let parsed = GroupDescriptor::from_bytes(&bytes).unwrap();
        assert_eq!(&parsed, d);
        assert_eq!(parsed.to_bytes(), bytes);
    }
    let pinned = PinnedGroup::from_bytes(&g.pinned.to_bytes()).unwrap();
    assert_eq!(pinned, g.pinned);
    assert_eq!(pinned.signers(), &[1, 2, 3, 4, 5]);
    assert_eq!((pinned.threshold(), pinned.size()), (3, 5));
    assert_eq!(pinned.group_key().key, pinned.commitments()[0]);
    // Each custodian's verification share is its share times G.
    for i in 1..=5 {
        assert_eq!(
            *pinned.verification_share(i).unwrap(),
            g.raw_share(i) * G,
            "P_{i}"
        );
    }
    assert!(pinned.verification_share(0).is_none() && pinned.verification_share(6).is_none());
    // Any 3 shares interpolate to log P; the shares are the dealt ones.
    let set = [2u16, 4, 5];
    let s: Scalar = set
        .iter()
        .map(|&i| {
            let l = set
                .iter()
                .filter(|&&j| j != i)
                .fold(Scalar::ONE, |acc, &j| {
                    acc * Scalar::from(j) * (Scalar::from(j) - Scalar::from(i)).invert()
                });
            l * g.raw_share(i)
        })
        .sum();
    assert_eq!(s * G, pinned.group_key().key);
}

#[test]
fn descriptor_points_must_be_valid() {
    let mut rng = rng();
    let g = Group::new(3, 4, &mut rng);
    let bytes = g.pinned.to_bytes();
    for j in 0..3 {
        for bad in bad_points() {
            let b = with(&bytes, commitments_at() + 32 * j, &bad);
            assert!(is_invalid_point(
                GroupDescriptor::from_bytes(&b),
                "commitment"
            ));
        }
    }
    // Valid commitments whose verification share is the identity:
    // C_1 = −C_0 makes P_1 = C_0 + C_1 = 0 (k = 2).
    let g2 = Group::new(2, 2, &mut rng);
    let bytes = g2.unsigned.to_bytes();
    let minus_c0 = (-g2.unsigned.commitments()[0]).compress().to_bytes();
    let b = with(&bytes, commitments_at() + 32, &minus_c0);
    assert!(is_invalid_point(
        GroupDescriptor::from_bytes(&b),
        "verification share P_i"
    ));
    // A weak custodian signing key.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let b = with(&bytes, commitments_at() + 64 + 2, &weak);
    assert!(matches!(
        GroupDescriptor::from_bytes(&b),
        Err(Error::InvalidSigningKey { .. })
    ));
}

#[test]
fn descriptor_structure_is_strict() {
    let mut rng = rng();
    let g = Group::new(2, 3, &mut rng);
    let bytes = g.pinned.to_bytes();
    let k_at = commitments_at() - 4;
    // k = 0, k > n, n > 255.
    for (k, n) in [(0u16, 3u16), (4, 3), (2, 256)] {
        let mut b = with(&bytes, k_at, &k.to_be_bytes());
        b = with(&b, k_at + 2, &n.to_be_bytes());
        assert!(GroupDescriptor::from_bytes(&b).is_err(), "k={k} n={n}");
    }
    // Custodian indices out of order.
    let cust_at = commitments_at() + 64;
    let b = with(&bytes, cust_at, &2u16.to_be_bytes());
    assert!(matches!(
        GroupDescriptor::from_bytes(&b),
        Err(Error::Malformed { .. })
    ));
    // The same person listed twice.
    let entry = 2 + 32 + 1216;
    let first = bytes[cust_at + 2..cust_at + entry].to_vec();
    let b = with(&bytes, cust_at + entry + 2, &first);
    assert!(matches!(
        GroupDescriptor::from_bytes(&b),
        Err(Error::Malformed { .. })
    ));
    // Trailing bytes; truncation.
    let mut b = bytes.clone();
    b.push(0);
    assert!(matches!(
        GroupDescriptor::from_bytes(&b),
        Err(Error::TrailingBytes { .. })
    ));
    assert!(matches!(
        GroupDescriptor::from_bytes(&bytes[..bytes.len() - 1]),
        Err(Error::Truncated { .. })
    ));
    // Signature indices: repeated, unlisted.
    let sigs_at = bytes.len() - 3 * 66;
    let b = with(&bytes, sigs_at + 66, &1u16.to_be_bytes());
    assert!(matches!(
        GroupDescriptor::from_bytes(&b),
        Err(Error::Malformed { .. })
    ));
    let b = with(&bytes, sigs_at + 2 * 66, &4u16.to_be_bytes());
    assert!(matches!(
        GroupDescriptor::from_bytes(&b),
        Err(Error::Malformed { .. })
    ));
    // Wrong magic is reported as such.
    assert!(matches!(
        GroupDescriptor::from_bytes(&with(&bytes, 0, b"OBSE")),
        Err(Error::BadMagic { .. })
    ));
}

#[test]
fn pinning_needs_k_valid_signatures_and_no_forged_one() {
    let mut rng = rng();
    let g = Group::new(3, 5, &mut rng);
    let mut d = g.unsigned.clone();
    assert!(matches!(
        d.pin(),
        Err(Error::NotEnoughSignatures { needed: 3, have: 0 })
    ));
    for i in [5u16, 2] {
        let (me, share) = g.custodian(i);
        group::sign_descriptor(&mut d, share, me).unwrap();
    }
    assert!(matches!(
        PinnedGroup::from_bytes(&d.to_bytes()),
        Err(Error::NotEnoughSignatures { needed: 3, have: 2 })
    ));
    // Signing twice does not count twice.
    let (me2, share2) = g.custodian(2);
    group::sign_descriptor(&mut d, share2, me2).unwrap();
    assert_eq!(d.signatures().len(), 2);
    let (me4, share4) = g.custodian(4);
    group::sign_descriptor(&mut d, share4, me4).unwrap();
    let pinned = d.pin().unwrap();
    assert_eq!(pinned.signers(), &[2, 4, 5]);
    let bytes = d.to_bytes();

    // A forged (random) signature for custodian 4.
    let sigs_at = bytes.len() - 3 * 66;
    let b = with(&bytes, sigs_at + 66 + 2, &[0x5a; 64]);
    assert!(matches!(
        PinnedGroup::from_bytes(&b),
        Err(Error::DescriptorSignature { custodian: 4 })
    ));
    // Custodian 2's valid signature relabelled as custodian 3's.
    let b = with(&bytes, sigs_at, &3u16.to_be_bytes());
    assert!(matches!(
        PinnedGroup::from_bytes(&b),
        Err(Error::DescriptorSignature { custodian: 3 })
    ));
    // The vault swaps a commitment (or renames the group) after signing.
    let b = with(
        &bytes,
        commitments_at() + 32,
        (G * Scalar::from(3u8)).compress().as_bytes(),
    );
    assert!(matches!(
        PinnedGroup::from_bytes(&b),
        Err(Error::DescriptorSignature { .. })
    ));
    let b = with(&bytes, 7 + 16 + 4 + 4, b"pest");
    assert!(matches!(
        PinnedGroup::from_bytes(&b),
        Err(Error::DescriptorSignature { .. })
    ));
    // A signature by someone who is not a custodian is refused.
    let mallory = PersonSecret::generate("mallory", &mut rng);
    let sig = mallory
        .sign
        .sign(obhut_core::labels::GROUP_DESCRIPTOR_SIG, &d.signed_body());
    let mut d2 = g.unsigned.clone();
    assert!(matches!(
        d2.add_signature(1, sig),
        Err(Error::DescriptorSignature { custodian: 1 })
    ));
    // Collected signatures can be merged by the dealer.
    for s in d.signatures() {
        d2.add_signature(s.index, s.signature).unwrap();
    }
    assert_eq!(d2, d);
}

#[test]
fn custodians_sign_and_open_only_their_own_share() {
    let mut rng = rng();
    let g = Group::new(2, 3, &mut rng);
    let other = Group::new(2, 3, &mut rng);
    let (me1, share1) = g.custodian(1);
    let (me2, _) = g.custodian(2);
    let mut d = g.unsigned.clone();
    // Another group's share, or another custodian's identity: refused.
    assert!(group::sign_descriptor(&mut d, other.custodian(1).1, me1).is_err());
    assert!(group::sign_descriptor(&mut d, share1, me2).is_err());
    assert!(d.signatures().is_empty());
    // Opening: wrong person, wrong descriptor, altered envelope.
    assert!(matches!(
        g.envelopes[0].open(me2, &g.unsigned),
        Err(Error::Custody(_))
    ));
    assert!(matches!(
        g.envelopes[0].open(me1, &other.unsigned),
        Err(Error::Custody(_))
    ));
    let mut env = g.envelopes[0].clone();
    env.sealed[3] ^= 1;
    assert!(matches!(
        env.open(me1, &g.unsigned),
        Err(Error::DecryptionFailed { .. })
    ));
    // An envelope round-trips.
    for e in &g.envelopes {
        let b = e.to_bytes();
        let parsed = ShareEnvelope::from_bytes(&b).unwrap();
        assert_eq!(&parsed, e);
        assert_eq!(parsed.to_bytes(), b);
    }
    assert!(
        ShareEnvelope::from_bytes(&with(&g.envelopes[0].to_bytes(), 7 + 16 + 4, &[0, 0])).is_err()
    );
}

#[test]
fn ceremony_bounds() {
    let mut rng = rng();
    let people: Vec<_> = (0..3)
        .map(|i| PersonSecret::generate(&format!("p{i}"), &mut rng).public())
        .collect();
    assert!(group::deal("g", 0, 3, &people, &mut rng).is_err());
    assert!(group::deal("g", 4, 3, &people, &mut rng).is_err());
    assert!(group::deal("g", 2, 2, &people, &mut rng).is_err());
    assert!(group::deal(&"n".repeat(129), 2, 3, &people, &mut rng).is_err());
    let twice = [people[0].clone(), people[1].clone(), people[0].clone()];
    assert!(group::deal("g", 2, 3, &twice, &mut rng).is_err());
    let too_many: Vec<_> = (0..256).map(|_| people[0].clone()).collect();
    assert!(group::deal("g", 2, 256, &too_many, &mut rng).is_err());
    let (d, envs) = group::deal("g", 3, 3, &people, &mut rng).unwrap();
    assert_eq!((d.threshold(), d.size(), envs.len()), (3, 3, 3));
    assert_eq!(d.generation(), group::FIRST_GENERATION);
}

#[test]
fn largest_group_255_of_255() {
    let mut rng = rng();
    let people: Vec<_> = (0..255u16)
        .map(|i| PersonSecret::generate(&format!("p{i}"), &mut rng))
        .collect();
    let publics: Vec<_> = people.iter().map(PersonSecret::public).collect();
    let (d, envs) = group::deal("big", 255, 255, &publics, &mut rng).unwrap();
    assert_eq!(GroupDescriptor::from_bytes(&d.to_bytes()).unwrap(), d);
    let last = envs[254].open(&people[254], &d).unwrap();
    assert_eq!(last.index(), 255);
}

#[test]
fn capsule_round_trips_and_points_must_be_valid() {
    let mut rng = rng();
    let g = Group::new(2, 3, &mut rng);
    let device = Device::new("d", &mut rng);
    let sealed = device.seal(
        &g,
        Spec::media(RecordingId::random(&mut rng), 0, 0, 10),
        &mut rng,
    );
    let capsule = sealed.capsule();
    let mut w = Writer::new();
    capsule.encode(&mut w);
    let bytes = w.into_vec();
    assert_eq!(bytes.len(), CAPSULE_LEN);
    let read = |b: &[u8]| {
        let mut r = Reader::new("capsule", b);
        let c = Capsule::read(&mut r)?;
        r.finish()?;
        Ok::<_, Error>(c)
    };
    assert_eq!(read(&bytes).unwrap(), capsule);
    for bad in bad_points() {
        assert!(is_invalid_point(read(&with(&bytes, 20, &bad)), "R"));
        assert!(is_invalid_point(read(&with(&bytes, 52, &bad)), "U_bar"));
    }
    for bad in bad_scalars() {
        assert!(is_invalid_scalar(read(&with(&bytes, 84, &bad)), "proof_c"));
        assert!(is_invalid_scalar(read(&with(&bytes, 116, &bad)), "proof_z"));
    }
}

/// A real partial over two segments, opened.
fn sample_partial(rng: &mut Rng) -> (Partial, PartialEnvelope) {
    let g = Group::new(2, 3, rng);
    let device = Device::new("d", rng);
    let rec = RecordingId::random(rng);
    let records: Vec<_> = (0..2)
        .map(|i| device.seal(&g, Spec::media(rec, i, 0, 10), rng).record)
        .collect();
    let requester = PersonSecret::generate("r", rng);
    let req = request(&requester, &g.pinned, vec![whole_recording(rec)], rng);
    let (me, share) = g.custodian(2);
    let env = custodian_partial(
        me,
        share,
        &g.pinned,
        &req,
        &grant(&req),
        &records,
        Runs::default(),
        NOW,
        rng,
    )
    .unwrap();
    (env.open(&requester.kem).unwrap(), env)
}

#[test]
fn partial_round_trips_and_points_must_be_valid() {
    let mut rng = rng();
    let (partial, env) = sample_partial(&mut rng);
    let bytes = partial.to_bytes();
    assert_eq!(Partial::from_bytes(&bytes).unwrap(), partial);
    assert_eq!(Partial::from_bytes(&bytes).unwrap().to_bytes(), bytes);
    let eb = env.to_bytes();
    assert_eq!(PartialEnvelope::from_bytes(&eb).unwrap(), env);
    assert_eq!(PartialEnvelope::from_bytes(&eb).unwrap().to_bytes(), eb);

    let entries_at = 7 + 16 + 4 + 2 + 8 + 32 + 32 + 4;
    for j in 0..2 {
        let at = entries_at + obhut_core::partial::PARTIAL_ENTRY_LEN * j;
        for bad in bad_points() {
            assert!(is_invalid_point(
                Partial::from_bytes(&with(&bytes, at + 20, &bad)),
                "entry R"
            ));
            assert!(is_invalid_point(
                Partial::from_bytes(&with(&bytes, at + 52, &bad)),
                "entry D"
            ));
        }
    }
    let proof_at = entries_at + obhut_core::partial::PARTIAL_ENTRY_LEN * 2;
    for bad in bad_scalars() {
        assert!(is_invalid_scalar(
            Partial::from_bytes(&with(&bytes, proof_at, &bad)),
            "proof_c"
        ));
        assert!(is_invalid_scalar(
            Partial::from_bytes(&with(&bytes, proof_at + 32, &bad)),
            "proof_z"
        ));
    }
    // An entry without a share (share_x 0) must carry 32 zero bytes.
    assert_ne!(partial.entries[0].share_x, 0, "the sample carries shares");
    assert!(matches!(
        Partial::from_bytes(&with(&bytes, entries_at + 84, &[0, 0])),
        Err(Error::Malformed { .. })
    ));
    let no_share = with(
        &with(&bytes, entries_at + 84, &[0, 0]),
        entries_at + 86,
        &[0; 32],
    );
    assert_eq!(
        Partial::from_bytes(&no_share).unwrap().entries[0].share_x,
        0
    );
    // Count 0, count above the bound, count beyond the input.
    let count_at = entries_at - 4;
    for count in [0u32, 65_537, 3] {
        assert!(
            Partial::from_bytes(&with(&bytes, count_at, &count.to_be_bytes())).is_err(),
            "{count}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        Partial::from_bytes(&long),
        Err(Error::TrailingBytes { .. })
    ));
    // An envelope claiming more than 16 MiB is refused before allocating.
    let sealed_len_at = 7 + 2 + 32 + 1120;
    assert!(matches!(
        PartialEnvelope::from_bytes(&with(&eb, sealed_len_at, &u32::MAX.to_be_bytes())),
        Err(Error::FieldTooLong { .. })
    ));
}

#[test]
fn request_round_trips_and_keys_must_be_valid() {
    let mut rng = rng();
    let g = Group::new(2, 3, &mut rng);
    let requester = PersonSecret::generate("r", &mut rng);
    let device = Device::new("d", &mut rng).secret.sign.verify_key();
    let req = request(
        &requester,
        &g.pinned,
        vec![
            whole_recording(RecordingId::random(&mut rng)),
            Scope::Device {
                device_key: device,
                utc_start_ms: -5,
                utc_end_ms: NOW,
                include_metadata: false,
            },
        ],
        &mut rng,
    );
    let bytes = req.to_bytes();
    let parsed = AccessRequest::from_bytes(&bytes).unwrap();
    assert_eq!(parsed, req);
    assert_eq!(parsed.to_bytes(), bytes);
    assert_eq!(parsed.request_hash(), req.request_hash());
    assert_eq!(
        req.requester_fingerprint(),
        requester.public().fingerprint()
    );

    let mut weak = [0u8; 32];
    weak[0] = 1;
    // requester_sign.
    assert!(matches!(
        AccessRequest::from_bytes(&with(&bytes, 7 + 16, &weak)),
        Err(Error::InvalidSigningKey {
            field: "requester_sign",
            ..
        })
    ));
    // The device key of the second scope entry.
    let scopes_at = 7 + 16 + 32 + 1216 + 16 + 4 + 2;
    let device_at = scopes_at + (1 + 16 + 8 + 8 + 1) + 1;
    assert_eq!(&bytes[device_at..device_at + 32], &device.to_bytes());
    assert!(matches!(
        AccessRequest::from_bytes(&with(&bytes, device_at, &weak)),
        Err(Error::InvalidSigningKey {
            field: "scope device_key",
            ..
        })
    ));
    // An unknown scope type and a flag byte that is not 0/1.
    assert!(matches!(
        AccessRequest::from_bytes(&with(&bytes, scopes_at, &[2])),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        AccessRequest::from_bytes(&with(&bytes, scopes_at + 33, &[2])),
        Err(Error::Malformed { .. })
    ));
    // Scope count 0.
    assert!(AccessRequest::from_bytes(&with(&bytes, scopes_at - 2, &[0, 0])).is_err());
}

#[test]
fn shares_never_appear_in_debug_output() {
    let mut rng = rng();
    let g = Group::new(2, 3, &mut rng);
    for i in 1..=3u16 {
        let secret = g.raw_share(i);
        let (_, share) = g.custodian(i);
        let shown = format!(
            "{share:?} {share:#?} {:?} {:?} {:?}",
            g.envelopes[i as usize - 1],
            g.pinned,
            g.unsigned
        );
        let hex = hex::encode(secret.to_bytes());
        assert!(!shown.contains(&hex[..16]), "{shown}");
        assert!(!shown.contains(&format!("{:?}", secret.to_bytes())[..24]));
        assert!(!shown.contains(&format!("{secret:?}")));
        assert!(format!("{share:?}").contains("redacted"));
        // The verification share is public and is what the share maps to.
        assert_eq!(share.public(), secret * G);
    }
}
