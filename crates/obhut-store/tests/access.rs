//! The access tables' invariants (src/access.rs): each change and its
//! audit entry commit together or not at all; states only move forward;
//! one approval per custodian; an envelope only with its logged hash.

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::ids::GroupId;
use obhut_core::vault::body_sha256;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{
    AccessStore, GroupRow, IndexStore, LogStore, NewApproval, NewLogEntry, NewRequest,
    RequestInserted, RequestState, StoreError,
};

const GROUP: GroupId = GroupId([7; 16]);

fn entry(what: &str) -> NewLogEntry {
    NewLogEntry::new(&LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::PolicyInEffect {
            policy: what.into(),
        },
    })
    .unwrap()
}

async fn store() -> (tempfile::TempDir, SqliteIndex) {
    let d = tempfile::tempdir().unwrap();
    let index = SqliteIndex::open(&d.path().join("obhut.sqlite"))
        .await
        .unwrap();
    index
        .put_group(
            &GroupRow {
                group_id: GROUP,
                descriptor: vec![1],
                fingerprint: [2; 32],
                added_ms: 0,
            },
            &entry("group"),
        )
        .await
        .unwrap();
    (d, index)
}

fn request(hash: u8) -> NewRequest {
    NewRequest {
        request_hash: [hash; 32],
        group_id: GROUP,
        requester_key: [9; 32],
        request: vec![hash; 10],
        created_ms: 100,
        expires_ms: 200,
    }
}

fn approval(hash: u8, custodian: u16, envelope: &[u8]) -> NewApproval {
    NewApproval {
        request_hash: [hash; 32],
        custodian,
        custodian_key: [custodian as u8; 32],
        partial_hash: body_sha256(envelope),
        segments: 3,
    }
}

#[tokio::test]
async fn requests_approvals_and_releases_keep_their_invariants() {
    let (_d, s) = store().await;
    s.add_requester([9; 32], GROUP, 1, &entry("requester"))
        .await
        .unwrap();
    // Adding again logs nothing.
    s.add_requester([9; 32], GROUP, 2, &entry("requester"))
        .await
        .unwrap();
    assert_eq!(s.log_sequenced().await.unwrap(), 2);
    assert!(s.is_requester([9; 32], GROUP).await.unwrap());
    assert!(!s.is_requester([8; 32], GROUP).await.unwrap());
    assert_eq!(s.group_ids().await.unwrap(), [GROUP]);

    let RequestInserted::New(idx) = s.insert_request(&request(1), &entry("req")).await.unwrap()
    else {
        panic!("new")
    };
    assert_eq!(idx, 2);
    // The same request again: the stored row, nothing sequenced.
    let RequestInserted::Existing(row) =
        s.insert_request(&request(1), &entry("req")).await.unwrap()
    else {
        panic!("existing")
    };
    assert_eq!(row.log_index, 2);
    assert_eq!(row.state, RequestState::Pending);
    assert_eq!(s.log_sequenced().await.unwrap(), 3);

    let a = approval(1, 1, b"envelope one");
    assert_eq!(s.add_approval(&a, &entry("a1")).await.unwrap(), 3);
    // A second approval by custodian 1 is refused and logs nothing.
    assert!(matches!(
        s.add_approval(&a, &entry("a1 again")).await,
        Err(StoreError::AlreadyApproved { custodian: 1 })
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), 4);

    // Only the committed envelope is stored, once.
    assert!(matches!(
        s.put_partial([1; 32], 1, b"another envelope").await,
        Err(StoreError::PartialMismatch { custodian: 1 })
    ));
    assert!(matches!(
        s.put_partial([1; 32], 2, b"envelope one").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.put_partial([1; 32], 1, b"envelope one").await.unwrap());
    assert!(!s.put_partial([1; 32], 1, b"envelope one").await.unwrap());
    let approvals = s.approvals([1; 32]).await.unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].envelope.as_deref(), Some(&b"envelope one"[..]));
    assert_eq!(approvals[0].segments, 3);

    let rel = s
        .mark_released([1; 32], b"release", &entry("released"))
        .await
        .unwrap();
    let row = s.request([1; 32]).await.unwrap().unwrap();
    assert_eq!(row.state, RequestState::Released);
    assert_eq!(row.release.as_deref(), Some(&b"release"[..]));
    assert_eq!(row.release_log_index, Some(rel));
    // Released is final: no second release, approval or denial, no entry.
    let before = s.log_sequenced().await.unwrap();
    assert!(matches!(
        s.mark_released([1; 32], b"again", &entry("x")).await,
        Err(StoreError::RequestNotPending {
            state: RequestState::Released
        })
    ));
    assert!(matches!(
        s.add_approval(&approval(1, 2, b"e2"), &entry("x")).await,
        Err(StoreError::RequestNotPending { .. })
    ));
    assert!(matches!(
        s.deny([1; 32], 2, "no", &entry("x")).await,
        Err(StoreError::RequestNotPending { .. })
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), before);
}

#[tokio::test]
async fn a_denial_ends_the_request() {
    let (_d, s) = store().await;
    s.insert_request(&request(2), &entry("req")).await.unwrap();
    s.add_approval(&approval(2, 1, b"e1"), &entry("a1"))
        .await
        .unwrap();
    let idx = s
        .deny([2; 32], 3, "not proportionate", &entry("denied"))
        .await
        .unwrap();
    let d = s.denial([2; 32]).await.unwrap().unwrap();
    assert_eq!((d.custodian, d.log_index), (3, idx));
    assert_eq!(d.reason, "not proportionate");
    assert_eq!(
        s.request([2; 32]).await.unwrap().unwrap().state,
        RequestState::Denied
    );
    // An envelope for an ended request is not taken; a release is refused.
    assert!(matches!(
        s.put_partial([2; 32], 1, b"e1").await,
        Err(StoreError::RequestNotPending {
            state: RequestState::Denied
        })
    ));
    assert!(matches!(
        s.mark_released([2; 32], b"r", &entry("x")).await,
        Err(StoreError::RequestNotPending { .. })
    ));
    assert!(matches!(
        s.deny([9; 32], 3, "?", &entry("x")).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.requests_for_groups(&[GROUP], Some(RequestState::Denied))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.requests_for_groups(&[GROUP], Some(RequestState::Pending))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.requests_by_requester([9; 32], None).await.unwrap().len(),
        1
    );
}
