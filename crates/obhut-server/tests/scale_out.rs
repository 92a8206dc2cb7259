//! Issue 20 item 3: vault processes sharing one PostgreSQL database. The
//! forced races of the audit log's integration — two integrators at once,
//! one with a stale in-memory right edge, one that lost its lease — never
//! fork the log: every checkpoint ever written hashes the same leaves as
//! the tree recomputed from the entries. The integrator's lease moves to
//! another process when its holder's session dies, and the database locks
//! of per-recording publication and epoch creation exclude across
//! processes. (Two real `obhut serve` processes behind a proxy, killed
//! mid-load: crates/obhut/tests/scale_out.rs.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::rng::os_rng;
use obhut_log::SignedCheckpoint;
use obhut_log::tree::MemoryTree;
use obhut_server::log::LogService;
use obhut_server::sequencing::Sequencing;
use obhut_store::contract::pg::TestServer;
use obhut_store::postgres::PgIndex;
use obhut_store::{IndexStore, LogStore, NewLogEntry};

fn entry(who: u32, n: u32) -> NewLogEntry {
    NewLogEntry::new(&LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::PolicyInEffect {
            policy: format!("server {who} entry {n}"),
        },
    })
    .unwrap()
}

/// Two handles on one fresh database: two vault processes.
async fn two_servers() -> (Arc<TestServer>, PgIndex, PgIndex) {
    let server = TestServer::shared().expect("starting the test cluster");
    let db = server.database().await.expect("a fresh database");
    let a = PgIndex::connect(&db.url).await.unwrap();
    let b = PgIndex::connect(&db.url).await.unwrap();
    (db.server, a, b)
}

/// Every checkpoint stored is signed by `key` and has the root of the
/// tree of the stored leaves at its size; every level-0 tile holds those
/// leaves. A fork (two trees) cannot pass this.
async fn assert_one_tree(index: &PgIndex, log: &LogService) -> u64 {
    let leaves = index.log_leaf_hashes(0, u32::MAX).await.unwrap();
    let mut tree = MemoryTree::new();
    for l in &leaves {
        tree.append(obhut_log::Hash(*l));
    }
    let latest = index.log_checkpoint().await.unwrap().expect("a checkpoint");
    assert_eq!(latest.size, leaves.len() as u64, "everything integrated");
    let mut checked = 0;
    for size in 1..=latest.size {
        let Some(cp) = index.log_checkpoint_at(size).await.unwrap() else {
            continue;
        };
        let signed = SignedCheckpoint::open(&cp.note, &log.verifier_key()).expect("signed");
        assert_eq!(signed.checkpoint.size, size);
        assert_eq!(
            signed.checkpoint.root,
            tree.root_at(size).unwrap(),
            "the checkpoint of size {size} is of another tree: a fork"
        );
        checked += 1;
    }
    for (n, chunk) in leaves.chunks(256).enumerate() {
        let tile = index.log_tile(0, n as u64).await.unwrap().expect("tile");
        assert_eq!(tile, chunk.concat(), "level-0 tile {n}");
    }
    checked
}

/// A stale integrator (its right edge loaded before another one wrote)
/// is refused by the compare-and-swap of the tree head, reloads and goes
/// on from the stored head; then both integrate at once while both
/// servers append, and the log is one tree throughout.
///
/// Without the compare-and-swap (`log_integrate` writing whatever it is
/// given) the stale write is accepted and `head_moved` stays 0: this test
/// fails at that assertion. The tree would still agree here, because
/// entries are sequenced in the store and a stale edge plus the same
/// leaves is the same tree; the swap is what keeps a stale or lease-less
/// integrator from writing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_and_stale_integrators_never_fork_the_log() {
    let (_server, a, b) = two_servers().await;
    let key = SignKey::generate(&mut os_rng());
    let origin = "example.org/scale-out".to_owned();
    let la = Arc::new(LogService::new(origin.clone(), &key, &[]).unwrap());
    let lb = Arc::new(LogService::new(origin, &key, &[]).unwrap());

    // A integrates first; B then moves the head past A's memory.
    a.log_append(&(0..5).map(|n| entry(0, n)).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(la.integrate(&a, 1).await.unwrap(), Some(5));
    b.log_append(&(0..3).map(|n| entry(1, n)).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(lb.integrate(&b, 2).await.unwrap(), Some(8));
    a.log_append(&[entry(0, 5), entry(0, 6)]).await.unwrap();
    // A's edge is at 5, the head at 8: its write is refused, it reloads.
    assert_eq!(la.integrate(&a, 3).await.unwrap(), Some(10));
    assert_eq!(
        la.head_moved(),
        1,
        "the stale integrator's write was refused"
    );
    assert_eq!(lb.head_moved(), 0);

    // Both at once, while both servers append.
    let mut tasks = Vec::new();
    for (who, index, log) in [(0, a.clone(), la.clone()), (1, b.clone(), lb.clone())] {
        tasks.push(tokio::spawn(async move {
            for n in 0..40u32 {
                let batch: Vec<_> = (0..1 + n % 4)
                    .map(|k| entry(who, 100 + n * 10 + k))
                    .collect();
                index.log_append(&batch).await.unwrap();
                log.integrate(&index, 10 + i64::from(n)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    la.integrate(&a, 100).await.unwrap();
    lb.integrate(&b, 101).await.unwrap();
    let checked = assert_one_tree(&a, &la).await;
    assert!(checked > 20, "{checked} checkpoints");
}

/// The integrator's lease: one holder at a time; when the holder's
/// session dies (its process killed: here its backend terminated) another
/// server takes it within a bound, the old holder learns it lost it, and
/// its stale integrator writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrators_lease_fails_over_when_its_holder_dies() {
    let (_server, a, b) = two_servers().await;
    let sa = Sequencing::new(a.shared_locks());
    let sb = Sequencing::new(b.shared_locks());
    assert!(sa.lead_integration().await.unwrap(), "A takes the lease");
    assert!(!sb.lead_integration().await.unwrap(), "one holder");
    assert!(sa.lead_integration().await.unwrap(), "A keeps it");

    let key = SignKey::generate(&mut os_rng());
    let la = LogService::new("example.org/lease".into(), &key, &[]).unwrap();
    let lb = LogService::new("example.org/lease".into(), &key, &[]).unwrap();
    a.log_append(&[entry(0, 0), entry(0, 1)]).await.unwrap();
    la.integrate(&a, 1).await.unwrap();

    // A dies: the database ends every session holding an advisory lock
    // in this test's database (A's lease; no publication lock is held
    // now). pg_locks lists the whole cluster's locks: the other tests of
    // this file hold theirs in their own databases, at the same time.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(b.pool())
    .await
    .unwrap();
    assert_eq!(killed, [true], "A's lease session");
    let t0 = Instant::now();
    while !sb.lead_integration().await.unwrap() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "B did not take the lease over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.log_append(&[entry(1, 0)]).await.unwrap();
    assert_eq!(lb.integrate(&b, 2).await.unwrap(), Some(3));
    assert!(!sa.lead_integration().await.unwrap(), "A learns it lost it");

    // A, not knowing yet, integrates with its memory at 2: refused,
    // reloaded, nothing forked.
    a.log_append(&[entry(0, 2)]).await.unwrap();
    assert_eq!(la.integrate(&a, 3).await.unwrap(), Some(4));
    assert_eq!(la.head_moved(), 1);
    assert_one_tree(&b, &lb).await;

    sb.resign().await;
    assert!(
        sa.lead_integration().await.unwrap(),
        "a clean stop hands over at once"
    );
}

/// The per-recording publication lock and the epoch lock exclude across
/// processes; locks of different recordings do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publication_and_epoch_locks_exclude_across_processes() {
    let (_server, a, b) = two_servers().await;
    let sa = Sequencing::new(a.shared_locks());
    let sb = Sequencing::new(b.shared_locks());
    let rid = RecordingId([7; 16]);
    let held = sa.lock_recording(rid).await.unwrap();
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        sb.lock_recording(RecordingId([8; 16])),
    )
    .await
    .expect("another recording is not blocked")
    .unwrap();
    drop(other);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sb.lock_recording(rid))
            .await
            .is_err(),
        "B waits while A publishes"
    );
    drop(held);
    tokio::time::timeout(Duration::from_secs(5), sb.lock_recording(rid))
        .await
        .expect("B gets it once A is done")
        .unwrap();

    let e = sa.lock_epochs().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sb.lock_epochs())
            .await
            .is_err(),
        "one epoch maker across processes"
    );
    drop(e);
    tokio::time::timeout(Duration::from_secs(5), sb.lock_epochs())
        .await
        .expect("free again")
        .unwrap();
}
