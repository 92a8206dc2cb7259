//! [`crate::NameStore`]'s contract: the newest claim per key is kept and
//! logged once; an older or equally old one changes nothing and logs
//! nothing.

use super::{Fresh, case, entry};
use crate::IndexStore;

pub(super) async fn run<S: IndexStore>(fresh: &impl Fresh<S>) {
    case(
        "a name is replaced only by a newer claim, each stored one logged",
        fresh,
        newest_wins,
    )
    .await;
}

async fn newest_wins(s: impl IndexStore) {
    const P: [u8; 32] = [31; 32];
    let logged = s.log_sequenced().await.unwrap();
    assert_eq!(s.name(P).await.unwrap(), None);
    assert!(s.set_name(P, b"first", 10, 100, &entry(0)).await.unwrap());
    assert_eq!(s.name(P).await.unwrap().as_deref(), Some(&b"first"[..]));
    assert!(!s.set_name(P, b"older", 9, 101, &entry(1)).await.unwrap());
    assert!(
        !s.set_name(P, b"same time", 10, 101, &entry(1))
            .await
            .unwrap()
    );
    assert_eq!(s.name(P).await.unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 1);
    assert!(s.set_name(P, b"newer", 11, 102, &entry(2)).await.unwrap());
    assert_eq!(s.name(P).await.unwrap().as_deref(), Some(&b"newer"[..]));
    assert_eq!(s.log_sequenced().await.unwrap(), logged + 2);
    assert_eq!(s.name([32; 32]).await.unwrap(), None);
}
