//! The S3 blob store (`obhut_store::s3`) against a real S3 server
//! (SeaweedFS, [`TestS3`]): the blob contract suite, large blobs in parts,
//! and what a stage cut short leaves (nothing visible; an interrupted
//! process's multipart upload is found and aborted).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use obhut_core::ids::RecordingId;
use obhut_core::segment::ciphertext_hasher;
use obhut_store::contract::{self, s3::TestS3};
use obhut_store::s3::{PART, S3BlobStore};
use obhut_store::{BlobKey, BlobStore, StagedBlob};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

async fn fresh() -> ((), S3BlobStore) {
    ((), TestS3::shared().store().await)
}

#[tokio::test]
async fn the_s3_store_keeps_the_contract() {
    contract::blob_store(fresh).await;
}

fn hash(b: &[u8]) -> [u8; 32] {
    let mut h = ciphertext_hasher();
    h.update(b);
    *h.finalize().as_bytes()
}

const KEY: BlobKey = BlobKey {
    recording: RecordingId([7; 16]),
    index: 3,
};

fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8).collect()
}

#[tokio::test]
async fn a_blob_of_several_parts_publishes_whole_and_reads_by_range() {
    let s = TestS3::shared().store().await;
    let b = big(2 * PART + 12_345);
    let len = b.len() as u64;
    let staged = s.stage(&b[..], len).await.unwrap();
    assert_eq!(staged.hash(), hash(&b));
    assert_eq!(s.len(KEY).await.unwrap(), None, "staged, not published");
    s.publish(KEY, staged, hash(&b)).await.unwrap();
    assert_eq!(s.len(KEY).await.unwrap(), Some(len));
    let p = PART as u64;
    for (start, end) in [(0, len), (p - 10, p + 10), (2 * p, len), (len - 1, len)] {
        let mut got = Vec::new();
        s.get_range(KEY, start, end)
            .await
            .unwrap()
            .read_to_end(&mut got)
            .await
            .unwrap();
        assert!(
            got == b[start as usize..end as usize],
            "bytes {start}..{end}"
        );
    }
    assert_eq!(
        s.objects().await.unwrap(),
        ["blobs/07070707070707070707070707070707/3.seg"]
    );
}

/// Yields `give` bytes, then never more (an upload whose client stalled).
struct Stalls {
    left: usize,
}

impl AsyncRead for Stalls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Pending;
        }
        let n = self.left.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![9u8; n]);
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

/// Run a stage of 3 parts whose source stalls after 1.5 parts, until it
/// has stalled a while (its first part is uploaded), and return its future.
async fn stalled_stage(
    s: &S3BlobStore,
) -> Pin<Box<impl Future<Output = obhut_store::Result<obhut_store::s3::S3Staged>> + '_>> {
    let mut fut = Box::pin(s.stage(
        Stalls {
            left: PART + PART / 2,
        },
        3 * PART as u64,
    ));
    assert!(
        tokio::time::timeout(Duration::from_secs(3), &mut fut)
            .await
            .is_err(),
        "the stage waits for the stalled source"
    );
    fut
}

#[tokio::test]
async fn a_stage_dropped_mid_way_leaves_nothing_visible() {
    let s = TestS3::shared().store().await;
    let fut = stalled_stage(&s).await;
    let during = s.objects().await.unwrap();
    assert_eq!(during.len(), 1, "only the upload's marker: {during:?}");
    assert!(during[0].starts_with("tmp/") && during[0].ends_with(".upload"));
    drop(fut);
    assert_eq!(s.len(KEY).await.unwrap(), None);
    assert!(s.list().await.unwrap().is_empty(), "no blob listed");
    assert_eq!(s.clean_temporary().await.unwrap(), 0, "the drop cleaned up");
    assert!(s.objects().await.unwrap().is_empty(), "no object at all");
}

#[tokio::test]
async fn an_interrupted_process_s_upload_is_aborted_by_the_clean_up() {
    let s = TestS3::shared().store().await;
    // A process that dies runs no destructor: forget the stage's future.
    std::mem::forget(stalled_stage(&s).await);
    let url = s.url().to_owned();
    let marker = s.objects().await.unwrap();
    assert!(s.list().await.unwrap().is_empty(), "nothing published");

    // Another server on the bucket keeps it while it may be in flight.
    let opts = TestS3::shared().options();
    let patient = S3BlobStore::open(&url, opts.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
    assert_eq!(patient.clean_temporary().await.unwrap(), 0);
    assert_eq!(patient.objects().await.unwrap(), marker);

    // Past the grace (zero for this test's store): aborted, marker gone.
    let restarted = TestS3::shared().store_at(&url).await;
    assert_eq!(restarted.clean_temporary().await.unwrap(), 1);
    assert!(restarted.objects().await.unwrap().is_empty());
    assert_eq!(restarted.clean_temporary().await.unwrap(), 0);
}

#[tokio::test]
async fn the_instance_id_is_written_once_and_credentials_stay_out_of_debug() {
    let s = TestS3::shared().store().await;
    let other = TestS3::shared().store_at(s.url()).await;
    s.set_instance_id("aaaa").await.unwrap();
    other.set_instance_id("aaaa").await.unwrap();
    // A second vault starting on the bucket cannot rebind it
    // (`If-None-Match: *`).
    assert!(matches!(
        other.set_instance_id("bbbb").await,
        Err(obhut_store::StoreError::InstanceMismatch { .. })
    ));
    assert_eq!(s.instance_id().await.unwrap().as_deref(), Some("aaaa"));
    let shown = format!("{s:?}");
    assert!(!shown.contains(contract::s3::SECRET_KEY), "{shown}");
    let config = obhut_store::BlobConfig {
        url: Some(s.url().to_owned()),
        options: vec![(
            "aws_secret_access_key".into(),
            contract::s3::SECRET_KEY.into(),
        )],
    };
    assert!(!format!("{config:?}").contains(contract::s3::SECRET_KEY));
}
