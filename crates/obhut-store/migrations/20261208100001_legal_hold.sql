-- Legal holds (issue 18 item 3; docs/vault.md §9.1). A hold keeps one
-- device's footage captured in [from_ms, to_ms) past its retention; it is
-- active while released_ms is NULL. Its key is an epoch of its own
-- (epoch_id = hold_id, class 'hold-<hex id>'), made by the sweeper when
-- the first held segment's epoch expires; releasing the hold gives that
-- epoch an expiry, and the sweeper destroys it like any other.
CREATE TABLE holds (
    hold_id     BLOB PRIMARY KEY NOT NULL,
    group_id    BLOB NOT NULL,
    case_ref    TEXT NOT NULL,
    device_key  BLOB NOT NULL,
    from_ms     INTEGER NOT NULL,
    to_ms       INTEGER NOT NULL,
    placed_ms   INTEGER NOT NULL,
    released_ms INTEGER
) STRICT;
-- The sweeper looks up the active holds of an expiring epoch's devices.
CREATE INDEX holds_active_by_device ON holds (device_key) WHERE released_ms IS NULL;
-- A held segment's b re-wrapped to its hold's key (an `EpochRewrap`,
-- docs/format.md §5.5), beside the segment whose signed header still
-- names the destroyed epoch. `segments.epoch_id` then names the hold's
-- epoch: the key that opens the segment now, and the epoch whose sweep
-- deletes it.
CREATE TABLE segment_rewraps (
    recording_id BLOB NOT NULL,
    idx          INTEGER NOT NULL,
    epoch_id     BLOB NOT NULL,
    rewrap       BLOB NOT NULL,
    PRIMARY KEY (recording_id, idx)
) STRICT, WITHOUT ROWID;
