//! Issue 15 item 10: nothing that holds a partial decryption D, a share, a
//! segment's a or b, or a key prints it through `Debug`. Each check looks
//! for the secret in every encoding a derived `Debug` would use (hex,
//! dalek's `Debug` of the point or scalar, the decimal byte list).

use crate::threshold_support;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use obhut_core::combine::combine;
use obhut_core::epoch::EpochSecret;
use obhut_core::ids::RecordingId;
use obhut_core::partial::Runs;
use obhut_core::partial::custodian_partial;
use obhut_core::segment::SegmentKind;
use threshold_support::*;

fn byte_list(b: &[u8]) -> String {
    format!("{b:?}")
}

fn encodings_of_point(p: &RistrettoPoint) -> Vec<String> {
    let c = p.compress();
    vec![
        hex::encode(c.as_bytes()),
        format!("{c:?}"),
        format!("{p:?}"),
        byte_list(c.as_bytes()),
    ]
}

fn encodings_of_scalar(s: &Scalar) -> Vec<String> {
    vec![
        hex::encode(s.as_bytes()),
        format!("{s:?}"),
        byte_list(s.as_bytes()),
    ]
}

fn encodings_of_bytes(b: &[u8; 32]) -> Vec<String> {
    vec![hex::encode(b), byte_list(b)]
}

fn assert_hidden(shown: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(!shown.contains(s.as_str()), "{what} shows {s}: {shown}");
    }
}

#[test]
fn partials_shares_and_combined_keys_never_print_secrets() {
    let mut rng = rng();
    let group = Group::new(2, 3, &mut rng);
    let device = Device::new("bodycam 7", &mut rng);
    let rec = RecordingId::random(&mut rng);
    let mut segs: Vec<Sealed> = (0..2)
        .map(|i| {
            device.seal(
                &group,
                Spec::media(rec, i, u64::from(i) * 4000, (u64::from(i) + 1) * 4000),
                &mut rng,
            )
        })
        .collect();
    let mut index = Spec::media(rec, 2, 0, 0);
    index.kind = SegmentKind::ContainerIndex;
    segs.push(device.seal(&group, index, &mut rng));
    let requester = obhut_core::identity::PersonSecret::generate("requester", &mut rng);
    let request = request(
        &requester,
        &group.pinned,
        vec![whole_recording(rec)],
        &mut rng,
    );
    let grant = grant(&request);
    let records: Vec<_> = segs.iter().map(|s| s.record.clone()).collect();
    let envelopes: Vec<_> = [1u16, 2]
        .iter()
        .map(|&i| {
            let (me, share) = group.custodian(i);
            custodian_partial(
                me,
                share,
                &group.pinned,
                &request,
                &grant,
                &records,
                Runs::default(),
                NOW,
                &mut rng,
            )
            .unwrap()
        })
        .collect();

    // A partial (and each of its entries): no D.
    for env in &envelopes {
        let partial = env.open(&requester.kem).unwrap();
        let shown = format!("{partial:?} {env:?}");
        for e in &partial.entries {
            assert_hidden(&shown, &encodings_of_point(&e.d), "Partial");
        }
        assert!(shown.contains("index: 0"), "{shown}");
    }

    // A custodian's share: no s_i.
    for i in 1..=3 {
        let (me, share) = group.custodian(i);
        let shown = format!("{share:?} {me:?}");
        assert_hidden(
            &shown,
            &encodings_of_scalar(&group.raw_share(i)),
            "CustodianShare",
        );
        assert_hidden(
            &shown,
            &encodings_of_bytes(me.sign.seed().expose()),
            "PersonSecret",
        );
    }

    // The combine's output: no a, no c.
    let expected: Vec<_> = segs.iter().map(|s| &s.record).collect();
    let combined = combine(
        &group.pinned,
        &request,
        &grant,
        &expected,
        &envelopes,
        &requester.kem,
    )
    .unwrap();
    let shown = format!("{combined:?}");
    for (_, a, c) in &combined.keys {
        assert_hidden(&shown, &encodings_of_bytes(a.expose()), "Combined");
        assert_hidden(&shown, &encodings_of_bytes(c.expose()), "Combined");
    }
    // The partials' shares of c stay out of their Debug too.
    for env in &envelopes {
        let partial = env.open(&requester.kem).unwrap();
        let shown = format!("{partial:?}");
        for e in &partial.entries {
            assert_hidden(&shown, &encodings_of_bytes(&e.share), "Partial");
        }
    }

    let epoch = EpochSecret::generate(obhut_core::ids::EpochId::random(&mut rng), &mut rng);
    let seed = epoch.to_secret_bytes();
    let shown = format!("{epoch:?}");
    let seed = seed.expose();
    let kem_seed: &[u8; 32] = seed[seed.len() - 32..].try_into().unwrap();
    assert_hidden(&shown, &encodings_of_bytes(kem_seed), "EpochSecret");
}
