//! [`BlobStore`]'s contract: a staged blob is invisible until published;
//! discarded, dropped or refused ones leave nothing; publication replaces
//! an orphan under the same key; reads of ranges and of missing keys.

use obhut_core::ids::RecordingId;
use obhut_core::segment::ciphertext_hasher;
use tokio::io::AsyncReadExt;

use super::{Fresh, case};
use crate::{BlobKey, BlobStore, StagedBlob, StoreError};

pub(super) async fn run<B: BlobStore>(fresh: &impl Fresh<B>) {
    case("instance id is unset, then set", fresh, instance_id).await;
    case(
        "a staged blob is invisible until published",
        fresh,
        staged_invisible,
    )
    .await;
    case(
        "discarded or dropped, a staged blob leaves nothing",
        fresh,
        discarded,
    )
    .await;
    case("a short source stages nothing", fresh, short_source).await;
    case("another hash publishes nothing", fresh, hash_mismatch).await;
    case("put_verified refuses, then publishes", fresh, put_verified).await;
    case(
        "synced ahead, still invisible until published",
        fresh,
        synced,
    )
    .await;
    case("publishing again replaces under the key", fresh, republish).await;
    case("an empty blob is a blob", fresh, empty).await;
    case("ranges read exactly their bytes", fresh, ranges).await;
    case("missing keys and deletion", fresh, missing_and_delete).await;
    case("every published blob is listed, in order", fresh, listing).await;
}

fn hash(b: &[u8]) -> [u8; 32] {
    let mut h = ciphertext_hasher();
    h.update(b);
    *h.finalize().as_bytes()
}

fn key(recording: u8, index: u32) -> BlobKey {
    BlobKey {
        recording: RecordingId([recording; 16]),
        index,
    }
}

/// A blob larger than one write buffer of the embedded store.
fn blob(seed: u8) -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 251) as u8 ^ seed).collect()
}

async fn read_all(s: &impl BlobStore, key: BlobKey, start: u64, end: u64) -> Vec<u8> {
    let mut r = s.get_range(key, start, end).await.expect("get_range");
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.expect("reading the range");
    out
}

/// Nothing visible and nothing left behind.
async fn nothing(s: &impl BlobStore, what: &str) {
    assert!(s.list().await.unwrap().is_empty(), "{what}: nothing listed");
    assert_eq!(
        s.clean_temporary().await.unwrap(),
        0,
        "{what}: no temporary leftovers"
    );
}

async fn instance_id(s: impl BlobStore) {
    s.ping().await.expect("ping");
    assert_eq!(
        s.instance_id().await.unwrap(),
        None,
        "a fresh store has none"
    );
    s.set_instance_id("0123abcd").await.unwrap();
    assert_eq!(s.instance_id().await.unwrap().as_deref(), Some("0123abcd"));
}

async fn staged_invisible(s: impl BlobStore) {
    let b = blob(1);
    let mut body = b.clone();
    body.extend_from_slice(b"TRAILER");
    let mut src = &body[..];
    let staged = s.stage(&mut src, b.len() as u64).await.unwrap();
    assert_eq!(src, b"TRAILER", "exactly the blob is read; the rest stays");
    assert_eq!((staged.len(), staged.hash()), (b.len() as u64, hash(&b)));
    assert!(s.list().await.unwrap().is_empty(), "staged is not listed");
    assert_eq!(s.len(key(1, 0)).await.unwrap(), None, "nor readable");
    s.publish(key(1, 0), staged, hash(&b)).await.unwrap();
    assert_eq!(s.list().await.unwrap(), [key(1, 0)]);
    assert_eq!(s.len(key(1, 0)).await.unwrap(), Some(b.len() as u64));
    assert_eq!(read_all(&s, key(1, 0), 0, b.len() as u64).await, b);
    assert_eq!(s.clean_temporary().await.unwrap(), 0, "published, not left");
}

async fn discarded(s: impl BlobStore) {
    let b = blob(2);
    let staged = s.stage(&b[..], b.len() as u64).await.unwrap();
    s.discard(staged).await;
    nothing(&s, "discarded").await;
    let staged = s.stage(&b[..], b.len() as u64).await.unwrap();
    drop(staged);
    nothing(&s, "dropped").await;
}

async fn short_source(s: impl BlobStore) {
    let b = blob(3);
    assert!(matches!(
        s.stage(&b[..1000], b.len() as u64).await,
        Err(StoreError::WrongLength { expected, got: 1000 }) if expected == b.len() as u64
    ));
    nothing(&s, "short").await;
}

async fn hash_mismatch(s: impl BlobStore) {
    let b = blob(4);
    let staged = s.stage(&b[..], b.len() as u64).await.unwrap();
    assert!(matches!(
        s.publish(key(1, 0), staged, [0; 32]).await,
        Err(StoreError::HashMismatch)
    ));
    nothing(&s, "refused").await;
}

async fn put_verified(s: impl BlobStore) {
    let b = blob(5);
    let (len, h) = (b.len() as u64, hash(&b));
    assert!(matches!(
        s.put_verified(key(1, 0), &b[..len as usize - 1], len, h).await,
        Err(StoreError::WrongLength { got, .. }) if got == len - 1
    ));
    let mut long = b.clone();
    long.push(0);
    assert!(matches!(
        s.put_verified(key(1, 0), &long[..], len, h).await,
        Err(StoreError::WrongLength { got, .. }) if got == len + 1
    ));
    assert!(matches!(
        s.put_verified(key(1, 0), &b[..], len, [0; 32]).await,
        Err(StoreError::HashMismatch)
    ));
    nothing(&s, "refused puts").await;
    s.put_verified(key(1, 0), &b[..], len, h).await.unwrap();
    assert_eq!(read_all(&s, key(1, 0), 0, len).await, b);
}

async fn synced(s: impl BlobStore) {
    let b = blob(6);
    let mut staged = s.stage(&b[..], b.len() as u64).await.unwrap();
    s.sync_staged(&mut staged).await.unwrap();
    s.sync_staged(&mut staged).await.unwrap();
    assert!(s.list().await.unwrap().is_empty(), "synced is not visible");
    s.publish(key(1, 0), staged, hash(&b)).await.unwrap();
    assert_eq!(read_all(&s, key(1, 0), 0, b.len() as u64).await, b);
    // Synced, then discarded: nothing either.
    let mut staged = s.stage(&b[..], b.len() as u64).await.unwrap();
    s.sync_staged(&mut staged).await.unwrap();
    s.discard(staged).await;
    assert_eq!(s.list().await.unwrap(), [key(1, 0)]);
    assert_eq!(s.clean_temporary().await.unwrap(), 0);
}

async fn republish(s: impl BlobStore) {
    // An orphan of a crash between blob and row is published again when
    // the device re-uploads: same key, same verified bytes.
    let b = blob(7);
    for _ in 0..2 {
        let staged = s.stage(&b[..], b.len() as u64).await.unwrap();
        s.publish(key(1, 0), staged, hash(&b)).await.unwrap();
    }
    assert_eq!(s.list().await.unwrap(), [key(1, 0)]);
    assert_eq!(read_all(&s, key(1, 0), 0, b.len() as u64).await, b);
    assert_eq!(s.clean_temporary().await.unwrap(), 0);
}

async fn empty(s: impl BlobStore) {
    let staged = s.stage(&b""[..], 0).await.unwrap();
    assert!(staged.is_empty());
    s.publish(key(1, 0), staged, hash(b"")).await.unwrap();
    assert_eq!(s.len(key(1, 0)).await.unwrap(), Some(0));
    assert!(read_all(&s, key(1, 0), 0, 0).await.is_empty());
}

async fn ranges(s: impl BlobStore) {
    let b = blob(8);
    let len = b.len() as u64;
    s.put_verified(key(1, 0), &b[..], len, hash(&b))
        .await
        .unwrap();
    for (start, end) in [
        (0, len),
        (10, 20),
        (0, 1),
        (len - 1, len),
        (65_536, 200_001),
        (len, len),
    ] {
        assert_eq!(
            read_all(&s, key(1, 0), start, end).await,
            &b[start as usize..end as usize],
            "bytes {start}..{end}"
        );
    }
}

async fn missing_and_delete(s: impl BlobStore) {
    assert_eq!(s.len(key(1, 0)).await.unwrap(), None);
    assert!(matches!(
        s.get_range(key(1, 0), 0, 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!s.delete(key(1, 0)).await.unwrap(), "absent");
    let b = blob(9);
    s.put_verified(key(1, 0), &b[..], b.len() as u64, hash(&b))
        .await
        .unwrap();
    s.put_verified(key(1, 1), &b[..], b.len() as u64, hash(&b))
        .await
        .unwrap();
    assert!(s.delete(key(1, 0)).await.unwrap());
    assert!(!s.delete(key(1, 0)).await.unwrap(), "deleted once");
    assert_eq!(s.len(key(1, 0)).await.unwrap(), None);
    assert!(matches!(
        s.get_range(key(1, 0), 0, 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.list().await.unwrap(), [key(1, 1)], "the other stays");
}

async fn listing(s: impl BlobStore) {
    let b = b"a small blob".to_vec();
    for k in [key(2, 0), key(1, 5), key(1, 1), key(3, 7)] {
        s.put_verified(k, &b[..], b.len() as u64, hash(&b))
            .await
            .unwrap();
    }
    assert_eq!(
        s.list().await.unwrap(),
        [key(1, 1), key(1, 5), key(2, 0), key(3, 7)]
    );
}
