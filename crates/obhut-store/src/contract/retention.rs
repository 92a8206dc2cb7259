//! [`crate::RetentionStore`]'s contract: due epochs by expiry, the order
//! expiring → destroyed → swept with each step idempotent, segments
//! leaving the index in one step, tombstones, the clock floor.

use obhut_core::ids::{EpochId, RecordingId};

use super::{CLASS, Fresh, GROUP, case, enrol, entry, segment};
use crate::{BlobKey, EpochRow, EpochState, IndexStore, StoreError};

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case("due epochs come by expiry", fresh, due).await;
    case(
        "an epoch is destroyed once, its segments leave in one step",
        fresh,
        destroy,
    )
    .await;
    case("the clock floor only rises", fresh, floor).await;
    case(
        "a reclassification is logged and checks the class it expects",
        fresh,
        reclassify,
    )
    .await;
}

fn epoch(id: u8, not_before: i64, expires_ms: Option<i64>) -> EpochRow {
    EpochRow {
        epoch_id: EpochId([id; 16]),
        retention_class: CLASS.to_owned(),
        not_before,
        not_after: not_before + 1000,
        public: vec![id; 8],
        expires_ms,
        state: EpochState::Live,
        destroyed_ms: None,
    }
}

async fn due(s: impl IndexStore) {
    s.put_epoch(&epoch(1, 0, Some(5000)), &entry(1))
        .await
        .unwrap();
    s.put_epoch(&epoch(2, 1000, Some(3000)), &entry(2))
        .await
        .unwrap();
    s.put_epoch(&epoch(3, 2000, None), &entry(3)).await.unwrap();
    let ids = |v: Vec<EpochRow>| v.into_iter().map(|e| e.epoch_id.0[0]).collect::<Vec<_>>();
    assert_eq!(ids(s.due_epochs(2999, 10).await.unwrap()), Vec::<u8>::new());
    assert_eq!(ids(s.due_epochs(3000, 10).await.unwrap()), vec![2]);
    assert_eq!(ids(s.due_epochs(i64::MAX, 10).await.unwrap()), vec![2, 1]);
    assert_eq!(ids(s.due_epochs(i64::MAX, 1).await.unwrap()), vec![2]);
    let e = s.epoch(EpochId([1; 16])).await.unwrap().unwrap();
    assert_eq!((e.expires_ms, e.state), (Some(5000), EpochState::Live));
    // A period has one epoch for ever: its row is the tombstone.
    assert!(
        s.put_epoch(&epoch(4, 0, Some(9000)), &entry(4))
            .await
            .is_err()
    );
}

async fn destroy(s: impl IndexStore) {
    const DEVICE: [u8; 32] = [10; 32];
    const R: RecordingId = RecordingId([40; 16]);
    enrol(&s, DEVICE, GROUP).await;
    let mut e = epoch(5, 0, Some(10));
    e.epoch_id = super::EPOCH;
    s.put_epoch(&e, &entry(0)).await.unwrap();
    let a = segment(R, 0, 1, [0; 32], DEVICE, GROUP, false);
    let b = segment(R, 1, 2, [1; 32], DEVICE, GROUP, true);
    s.insert_segment(&a).await.unwrap();
    s.insert_segment(&b).await.unwrap();
    let id = super::EPOCH;
    assert_eq!(s.epoch_segment_count(id).await.unwrap(), 2);

    // Not before it is marked expiring.
    assert!(matches!(
        s.destroy_epoch(id, 20, b"receipt", &entry(9)).await,
        Err(StoreError::EpochLive)
    ));
    s.mark_expiring(id).await.unwrap();
    s.mark_expiring(id).await.unwrap();
    assert_eq!(
        s.epoch(id).await.unwrap().unwrap().state,
        EpochState::Expiring
    );
    assert!(s.recording(R).await.unwrap().is_some(), "still whole");

    let logged = s.log_sequenced().await.unwrap();
    assert_eq!(
        s.destroy_epoch(id, 20, b"receipt", &entry(9))
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1, "one entry");
    // Gone from the index in that one step, tombstoned.
    assert_eq!(s.segment(R, 0).await.unwrap(), None);
    assert_eq!(s.recording(R).await.unwrap(), None);
    let t = s.expired_recording(R).await.unwrap().unwrap();
    assert_eq!((t.epoch_id, t.expired_ms), (id, 20));
    let e = s.epoch(id).await.unwrap().unwrap();
    assert_eq!((e.state, e.destroyed_ms), (EpochState::Destroyed, Some(20)));
    assert_eq!(
        s.deletion_receipt(id).await.unwrap().as_deref(),
        Some(&b"receipt"[..])
    );
    // Again: nothing moves, nothing is logged.
    assert_eq!(
        s.destroy_epoch(id, 30, b"other", &entry(10)).await.unwrap(),
        0
    );
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1);
    assert_eq!(
        s.deletion_receipt(id).await.unwrap().as_deref(),
        Some(&b"receipt"[..])
    );

    // The queue, then the sweep's end.
    let mut q = s.queued_blobs(id, 10).await.unwrap();
    q.sort_by_key(|k| k.index);
    let k = |index| BlobKey {
        recording: R,
        index,
    };
    assert_eq!(q, vec![k(0), k(1)]);
    assert!(!s.finish_sweep(id).await.unwrap(), "blobs still queued");
    s.dequeue_blobs(id, &[k(0)]).await.unwrap();
    s.dequeue_blobs(id, &[k(0)]).await.unwrap();
    assert_eq!(s.queued_blobs(id, 10).await.unwrap(), vec![k(1)]);
    s.dequeue_blobs(id, &[k(1)]).await.unwrap();
    assert!(s.finish_sweep(id).await.unwrap());
    assert!(s.finish_sweep(id).await.unwrap());
    let e = s.epoch(id).await.unwrap().unwrap();
    assert_eq!(e.state, EpochState::Swept, "the row stays as the tombstone");
    assert!(s.due_epochs(i64::MAX, 10).await.unwrap().is_empty());
}

async fn floor(s: impl IndexStore) {
    assert_eq!(s.clock_floor(1000).await.unwrap(), 1000);
    assert_eq!(s.clock_floor(500).await.unwrap(), 1000, "a clock set back");
    assert_eq!(s.clock_floor(2000).await.unwrap(), 2000);
}

async fn reclassify(s: impl IndexStore) {
    const DEVICE: [u8; 32] = [12; 32];
    enrol(&s, DEVICE, GROUP).await;
    let logged = s.log_sequenced().await.unwrap();
    assert!(matches!(
        s.reclassify_device(DEVICE, "other", "evidence", &entry(1))
            .await,
        Err(StoreError::ClassChanged { .. })
    ));
    assert!(matches!(
        s.reclassify_device([13; 32], CLASS, "evidence", &entry(1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.log_sequenced().await.unwrap(),
        logged,
        "refusals log nothing"
    );
    s.reclassify_device(DEVICE, CLASS, "evidence", &entry(2))
        .await
        .unwrap();
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1);
    let d = s.device(DEVICE).await.unwrap().unwrap();
    assert_eq!(d.retention_class, "evidence");
}
