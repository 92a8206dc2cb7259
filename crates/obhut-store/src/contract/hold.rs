//! [`crate::HoldStore`]'s contract: a hold placed once and released once,
//! each with its entry; the candidates of an expiring epoch; a held
//! segment moved to its hold's epoch with its re-wrap, so the epoch's
//! destruction passes it by; the release giving the hold's epoch its
//! expiry, whose destruction then takes the segment and its re-wrap.

use obhut_core::ids::{EpochId, GroupId, RecordingId};

use super::{CLASS, EPOCH, Fresh, GROUP, case, enrol, entry, segment};
use crate::{EpochRow, EpochState, HoldRow, IndexStore, RewrapRow, StoreError};

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case(
        "a hold is placed once and released once, each logged",
        fresh,
        place_release,
    )
    .await;
    case(
        "a held segment moves to its hold's epoch and outlives its own",
        fresh,
        held,
    )
    .await;
    case(
        "an epoch split moves a segment with its re-wrap",
        fresh,
        split,
    )
    .await;
}

async fn split(s: impl IndexStore) {
    const R: RecordingId = RecordingId([27; 16]);
    const S: EpochId = EpochId([28; 16]);
    enrol(&s, DEVICE, GROUP).await;
    s.put_epoch(&epoch_row(EPOCH, CLASS, Some(100)), &entry(0))
        .await
        .unwrap();
    s.put_epoch(&epoch_row(S, "split-x", Some(100)), &entry(1))
        .await
        .unwrap();
    for (i, last) in [(0u32, false), (1, true)] {
        s.insert_segment(&segment(
            R,
            i,
            i as u8 + 1,
            [i as u8; 32],
            DEVICE,
            GROUP,
            last,
        ))
        .await
        .unwrap();
    }
    assert_eq!(s.epoch_segments(EPOCH).await.unwrap(), vec![(R, 0), (R, 1)]);
    let rw = RewrapRow {
        recording_id: R,
        index: 1,
        epoch_id: S,
        rewrap: vec![9; 40],
    };
    assert!(s.split_segment(EPOCH, &rw).await.unwrap());
    assert!(!s.split_segment(EPOCH, &rw).await.unwrap(), "moved already");
    assert_eq!(s.epoch_segments(EPOCH).await.unwrap(), vec![(R, 0)]);
    assert_eq!(s.epoch_segments(S).await.unwrap(), vec![(R, 1)]);
    assert_eq!(s.segment_rewrap(R, 1).await.unwrap(), Some(rw.clone()));
    assert!(matches!(
        s.split_segment(EPOCH, &RewrapRow { index: 7, ..rw }).await,
        Err(StoreError::NotFound(_))
    ));
}

const DEVICE: [u8; 32] = [20; 32];
const HOLD: [u8; 16] = [21; 16];

fn hold(id: [u8; 16], device: [u8; 32], from_ms: i64, to_ms: i64) -> HoldRow {
    HoldRow {
        hold_id: id,
        group_id: GROUP,
        case: "2026-K-0042".into(),
        device_key: device,
        from_ms,
        to_ms,
        placed_ms: 7,
        released_ms: None,
    }
}

fn epoch_row(id: EpochId, class: &str, expires_ms: Option<i64>) -> EpochRow {
    EpochRow {
        epoch_id: id,
        retention_class: class.to_owned(),
        not_before: 0,
        not_after: 1000,
        public: vec![1; 8],
        expires_ms,
        state: EpochState::Live,
        destroyed_ms: None,
    }
}

async fn place_release(s: impl IndexStore) {
    let logged = s.log_sequenced().await.unwrap();
    let h = hold(HOLD, DEVICE, 0, 10);
    s.place_hold(&h, &entry(1)).await.unwrap();
    assert!(matches!(
        s.place_hold(&h, &entry(2)).await,
        Err(StoreError::HoldExists)
    ));
    assert_eq!(s.hold(HOLD).await.unwrap(), Some(h.clone()));
    assert_eq!(s.holds().await.unwrap(), vec![h.clone()]);
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1);
    assert!(matches!(
        s.release_hold([9; 16], 50, &entry(3)).await,
        Err(StoreError::NotFound(_))
    ));
    s.release_hold(HOLD, 50, &entry(4)).await.unwrap();
    assert!(matches!(
        s.release_hold(HOLD, 60, &entry(5)).await,
        Err(StoreError::HoldReleased)
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 2);
    assert_eq!(s.hold(HOLD).await.unwrap().unwrap().released_ms, Some(50));
    assert_eq!(s.hold([9; 16]).await.unwrap(), None);
}

async fn held(s: impl IndexStore) {
    const R: RecordingId = RecordingId([22; 16]);
    const ELSEWHERE: [u8; 32] = [23; 32];
    enrol(&s, DEVICE, GROUP).await;
    s.put_epoch(&epoch_row(EPOCH, CLASS, Some(100)), &entry(0))
        .await
        .unwrap();
    // Captured at 1,000,000 and 1,010,000 (the fixtures' times).
    s.insert_segment(&segment(R, 0, 1, [0; 32], DEVICE, GROUP, false))
        .await
        .unwrap();
    s.insert_segment(&segment(R, 1, 2, [1; 32], DEVICE, GROUP, true))
        .await
        .unwrap();
    s.place_hold(&hold(HOLD, DEVICE, 1_000_000, 1_005_000), &entry(1))
        .await
        .unwrap();
    // Another device's hold, and one in another group, cover nothing here.
    s.place_hold(&hold([24; 16], ELSEWHERE, 0, i64::MAX), &entry(2))
        .await
        .unwrap();
    s.place_hold(
        &HoldRow {
            group_id: GroupId([25; 16]),
            ..hold([26; 16], DEVICE, 0, i64::MAX)
        },
        &entry(3),
    )
    .await
    .unwrap();
    let c = s.hold_candidates(EPOCH).await.unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].recording_id, c[0].index, c[0].hold_id), (R, 0, HOLD));

    let hold_epoch = EpochId(HOLD);
    s.put_epoch(&epoch_row(hold_epoch, "hold-x", None), &entry(4))
        .await
        .unwrap();
    let rw = RewrapRow {
        recording_id: R,
        index: 0,
        epoch_id: hold_epoch,
        rewrap: vec![7; 40],
    };
    assert!(s.hold_segment(EPOCH, &rw).await.unwrap());
    assert!(!s.hold_segment(EPOCH, &rw).await.unwrap(), "moved already");
    assert_eq!(s.segment_rewrap(R, 0).await.unwrap(), Some(rw.clone()));
    assert_eq!(s.segment_rewrap(R, 1).await.unwrap(), None);
    assert_eq!(s.epoch_segment_count(EPOCH).await.unwrap(), 1);
    assert_eq!(s.epoch_segment_count(hold_epoch).await.unwrap(), 1);
    assert!(s.hold_candidates(EPOCH).await.unwrap().is_empty());

    // The epoch's destruction takes only the unheld segment.
    s.mark_expiring(EPOCH).await.unwrap();
    assert_eq!(
        s.destroy_epoch(EPOCH, 200, b"r", &entry(5)).await.unwrap(),
        1
    );
    assert!(s.segment(R, 0).await.unwrap().is_some());
    assert!(s.segment(R, 1).await.unwrap().is_none());
    assert!(s.recording(R).await.unwrap().is_some());
    assert!(s.expired_recording(R).await.unwrap().is_none());

    // Released: its epoch is due at the release time; nothing more moves
    // to it.
    assert!(
        s.due_epochs(i64::MAX, 10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.epoch_id != hold_epoch)
    );
    s.release_hold(HOLD, 300, &entry(6)).await.unwrap();
    let due = s.due_epochs(300, 10).await.unwrap();
    assert!(due.iter().any(|e| e.epoch_id == hold_epoch), "{due:?}");
    assert!(matches!(
        s.hold_segment(hold_epoch, &rw).await,
        Err(StoreError::HoldReleased)
    ));
    s.mark_expiring(hold_epoch).await.unwrap();
    assert_eq!(
        s.destroy_epoch(hold_epoch, 400, b"r", &entry(7))
            .await
            .unwrap(),
        1
    );
    assert!(s.segment(R, 0).await.unwrap().is_none());
    assert_eq!(
        s.segment_rewrap(R, 0).await.unwrap(),
        None,
        "its re-wrap goes too"
    );
    assert!(s.expired_recording(R).await.unwrap().is_some());
}
