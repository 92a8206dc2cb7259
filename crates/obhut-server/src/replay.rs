//! Replay protection without a write per read (docs/vault.md §2; issue
//! 16). Every signed request carries a time within ±[`WINDOW_MS`] of the
//! vault's clock and a random nonce; a (key, nonce) pair is accepted once.
//!
//! Until issue 16 each pair was recorded by a durable write, so every
//! read needed a free disk: at 100 % full nobody could fetch footage, and
//! one wedged write connection failed every request. Now:
//!
//! - **Reads** (GET, HEAD) are remembered in memory ([`ReplayGuard`]),
//!   each until its time + window, past which a replay is stale anyway;
//!   the memory is bounded ([`MAX_REMEMBERED`]).
//! - **Writes** (every other method) keep the durable record, as before:
//!   they write anyway, and a write replayed after a restart must still
//!   be refused. A signed request is a read or a write by its method,
//!   which the signature covers, so a replay takes the same path as the
//!   original.
//! - **A restart** forgets the memory. So a read signed before this
//!   process started (the floor, [`ReplayGuard::floor`]) is refused as
//!   stale: the client signs again. Reads the previous process accepted
//!   were signed no later than its clock, which is before this start as
//!   long as the clock does not go back; the start is stored durably and
//!   only moves forward (`IndexStore::record_start`), so a clock set back
//!   across a restart cannot reopen the window either.
//! - **Reads signed ahead of the clock** (a client whose clock runs
//!   fast) could still be inside the window after a restart, so they are
//!   recorded durably as writes are; and because such a read may come
//!   back once the clock has passed its time, every read is also checked
//!   against the durable record (a read, not a write).
//! - **Memory full**: a read is recorded durably, as a write is.
//!
//! Checks run in this order: the window (auth.rs), the floor, memory
//! (taken first, so two copies of one request racing each other cannot
//! both pass), then the durable record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use obhut_store::KeyBytes;

/// Accepted clock difference between a request and the vault (ms).
pub const WINDOW_MS: i64 = 300_000;

/// The most (key, nonce) pairs remembered at once: about 20 MiB. Reads
/// past this many within one window are recorded durably instead.
pub const MAX_REMEMBERED: usize = 1 << 17;

type Pair = (KeyBytes, [u8; 16]);

/// What [`ReplayGuard::take`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Not seen in memory; now remembered.
    Fresh,
    /// Seen before: a replay.
    Replayed,
    /// Not seen in memory, and the memory is full: record it durably.
    Full,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each pair with the time it may be forgotten (its time + window).
    pairs: HashMap<Pair, i64>,
    /// When expired pairs were last dropped (at most once a millisecond of
    /// the vault's clock, so a full memory is not swept on every request).
    swept_ms: i64,
}

/// The nonces of recent read requests, and the floor below which a read
/// is refused.
#[derive(Debug)]
pub struct ReplayGuard {
    floor_ms: AtomicI64,
    seen: Mutex<Seen>,
}

impl ReplayGuard {
    /// A guard whose floor is `start_ms`, the process's start.
    pub fn new(start_ms: i64) -> Self {
        ReplayGuard {
            floor_ms: AtomicI64::new(start_ms),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Reads signed before this are refused.
    pub fn floor(&self) -> i64 {
        self.floor_ms.load(Ordering::SeqCst)
    }

    /// Raise the floor to `ms` (the start recorded durably); never lowers.
    pub fn raise_floor(&self, ms: i64) {
        self.floor_ms.fetch_max(ms, Ordering::SeqCst);
    }

    /// Take (key, nonce) of a request signed at `time_ms`, at `now_ms`.
    pub fn take(&self, key: KeyBytes, nonce: [u8; 16], time_ms: i64, now_ms: i64) -> Taken {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.pairs.contains_key(&(key, nonce)) {
            return Taken::Replayed;
        }
        if seen.pairs.len() >= MAX_REMEMBERED && seen.swept_ms != now_ms {
            seen.swept_ms = now_ms;
            seen.pairs.retain(|_, forget| *forget >= now_ms);
        }
        if seen.pairs.len() >= MAX_REMEMBERED {
            return Taken::Full;
        }
        seen.pairs
            .insert((key, nonce), time_ms.saturating_add(WINDOW_MS));
        Taken::Fresh
    }

    /// Forget (key, nonce) again: the request it came with failed before
    /// it did anything (its durable record could not be written), so the
    /// client may send it again.
    pub fn give_back(&self, key: KeyBytes, nonce: [u8; 16]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.pairs.remove(&(key, nonce));
    }

    /// How many pairs are remembered (tests).
    pub fn remembered(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pairs
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_taken_once_until_forgotten() {
        let g = ReplayGuard::new(0);
        assert_eq!(g.take([1; 32], [1; 16], 100, 100), Taken::Fresh);
        assert_eq!(g.take([1; 32], [1; 16], 100, 200), Taken::Replayed);
        assert_eq!(g.take([2; 32], [1; 16], 100, 200), Taken::Fresh, "per key");
        g.give_back([1; 32], [1; 16]);
        assert_eq!(g.take([1; 32], [1; 16], 100, 200), Taken::Fresh);
    }

    #[test]
    fn the_memory_is_bounded_and_expired_pairs_make_room() {
        let g = ReplayGuard::new(0);
        let pair = |i: usize| {
            let mut n = [0u8; 16];
            n[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n
        };
        for i in 0..MAX_REMEMBERED {
            assert_eq!(g.take([1; 32], pair(i), 0, 0), Taken::Fresh);
        }
        assert_eq!(g.take([1; 32], pair(MAX_REMEMBERED), 0, 0), Taken::Full);
        assert_eq!(g.take([1; 32], pair(0), 0, 0), Taken::Replayed);
        // Past the window every pair may go: room again.
        assert_eq!(
            g.take([1; 32], pair(MAX_REMEMBERED), 0, WINDOW_MS + 1),
            Taken::Fresh
        );
        assert_eq!(g.remembered(), 1);
    }

    #[test]
    fn extreme_times_neither_panic_nor_stay_forever() {
        let g = ReplayGuard::new(i64::MIN);
        assert_eq!(g.take([1; 32], [1; 16], i64::MAX, 0), Taken::Fresh);
        assert_eq!(g.take([1; 32], [2; 16], i64::MIN, 0), Taken::Fresh);
        g.raise_floor(5);
        g.raise_floor(3);
        assert_eq!(g.floor(), 5, "the floor never goes down");
    }
}
