//! [`crate::AccessStore`]'s contract (its invariants 1–4): each change
//! and its audit entry commit together or not at all; states only move
//! forward; one approval per custodian; an envelope only with its logged
//! hash.

use super::{Fresh, GROUP, case, entry, put_group};
use crate::{IndexStore, NewApproval, NewRequest, RequestInserted, RequestState, StoreError};

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case(
        "requests, approvals and releases keep their invariants",
        fresh,
        requests_approvals_and_releases,
    )
    .await;
    case(
        "a denial ends the request",
        fresh,
        a_denial_ends_the_request,
    )
    .await;
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

fn approval(hash: u8, custodian: u16) -> NewApproval {
    NewApproval {
        request_hash: [hash; 32],
        custodian,
        custodian_key: [custodian as u8; 32],
        segments: 3,
    }
}

async fn requests_approvals_and_releases(s: impl IndexStore) {
    put_group(&s, GROUP).await;
    s.add_requester([9; 32], GROUP, 1, &entry(101))
        .await
        .unwrap();
    // Adding again logs nothing.
    s.add_requester([9; 32], GROUP, 2, &entry(102))
        .await
        .unwrap();
    assert_eq!(s.log_sequenced().await.unwrap(), 2);
    assert!(s.is_requester([9; 32], GROUP).await.unwrap());
    assert!(!s.is_requester([8; 32], GROUP).await.unwrap());
    assert_eq!(s.group_ids().await.unwrap(), [GROUP]);

    let RequestInserted::New(idx) = s.insert_request(&request(1), &entry(103)).await.unwrap()
    else {
        panic!("new")
    };
    assert_eq!(idx, 2);
    // The same request again: the stored row, nothing sequenced.
    let RequestInserted::Existing(row) = s.insert_request(&request(1), &entry(104)).await.unwrap()
    else {
        panic!("existing")
    };
    assert_eq!(row.log_index, 2);
    assert_eq!(row.state, RequestState::Pending);
    assert_eq!(s.log_sequenced().await.unwrap(), 3);

    let a = approval(1, 1);
    assert_eq!(s.add_approval(&a, &entry(105)).await.unwrap(), 3);
    // A second approval by custodian 1 is refused and logs nothing.
    assert!(matches!(
        s.add_approval(&a, &entry(106)).await,
        Err(StoreError::AlreadyApproved { custodian: 1 })
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), 4);

    // The first envelope is stored, once, and never replaced.
    assert!(matches!(
        s.put_partial([1; 32], 2, b"envelope one").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.put_partial([1; 32], 1, b"envelope one").await.unwrap());
    assert!(!s.put_partial([1; 32], 1, b"envelope one").await.unwrap());
    assert!(matches!(
        s.put_partial([1; 32], 1, b"another envelope").await,
        Err(StoreError::PartialMismatch { custodian: 1 })
    ));
    let approvals = s.approvals([1; 32]).await.unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].envelope.as_deref(), Some(&b"envelope one"[..]));
    assert_eq!(approvals[0].segments, 3);

    let rel = s
        .mark_released([1; 32], b"release", &entry(107))
        .await
        .unwrap();
    let row = s.request([1; 32]).await.unwrap().unwrap();
    assert_eq!(row.state, RequestState::Released);
    assert_eq!(row.release.as_deref(), Some(&b"release"[..]));
    assert_eq!(row.release_log_index, Some(rel));
    // Released is final: no second release, approval or denial, no entry.
    let before = s.log_sequenced().await.unwrap();
    assert!(matches!(
        s.mark_released([1; 32], b"again", &entry(108)).await,
        Err(StoreError::RequestNotPending {
            state: RequestState::Released
        })
    ));
    assert!(matches!(
        s.add_approval(&approval(1, 2), &entry(109)).await,
        Err(StoreError::RequestNotPending { .. })
    ));
    assert!(matches!(
        s.deny([1; 32], 2, "no", &entry(110)).await,
        Err(StoreError::RequestNotPending { .. })
    ));
    assert_eq!(s.log_sequenced().await.unwrap(), before);
}

async fn a_denial_ends_the_request(s: impl IndexStore) {
    put_group(&s, GROUP).await;
    s.insert_request(&request(2), &entry(111)).await.unwrap();
    s.add_approval(&approval(2, 1), &entry(112)).await.unwrap();
    let idx = s
        .deny([2; 32], 3, "not proportionate", &entry(113))
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
        s.mark_released([2; 32], b"r", &entry(114)).await,
        Err(StoreError::RequestNotPending { .. })
    ));
    assert!(matches!(
        s.deny([9; 32], 3, "?", &entry(115)).await,
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
