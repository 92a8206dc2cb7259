//! [`crate::DerivedStore`]'s contract: artifacts with their lineage found
//! from either end, a cascade that takes a deleted artifact's segments out
//! of the index in one step (idempotently), consents recorded once and
//! withdrawn once.

use obhut_core::artifact::Source;
use obhut_core::ids::RecordingId;

use super::{Fresh, GROUP, case, enrol, entry, put_epoch, segment};
use crate::{ArtifactRow, ArtifactState, ConsentRow, IndexStore, StoreError};

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case(
        "an artifact's lineage is found from its sources",
        fresh,
        lineage,
    )
    .await;
    case(
        "a cascade deletes, taints and queues in one step, once",
        fresh,
        cascade,
    )
    .await;
    case(
        "a consent is recorded once and withdrawn once",
        fresh,
        consent,
    )
    .await;
}

const SOURCE: RecordingId = RecordingId([50; 16]);

fn artifact(id: u8, kind: u8, sources: Vec<Source>) -> ArtifactRow {
    ArtifactRow {
        artifact_id: RecordingId([id; 16]),
        group_id: GROUP,
        kind,
        name: format!("artifact {id}"),
        consent_id: (kind == 6).then_some([9; 16]),
        signer_key: [id; 32],
        record: vec![id; 8],
        registered_ms: 100,
        state: ArtifactState::Live,
        changed_ms: None,
        sources,
    }
}

fn segs(first: u32, end: u32) -> Source {
    Source::Segments {
        recording_id: SOURCE,
        first,
        end,
    }
}

fn of(id: u8) -> Source {
    Source::Artifact {
        artifact_id: RecordingId([id; 16]),
    }
}

fn ids(v: Vec<ArtifactRow>) -> Vec<u8> {
    v.into_iter().map(|a| a.artifact_id.0[0]).collect()
}

async fn lineage(s: impl IndexStore) {
    let thumb = artifact(1, 1, vec![segs(0, 1)]);
    let clip = artifact(2, 2, vec![segs(2, 4), of(1)]);
    s.put_artifact(&thumb, &entry(1)).await.unwrap();
    s.put_artifact(&clip, &entry(2)).await.unwrap();
    let logged = s.log_sequenced().await.unwrap();
    assert!(matches!(
        s.put_artifact(&thumb, &entry(3)).await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), logged, "nothing logged");
    assert_eq!(s.artifact(RecordingId([2; 16])).await.unwrap(), Some(clip));
    assert_eq!(s.artifact(RecordingId([3; 16])).await.unwrap(), None);
    // Half-open ranges: [0, 1) and [2, 4).
    assert_eq!(
        ids(s.derived_from_segments(SOURCE, 0, 1).await.unwrap()),
        [1]
    );
    assert_eq!(
        ids(s.derived_from_segments(SOURCE, 1, 2).await.unwrap()),
        [0u8; 0]
    );
    assert_eq!(
        ids(s.derived_from_segments(SOURCE, 3, 9).await.unwrap()),
        [2]
    );
    assert_eq!(
        ids(s.derived_from_segments(SOURCE, 0, u32::MAX).await.unwrap()),
        [1, 2]
    );
    assert_eq!(
        ids(s.derived_from_artifact(RecordingId([1; 16])).await.unwrap()),
        [2]
    );
}

async fn cascade(s: impl IndexStore) {
    const DEVICE: [u8; 32] = [14; 32];
    enrol(&s, DEVICE, GROUP).await;
    put_epoch(&s).await;
    // Artifact 1's bytes are recording [1; 16], two segments.
    let rid = RecordingId([1; 16]);
    s.insert_segment(&segment(rid, 0, 1, [0; 32], DEVICE, GROUP, false))
        .await
        .unwrap();
    s.insert_segment(&segment(rid, 1, 2, [1; 32], DEVICE, GROUP, true))
        .await
        .unwrap();
    s.put_artifact(&artifact(1, 2, vec![segs(0, 1)]), &entry(1))
        .await
        .unwrap();
    s.put_artifact(&artifact(6, 6, vec![of(1)]), &entry(2))
        .await
        .unwrap();
    s.put_artifact(&artifact(7, 7, vec![of(6)]), &entry(3))
        .await
        .unwrap();
    let sources = s.epoch_sources(super::EPOCH).await.unwrap();
    assert_eq!(
        sources
            .iter()
            .map(|e| (e.recording_id, e.first, e.end))
            .collect::<Vec<_>>(),
        [(rid, 0, 2)]
    );
    let under = s.made_under_consent([9; 16]).await.unwrap();
    assert_eq!(ids(under), [6]);

    let logged = s.log_sequenced().await.unwrap();
    let deleted = [rid, RecordingId([6; 16])];
    let tainted = [RecordingId([7; 16])];
    let queued = s
        .apply_cascade(&deleted, &tainted, 500, &[entry(4)])
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "both of artifact 1's segments");
    assert!(
        queued
            .iter()
            .all(|q| q.epoch_id == super::EPOCH && q.key.recording == rid)
    );
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1);
    assert!(s.recording(rid).await.unwrap().is_none());
    assert_eq!(s.epoch_segment_count(super::EPOCH).await.unwrap(), 0);
    let a = s.artifact(rid).await.unwrap().unwrap();
    assert_eq!((a.state, a.changed_ms), (ArtifactState::Deleted, Some(500)));
    let m = s.artifact(RecordingId([7; 16])).await.unwrap().unwrap();
    assert_eq!(m.state, ArtifactState::Tainted);
    assert_eq!(
        ids(s.derived_from_segments(SOURCE, 0, 9).await.unwrap()),
        [0u8; 0]
    );
    assert_eq!(ids(s.made_under_consent([9; 16]).await.unwrap()), [0u8; 0]);
    // Again: nothing more to queue; the states and times stay.
    let again = s.apply_cascade(&deleted, &tainted, 900, &[]).await.unwrap();
    assert!(again.is_empty());
    let a = s.artifact(rid).await.unwrap().unwrap();
    assert_eq!(a.changed_ms, Some(500));
    assert_eq!(s.queued_blobs(super::EPOCH, 10).await.unwrap().len(), 2);
}

async fn consent(s: impl IndexStore) {
    let row = ConsentRow {
        consent_id: [3; 16],
        group_id: GROUP,
        purposes: 1,
        not_before: 0,
        not_after: 1000,
        recorded_ms: 10,
        withdrawn_ms: None,
    };
    s.put_consent(&row, &entry(1)).await.unwrap();
    assert!(matches!(
        s.put_consent(&row, &entry(2)).await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(s.consent([3; 16]).await.unwrap(), Some(row.clone()));
    assert_eq!(s.group_consents(GROUP).await.unwrap(), [row]);
    let logged = s.log_sequenced().await.unwrap();
    assert!(s.withdraw_consent([3; 16], 50, &entry(3)).await.unwrap());
    assert!(!s.withdraw_consent([3; 16], 60, &entry(4)).await.unwrap());
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1);
    assert!(matches!(
        s.withdraw_consent([4; 16], 60, &entry(5)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.group_consents(GROUP).await.unwrap().is_empty());
    assert_eq!(
        s.consent([3; 16]).await.unwrap().unwrap().withdrawn_ms,
        Some(50)
    );
}
