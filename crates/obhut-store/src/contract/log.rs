//! [`crate::LogStore`]'s contract: dense sequencing in commit order,
//! integration (tiles and checkpoints, only ever forward), cosignatures,
//! pruning with its receipt.

use std::sync::Arc;

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::ids::RecordingId;

use super::{Fresh, case, entry, entry_about};
use crate::{IndexStore, StoreError, StoredCheckpoint, TileRow};

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case("entries are numbered densely in order", fresh, sequencing).await;
    case("a large batch is sequenced whole", fresh, large_batch).await;
    case("concurrent appends never share an index", fresh, concurrent).await;
    case("integration only moves forward", fresh, integration).await;
    case("a cosigned note replaces the checkpoint's", fresh, cosigned).await;
    case("pruning drops bodies and logs its receipt", fresh, pruning).await;
}

async fn sequencing(s: impl IndexStore) {
    assert_eq!(s.log_sequenced().await.unwrap(), 0);
    assert_eq!(s.log_append(&[]).await.unwrap(), 0, "empty: the size");
    let r = RecordingId([3; 16]);
    let batch = [entry(0), entry_about(1, 20, Some(r)), entry(2)];
    assert_eq!(s.log_append(&batch).await.unwrap(), 0, "the first's index");
    assert_eq!(s.log_append(&[entry(3)]).await.unwrap(), 3);
    assert_eq!(s.log_append(&[]).await.unwrap(), 4);
    assert_eq!(s.log_sequenced().await.unwrap(), 4);

    let rows = s.log_entries(0, 100).await.unwrap();
    assert_eq!(rows.len(), 4);
    for (i, (row, want)) in rows.iter().zip(batch.iter().chain([&entry(3)])).enumerate() {
        assert_eq!(row.index, i as u64);
        assert_eq!(row.time_ms, want.time_ms);
        assert_eq!(row.kind, want.kind);
        assert_eq!(row.recording, want.recording);
        assert_eq!(row.body.as_deref(), Some(&want.body[..]));
        assert_eq!(row.leaf_hash, want.leaf_hash);
    }
    let window: Vec<u64> = s
        .log_entries(1, 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(window, [1, 2], "[from, from + limit)");
    assert_eq!(
        s.log_leaf_hashes(2, 10).await.unwrap(),
        [batch[2].leaf_hash, entry(3).leaf_hash],
        "those that exist"
    );
    assert!(s.log_entries(4, 10).await.unwrap().is_empty());
    let about = s.log_recording_entries(r).await.unwrap();
    assert_eq!(about.len(), 1);
    assert_eq!(about[0].index, 1);
    let revoked = crate::NewLogEntry::new(&LogEntry {
        time_ms: 30,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::DeviceRevoked {
            device_key: [3; 32],
        },
    })
    .unwrap();
    let at = s.log_append(std::slice::from_ref(&revoked)).await.unwrap();
    let of_kind = s.log_entries_of_kind("device-revoked").await.unwrap();
    assert_eq!(of_kind.len(), 1, "only that kind");
    assert_eq!(of_kind[0].index, at);
    assert_eq!(of_kind[0].body.as_deref(), Some(&revoked.body[..]));
}

async fn large_batch(s: impl IndexStore) {
    s.log_append(&[entry(0)]).await.unwrap();
    let batch: Vec<_> = (1..=600).map(entry).collect();
    assert_eq!(s.log_append(&batch).await.unwrap(), 1);
    assert_eq!(s.log_sequenced().await.unwrap(), 601);
    let hashes = s.log_leaf_hashes(1, 1000).await.unwrap();
    let want: Vec<[u8; 32]> = batch.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(hashes, want, "in order, none missing");
}

async fn concurrent(s: impl IndexStore) {
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.log_append(&[entry(2 * i), entry(2 * i + 1)]).await })
        })
        .collect();
    let mut firsts = Vec::new();
    for t in tasks {
        firsts.push(t.await.expect("task").expect("append"));
    }
    firsts.sort_unstable();
    let want: Vec<u64> = (0..16).map(|i| 2 * i).collect();
    assert_eq!(firsts, want, "each batch got its own contiguous range");
    // Each batch's two entries are adjacent, in the batch's order.
    let rows = s.log_entries(0, 100).await.unwrap();
    for pair in rows.chunks(2) {
        let leaf = |n| entry(n).leaf_hash;
        let n = (0..32)
            .find(|&n| leaf(n) == pair[0].leaf_hash)
            .expect("known");
        assert_eq!(pair[1].leaf_hash, leaf(n + 1), "batch {n} split");
    }
}

fn checkpoint(size: u64, note: &[u8]) -> StoredCheckpoint {
    StoredCheckpoint {
        size,
        time_ms: 100 + size as i64,
        note: note.to_vec(),
        edge: vec![size as u8; 32],
    }
}

fn tile(level: u8, index: u64, hashes: usize) -> TileRow {
    TileRow {
        level,
        index,
        hashes: (0..hashes).flat_map(|i| [i as u8; 32]).collect(),
    }
}

async fn integration(s: impl IndexStore) {
    assert_eq!(s.log_checkpoint().await.unwrap(), None);
    assert_eq!(s.log_tile(0, 0).await.unwrap(), None);
    let two = checkpoint(2, b"two");
    s.log_integrate(0, &[tile(0, 0, 2)], &two).await.unwrap();
    assert_eq!(s.log_checkpoint().await.unwrap().as_ref(), Some(&two));
    assert_eq!(s.log_tile(0, 0).await.unwrap(), Some(tile(0, 0, 2).hashes));

    // A partial tile grows in place.
    let four = checkpoint(4, b"four");
    s.log_integrate(2, &[tile(0, 0, 4)], &four).await.unwrap();
    assert_eq!(s.log_tile(0, 0).await.unwrap(), Some(tile(0, 0, 4).hashes));
    assert_eq!(s.log_checkpoint().await.unwrap().as_ref(), Some(&four));
    assert_eq!(s.log_checkpoint_at(2).await.unwrap().as_ref(), Some(&two));
    assert_eq!(s.log_checkpoint_at(3).await.unwrap(), None);

    // Grown from another head than the latest (a second integrator, or
    // a stale one), or not larger: refused whole.
    for (from, size) in [(4, 4), (4, 3), (2, 6), (0, 6), (5, 6)] {
        let r = s
            .log_integrate(from, &[tile(0, 1, 1)], &checkpoint(size, b"late"))
            .await;
        assert!(
            matches!(r, Err(StoreError::HeadMoved { expected, latest: 4 }) if expected == from),
            "from {from} to {size}: {r:?}"
        );
    }
    assert_eq!(s.log_tile(0, 1).await.unwrap(), None, "no tile of it");
    assert_eq!(s.log_checkpoint().await.unwrap().as_ref(), Some(&four));

    // A shorter write never shrinks a tile.
    s.log_integrate(4, &[tile(0, 0, 1)], &checkpoint(5, b"five"))
        .await
        .unwrap();
    assert_eq!(s.log_tile(0, 0).await.unwrap(), Some(tile(0, 0, 4).hashes));
}

async fn cosigned(s: impl IndexStore) {
    s.log_integrate(0, &[tile(0, 0, 1)], &checkpoint(1, b"one"))
        .await
        .unwrap();
    s.log_integrate(1, &[tile(0, 0, 2)], &checkpoint(2, b"two"))
        .await
        .unwrap();
    s.log_cosigned(1, b"one, cosigned").await.unwrap();
    let got = s.log_checkpoint_at(1).await.unwrap().expect("size 1");
    assert_eq!(got.note, b"one, cosigned");
    assert_eq!(
        (got.size, got.edge),
        (1, checkpoint(1, b"").edge),
        "note only"
    );
    assert_eq!(s.log_checkpoint().await.unwrap().unwrap().note, b"two");
}

async fn pruning(s: impl IndexStore) {
    let old = [entry_about(0, 10, None), entry_about(1, 20, None)];
    let young = entry_about(2, 30, None);
    s.log_append(&old).await.unwrap();
    s.log_append(std::slice::from_ref(&young)).await.unwrap();
    // Before 25 and below index 1: entry 0 only (entry 1 is not yet
    // integrated).
    let receipt = entry_about(3, 100, None);
    let pruned = s
        .log_prune(25, 1, 100, |n| {
            assert_eq!(n, 1, "the receipt is built from the count");
            Some(receipt.clone())
        })
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let rows = s.log_entries(0, 10).await.unwrap();
    assert_eq!(rows.len(), 4, "the receipt is sequenced with the pruning");
    assert_eq!(rows[0].body, None, "body dropped");
    assert_eq!(rows[0].leaf_hash, old[0].leaf_hash, "leaf hash kept");
    assert_eq!(rows[1].body.as_deref(), Some(&old[1].body[..]));
    assert_eq!(rows[2].body.as_deref(), Some(&young.body[..]));
    assert_eq!(rows[3].leaf_hash, receipt.leaf_hash);
    // Nothing more to prune, and no receipt asked for: nothing logged.
    let pruned = s.log_prune(25, 1, 110, |_| None).await.unwrap();
    assert_eq!(pruned, 0);
    assert_eq!(s.log_sequenced().await.unwrap(), 4);
}
