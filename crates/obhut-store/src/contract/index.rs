//! [`IndexStore`]'s own contract: instance id, groups, tokens and devices,
//! people, nonces, epochs, recordings and segments.

use obhut_core::ids::RecordingId;

use super::{
    CLASS, EPOCH, Fresh, GROUP, OTHER_GROUP, case, enrol, entry, put_epoch, put_group, segment,
};
use crate::{
    EpochRow, GroupRow, Head, IndexStore, Inserted, RecordingFilter, StoreError, TokenRow,
};

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case("instance id is unset, then set", fresh, instance_id).await;
    case("groups are added, replaced and logged", fresh, groups).await;
    case("a token enrols one device, idempotently", fresh, tokens).await;
    case(
        "a failed entry leaves the enrolment undone",
        fresh,
        enrol_atomic,
    )
    .await;
    case("revocation is logged once and sticks", fresh, revocation).await;
    case(
        "readers, auditors and policy log only changes",
        fresh,
        people,
    )
    .await;
    case("a nonce is used once until it expires", fresh, nonces).await;
    case("epochs by id and by class and start", fresh, epochs).await;
    case("segments extend the chain or are refused", fresh, chain).await;
    case(
        "a repeated record is returned, another refused",
        fresh,
        repeats,
    )
    .await;
    case("recordings are listed by filter", fresh, listing).await;
}

async fn instance_id(s: impl IndexStore) {
    s.ping().await.expect("ping");
    assert_eq!(
        s.instance_id().await.unwrap(),
        None,
        "a fresh store has none"
    );
    s.set_instance_id("0123abcd").await.unwrap();
    assert_eq!(s.instance_id().await.unwrap().as_deref(), Some("0123abcd"));
}

async fn groups(s: impl IndexStore) {
    assert_eq!(s.group(GROUP).await.unwrap(), None);
    let row = GroupRow {
        group_id: GROUP,
        descriptor: vec![1, 2, 3],
        fingerprint: [2; 32],
        added_ms: 10,
    };
    s.put_group(&row, &entry(1)).await.unwrap();
    assert_eq!(s.group(GROUP).await.unwrap().as_ref(), Some(&row));
    assert_eq!(s.log_sequenced().await.unwrap(), 1, "put_group logs");
    // Replacing the descriptor: the new one is read back, logged again.
    s.put_group(
        &GroupRow {
            descriptor: vec![9; 5],
            fingerprint: [3; 32],
            ..row.clone()
        },
        &entry(2),
    )
    .await
    .unwrap();
    let got = s.group(GROUP).await.unwrap().expect("still there");
    assert_eq!((got.descriptor, got.fingerprint), (vec![9; 5], [3; 32]));
    assert_eq!(s.log_sequenced().await.unwrap(), 2);
    assert_eq!(s.group_ids().await.unwrap(), [GROUP], "one group, once");
    assert_eq!(s.group(OTHER_GROUP).await.unwrap(), None);
}

fn token(hash: u8, expires_ms: i64) -> TokenRow {
    TokenRow {
        token_hash: [hash; 32],
        group_id: GROUP,
        retention_class: CLASS.to_owned(),
        created_ms: 0,
        expires_ms,
    }
}

async fn tokens(s: impl IndexStore) {
    put_group(&s, GROUP).await;
    s.create_token(&token(1, 1000)).await.unwrap();
    let before = s.log_sequenced().await.unwrap();
    let d = s
        .redeem_token([1; 32], [10; 32], 50, |d| {
            assert_eq!(d.device_key, [10; 32], "the entry is built from the row");
            Ok(entry(1))
        })
        .await
        .unwrap();
    assert_eq!(
        (d.device_key, d.group_id, d.retention_class.as_str()),
        ([10; 32], GROUP, CLASS)
    );
    assert_eq!((d.enrolled_ms, d.revoked_ms), (50, None));
    assert_eq!(s.log_sequenced().await.unwrap(), before + 1);
    assert_eq!(s.device([10; 32]).await.unwrap().as_ref(), Some(&d));
    // The same token and key again: the same row, nothing logged.
    let again = s
        .redeem_token([1; 32], [10; 32], 60, |_| Ok(entry(2)))
        .await
        .unwrap();
    assert_eq!(again, d);
    assert_eq!(s.log_sequenced().await.unwrap(), before + 1);
    // Another device with a used token, an unknown token, an expired one.
    for (hash, device, now) in [([1; 32], [11; 32], 60), ([2; 32], [11; 32], 60)] {
        assert!(matches!(
            s.redeem_token(hash, device, now, |_| Ok(entry(3))).await,
            Err(StoreError::Token(_))
        ));
    }
    s.create_token(&token(3, 100)).await.unwrap();
    assert!(matches!(
        s.redeem_token([3; 32], [11; 32], 100, |_| Ok(entry(3)))
            .await,
        Err(StoreError::Token(_))
    ));
    // An enrolled device is not moved to another group by a new token.
    put_group(&s, OTHER_GROUP).await;
    s.create_token(&TokenRow {
        group_id: OTHER_GROUP,
        ..token(4, 1000)
    })
    .await
    .unwrap();
    assert!(matches!(
        s.redeem_token([4; 32], [10; 32], 60, |_| Ok(entry(3)))
            .await,
        Err(StoreError::Token(_))
    ));
    assert_eq!(s.device([11; 32]).await.unwrap(), None, "nothing enrolled");
    assert_eq!(s.devices().await.unwrap(), [d]);
    // Classes of enrolled devices and of usable tokens.
    assert_eq!(s.known_classes(60).await.unwrap(), [CLASS]);
}

async fn enrol_atomic(s: impl IndexStore) {
    put_group(&s, GROUP).await;
    s.create_token(&token(1, 1000)).await.unwrap();
    let before = s.log_sequenced().await.unwrap();
    let failed = s
        .redeem_token([1; 32], [10; 32], 50, |_| {
            Err(obhut_core::Error::Truncated {
                what: "entry",
                field: "test",
            })
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Entry(_))), "{failed:?}");
    assert_eq!(s.device([10; 32]).await.unwrap(), None, "not enrolled");
    assert_eq!(s.log_sequenced().await.unwrap(), before, "not logged");
    // The token was not used up.
    s.redeem_token([1; 32], [10; 32], 50, |_| Ok(entry(1)))
        .await
        .unwrap();
}

async fn revocation(s: impl IndexStore) {
    enrol(&s, [10; 32], GROUP).await;
    let before = s.log_sequenced().await.unwrap();
    assert!(s.revoke_device([10; 32], 30, &entry(1)).await.unwrap());
    assert_eq!(s.log_sequenced().await.unwrap(), before + 1);
    assert_eq!(
        s.device([10; 32]).await.unwrap().unwrap().revoked_ms,
        Some(30)
    );
    // Again: still revoked at the first time, nothing logged.
    assert!(s.revoke_device([10; 32], 40, &entry(2)).await.unwrap());
    assert_eq!(
        s.device([10; 32]).await.unwrap().unwrap().revoked_ms,
        Some(30)
    );
    assert!(!s.revoke_device([11; 32], 40, &entry(3)).await.unwrap());
    assert_eq!(s.log_sequenced().await.unwrap(), before + 1);
    // A revoked device cannot re-enrol, not even with its own token.
    let own = [10 ^ 0x5a; 32];
    assert!(matches!(
        s.redeem_token(own, [10; 32], 50, |_| Ok(entry(4))).await,
        Err(StoreError::Token(_))
    ));
    assert!(s.known_classes(50).await.unwrap().is_empty());
}

async fn people(s: impl IndexStore) {
    put_group(&s, GROUP).await;
    let p = [20; 32];
    let base = s.log_sequenced().await.unwrap();
    s.add_reader(p, GROUP, 1, &entry(1)).await.unwrap();
    s.add_reader(p, GROUP, 2, &entry(2)).await.unwrap();
    assert_eq!(s.log_sequenced().await.unwrap(), base + 1, "a reader once");
    assert_eq!(s.reader_groups(p).await.unwrap(), [GROUP]);
    assert!(s.reader_groups([21; 32]).await.unwrap().is_empty());

    assert!(!s.is_auditor(p).await.unwrap());
    s.add_auditor(p, 1, &entry(3)).await.unwrap();
    s.add_auditor(p, 2, &entry(4)).await.unwrap();
    assert!(s.is_auditor(p).await.unwrap());
    assert!(!s.is_auditor([21; 32]).await.unwrap());
    assert_eq!(
        s.log_sequenced().await.unwrap(),
        base + 2,
        "an auditor once"
    );

    assert!(s.record_policy("a", &entry(5)).await.unwrap());
    assert!(!s.record_policy("a", &entry(6)).await.unwrap());
    assert!(s.record_policy("b", &entry(7)).await.unwrap());
    assert_eq!(s.log_sequenced().await.unwrap(), base + 4, "changes only");
}

async fn nonces(s: impl IndexStore) {
    let (k, n) = ([30; 32], [1; 16]);
    assert!(s.use_nonce(k, n, 100, 0).await.unwrap());
    assert!(!s.use_nonce(k, n, 100, 50).await.unwrap(), "a replay");
    assert!(s.use_nonce([31; 32], n, 100, 50).await.unwrap(), "per key");
    assert!(s.use_nonce(k, [2; 16], 100, 50).await.unwrap());
    // Once expired it is forgotten, and may come again.
    assert!(s.use_nonce(k, n, 300, 200).await.unwrap());
    assert!(!s.use_nonce(k, n, 300, 250).await.unwrap());
    assert!(s.nonce_seen(k, n).await.unwrap(), "seen, by a read");
    assert!(!s.nonce_seen(k, [9; 16]).await.unwrap());
    assert!(!s.nonce_seen([9; 32], n).await.unwrap(), "per key");
    // The start a vault records only moves forward.
    assert_eq!(s.record_start(1_000).await.unwrap(), 1_000);
    assert_eq!(s.record_start(2_000).await.unwrap(), 2_000);
    assert_eq!(
        s.record_start(1_500).await.unwrap(),
        2_000,
        "a clock set back"
    );
}

async fn epochs(s: impl IndexStore) {
    let row = EpochRow {
        epoch_id: EPOCH,
        retention_class: CLASS.to_owned(),
        not_before: 1000,
        not_after: 2000,
        public: vec![4; 40],
        expires_ms: None,
        state: crate::EpochState::Live,
        destroyed_ms: None,
    };
    assert_eq!(s.epoch(EPOCH).await.unwrap(), None);
    s.put_epoch(&row, &entry(0)).await.unwrap();
    assert_eq!(s.epoch(EPOCH).await.unwrap().as_ref(), Some(&row));
    assert_eq!(s.epoch_at(CLASS, 1000).await.unwrap().as_ref(), Some(&row));
    assert_eq!(s.epoch_at(CLASS, 2000).await.unwrap(), None);
    assert_eq!(s.epoch_at("other", 1000).await.unwrap(), None);
}

const R: RecordingId = RecordingId([40; 16]);
const DEVICE: [u8; 32] = [10; 32];

async fn chain(s: impl IndexStore) {
    enrol(&s, DEVICE, GROUP).await;
    enrol(&s, [11; 32], GROUP).await;
    put_epoch(&s).await;
    assert_eq!(s.head(R).await.unwrap(), None);
    assert_eq!(s.recording(R).await.unwrap(), None);
    let seg = |index, tag, prev, is_final| segment(R, index, tag, prev, DEVICE, GROUP, is_final);
    let base = s.log_sequenced().await.unwrap();

    // Refused: segment 0 linking to something, a segment past the head.
    assert!(matches!(
        s.insert_segment(&seg(0, 1, [9; 32], false)).await,
        Err(StoreError::ChainConflict { index: 0, .. })
    ));
    assert!(matches!(
        s.insert_segment(&seg(1, 1, [0; 32], false)).await,
        Err(StoreError::OutOfOrder {
            index: 1,
            next_index: 0
        })
    ));
    assert_eq!(
        s.recording(R).await.unwrap(),
        None,
        "refusals store nothing"
    );
    assert_eq!(s.log_sequenced().await.unwrap(), base, "and log nothing");

    // Segment 0: the row, the recording, the head, one entry with it.
    let first = seg(0, 1, [0; 32], false);
    assert_eq!(s.insert_segment(&first).await.unwrap(), Inserted::New);
    assert_eq!(s.segment(R, 0).await.unwrap().as_ref(), Some(&first.row));
    assert_eq!(
        s.head(R).await.unwrap(),
        Some(Head {
            next_index: 1,
            head_record_hash: [1; 32]
        })
    );
    let rec = s.recording(R).await.unwrap().expect("recording");
    assert_eq!((rec.device_key, rec.group_id), (DEVICE, GROUP));
    assert_eq!(rec.retention_class, CLASS);
    assert_eq!(rec.first_capture_ms, first.row.capture_ms);
    assert_eq!(
        (rec.segment_count, rec.total_bytes, rec.complete),
        (1, 100, false)
    );
    let logged = s.log_entries(base, 10).await.unwrap();
    assert_eq!(logged.len(), 1, "one entry with the row");
    assert_eq!(logged[0].body.as_deref(), Some(&first.log.body[..]));
    assert_eq!(logged[0].recording, Some(R));

    // Refused: a wrong link, another device, a gap.
    assert!(matches!(
        s.insert_segment(&seg(1, 2, [9; 32], false)).await,
        Err(StoreError::ChainConflict { index: 1, .. })
    ));
    assert!(matches!(
        s.insert_segment(&segment(R, 1, 2, [1; 32], [11; 32], GROUP, false))
            .await,
        Err(StoreError::ChainConflict { index: 1, .. })
    ));
    assert!(matches!(
        s.insert_segment(&seg(2, 3, [1; 32], false)).await,
        Err(StoreError::OutOfOrder {
            index: 2,
            next_index: 1
        })
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), base + 1);

    // The final segment completes the recording; nothing follows it.
    let last = seg(1, 2, [1; 32], true);
    assert_eq!(s.insert_segment(&last).await.unwrap(), Inserted::New);
    let rec = s.recording(R).await.unwrap().expect("recording");
    assert_eq!(
        (rec.segment_count, rec.total_bytes, rec.complete),
        (2, 201, true)
    );
    assert!(matches!(
        s.insert_segment(&seg(2, 3, [2; 32], false)).await,
        Err(StoreError::ChainConflict { index: 2, .. })
    ));
    assert_eq!(s.head(R).await.unwrap().map(|h| h.next_index), Some(2));
    assert_eq!(s.segments(R).await.unwrap(), [first.row, last.row]);
    let mut keys = s.segment_keys().await.unwrap();
    keys.sort();
    assert_eq!(keys, [(R, 0), (R, 1)]);
    let about: Vec<u64> = s
        .log_recording_entries(R)
        .await
        .unwrap()
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(about, [base, base + 1], "each row's entry, in log order");
}

async fn repeats(s: impl IndexStore) {
    enrol(&s, DEVICE, GROUP).await;
    put_epoch(&s).await;
    let first = segment(R, 0, 1, [0; 32], DEVICE, GROUP, false);
    assert_eq!(s.insert_segment(&first).await.unwrap(), Inserted::New);
    let base = s.log_sequenced().await.unwrap();
    // The byte-identical record (a retry): the stored row, nothing new,
    // whatever the retry's receipt and times.
    let mut retry = first.clone();
    retry.row.received_ms += 1000;
    retry.row.receipt = vec![0xee; 4];
    assert_eq!(
        s.insert_segment(&retry).await.unwrap(),
        Inserted::Existing(first.row.clone())
    );
    // Another record at a stored index: a conflict; the first one stays.
    assert!(matches!(
        s.insert_segment(&segment(R, 0, 2, [0; 32], DEVICE, GROUP, false))
            .await,
        Err(StoreError::ChainConflict { index: 0, .. })
    ));
    assert_eq!(s.segment(R, 0).await.unwrap(), Some(first.row));
    assert_eq!(
        s.log_sequenced().await.unwrap(),
        base,
        "repeats log nothing"
    );
    assert_eq!(s.recording(R).await.unwrap().unwrap().segment_count, 1);
}

async fn listing(s: impl IndexStore) {
    let (d1, d2) = ([10; 32], [11; 32]);
    enrol(&s, d1, GROUP).await;
    enrol(&s, d2, OTHER_GROUP).await;
    put_epoch(&s).await;
    // Recordings 1 and 3 by d1 in GROUP, 2 by d2 in OTHER_GROUP; first
    // captures 1 000 000 + 0, inserted out of capture order.
    let rids = [
        RecordingId([1; 16]),
        RecordingId([2; 16]),
        RecordingId([3; 16]),
    ];
    for (i, (rid, device, group)) in [
        (rids[2], d1, GROUP),
        (rids[0], d1, GROUP),
        (rids[1], d2, OTHER_GROUP),
    ]
    .into_iter()
    .enumerate()
    {
        let mut seg = segment(rid, 0, 1 + i as u8, [0; 32], device, group, false);
        seg.row.capture_ms = match rid.0[0] {
            1 => 1000,
            2 => 2000,
            _ => 3000,
        };
        s.insert_segment(&seg).await.unwrap();
    }
    let ids = |rows: Vec<crate::RecordingRow>| -> Vec<RecordingId> {
        rows.into_iter().map(|r| r.recording_id).collect()
    };
    let all = RecordingFilter {
        groups: vec![GROUP, OTHER_GROUP],
        ..RecordingFilter::default()
    };
    assert_eq!(
        ids(s.list_recordings(&all).await.unwrap()),
        rids,
        "by first capture time"
    );
    assert_eq!(
        ids(s
            .list_recordings(&RecordingFilter {
                groups: vec![GROUP],
                ..RecordingFilter::default()
            })
            .await
            .unwrap()),
        [rids[0], rids[2]],
        "only the reader's groups"
    );
    assert!(
        s.list_recordings(&RecordingFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "no groups, no recordings"
    );
    assert_eq!(
        ids(s
            .list_recordings(&RecordingFilter {
                device: Some(d2),
                ..all.clone()
            })
            .await
            .unwrap()),
        [rids[1]]
    );
    assert_eq!(
        ids(s
            .list_recordings(&RecordingFilter {
                from_ms: Some(2000),
                to_ms: Some(3000),
                ..all.clone()
            })
            .await
            .unwrap()),
        [rids[1]],
        "from inclusive, to exclusive"
    );
}
