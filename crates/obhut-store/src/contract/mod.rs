//! The written contracts of [`IndexStore`] (with [`crate::LogStore`] and
//! [`crate::AccessStore`]) and of [`BlobStore`], as tests any
//! implementation must pass: the embedded engines
//! (`tests/contract_embedded.rs`) and PostgreSQL
//! (`tests/contract_postgres.rs`, on the throwaway cluster of [`pg`]). Feature
//! `test-util`, enabled from dev-dependencies only.
//!
//! Each suite runs every case on a fresh store from the caller's `fresh`
//! closure ([`Fresh`]), which returns the store and a guard kept alive
//! while the case runs (a temporary directory, a database to drop). A violated contract
//! panics naming the case. Cases are small: each checks one promise of the
//! trait docs, through the traits only.
//!
//! [`faults::FaultyBlobStore`] wraps any [`BlobStore`] and fails chosen
//! operations, for tests of the layers above under storage faults.
//! [`s3::TestS3`] runs a real S3 server (SeaweedFS) for the S3 blob store's
//! tests and the vault's.

use std::future::Future;

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::ids::{EpochId, GroupId, RecordingId};

use crate::{
    BlobStore, EpochRow, GroupRow, IndexStore, KeyBytes, NewLogEntry, NewSegment, SegmentRow,
    TokenRow,
};

mod access;
mod blob;
mod derived;
pub mod faults;
mod hold;
mod index;
mod log;
mod names;
pub mod pg;
mod retention;
pub mod s3;

pub use faults::{Fault, FaultyBlobStore};

/// Makes the fresh stores a suite runs its cases on: a closure returning
/// a future of `(guard, store)`, the guard kept alive while the case runs
/// (a temporary directory, a database to drop). Every such closure is one.
pub trait Fresh<S> {
    /// Kept alive while a case runs on the store.
    type Guard: Send + 'static;
    /// A store no case has touched.
    fn fresh(&self) -> impl Future<Output = (Self::Guard, S)>;
}

impl<S, G, F, Fut> Fresh<S> for F
where
    G: Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = (G, S)>,
{
    type Guard = G;
    fn fresh(&self) -> impl Future<Output = (G, S)> {
        self()
    }
}

/// Run every contract case of [`IndexStore`], [`crate::LogStore`] and
/// [`crate::AccessStore`], each on a store from `fresh`.
pub async fn index_store<S: IndexStore>(fresh: impl Fresh<S>) {
    index::run(&fresh).await;
    log::run(&fresh).await;
    access::run(&fresh).await;
    retention::run(&fresh).await;
    derived::run(&fresh).await;
    hold::run(&fresh).await;
    names::run(&fresh).await;
}

/// Run every contract case of [`BlobStore`], each on a store from `fresh`.
pub async fn blob_store<B: BlobStore>(fresh: impl Fresh<B>) {
    blob::run(&fresh).await;
}

/// Run `case` on a fresh store; re-raise its panic naming the case. The
/// case runs as a task of its own so that its panic is caught here.
async fn case<S, C, CFut>(name: &'static str, fresh: &impl Fresh<S>, case: C)
where
    S: Send + 'static,
    C: FnOnce(S) -> CFut,
    CFut: Future<Output = ()> + Send + 'static,
{
    let (guard, store) = fresh.fresh().await;
    let outcome = tokio::spawn(case(store)).await;
    drop(guard);
    if let Err(e) = outcome {
        let why = if e.is_panic() {
            let payload = e.into_panic();
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned())
        } else {
            e.to_string()
        };
        panic!("store contract violated in case `{name}`: {why}");
    }
}

/// The custody group the cases use.
const GROUP: GroupId = GroupId([7; 16]);
/// A second group.
const OTHER_GROUP: GroupId = GroupId([8; 16]);
/// The epoch segments name.
const EPOCH: EpochId = EpochId([5; 16]);
/// The retention class of the fixtures.
const CLASS: &str = "standard";

/// An audit entry told apart by `n`, logged at `time_ms` about `recording`.
fn entry_about(n: u32, time_ms: i64, recording: Option<RecordingId>) -> NewLogEntry {
    NewLogEntry::new(&LogEntry {
        time_ms,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording,
        event: Event::PolicyInEffect {
            policy: format!("contract fixture {n}"),
        },
    })
    .expect("a short entry encodes")
}

/// An audit entry told apart by `n`.
fn entry(n: u32) -> NewLogEntry {
    entry_about(n, 1, None)
}

/// Register `group` (as the admin does).
async fn put_group(s: &impl IndexStore, group: GroupId) {
    s.put_group(
        &GroupRow {
            group_id: group,
            descriptor: vec![1, 2, 3],
            fingerprint: [2; 32],
            added_ms: 0,
        },
        &entry(0),
    )
    .await
    .expect("put_group");
}

/// Register `group` if new and enrol `device` into it with a fresh token.
async fn enrol(s: &impl IndexStore, device: KeyBytes, group: GroupId) {
    if s.group(group).await.expect("group").is_none() {
        put_group(s, group).await;
    }
    let token_hash = [device[0] ^ 0x5a; 32];
    s.create_token(&TokenRow {
        token_hash,
        group_id: group,
        retention_class: CLASS.to_owned(),
        created_ms: 0,
        expires_ms: i64::MAX,
    })
    .await
    .expect("create_token");
    s.redeem_token(token_hash, device, 1, |_| Ok(entry(0)))
        .await
        .expect("redeem_token");
}

/// Store the epoch segments name.
async fn put_epoch(s: &impl IndexStore) {
    s.put_epoch(
        &EpochRow {
            epoch_id: EPOCH,
            retention_class: CLASS.to_owned(),
            not_before: 0,
            not_after: i64::MAX,
            public: vec![4; 8],
            expires_ms: None,
            state: crate::EpochState::Live,
            destroyed_ms: None,
        },
        &entry(0),
    )
    .await
    .expect("put_epoch");
}

/// Segment `index` of `recording` by `device` in `group`, its record told
/// apart by `tag` (record bytes and hash), linking to `prev`.
fn segment(
    recording: RecordingId,
    index: u32,
    tag: u8,
    prev: [u8; 32],
    device: KeyBytes,
    group: GroupId,
    is_final: bool,
) -> NewSegment {
    let capture_ms = 1_000_000 + i64::from(index) * 10_000;
    NewSegment {
        row: SegmentRow {
            recording_id: recording,
            index,
            record: vec![tag; 24],
            record_hash: [tag; 32],
            blob_len: 100 + u64::from(index),
            capture_ms,
            epoch_id: EPOCH,
            received_ms: capture_ms + 5,
            receipt: vec![tag; 4],
        },
        prev_record_hash: prev,
        is_final,
        device_key: device,
        group_id: group,
        retention_class: CLASS.to_owned(),
        log: entry_about(u32::from(tag), capture_ms, Some(recording)),
    }
}
