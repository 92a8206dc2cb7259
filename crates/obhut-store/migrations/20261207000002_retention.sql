-- Retention (issue 18): an epoch's expiry and its way to a tombstone.
-- `expires_ms` is NULL for a class kept until released. The state moves
-- live → expiring (no new segments, no releases) → destroyed (its key is
-- gone, its segments' index rows moved to `deletion_queue`, the
-- `epoch-destroyed` entry and the signed receipt committed together) →
-- swept (every queued blob deleted). The row stays as the tombstone.
ALTER TABLE epochs ADD COLUMN expires_ms INTEGER;
ALTER TABLE epochs ADD COLUMN state TEXT NOT NULL DEFAULT 'live'
    CHECK (state IN ('live', 'expiring', 'destroyed', 'swept'));
ALTER TABLE epochs ADD COLUMN destroyed_ms INTEGER;
ALTER TABLE epochs ADD COLUMN receipt BLOB;
-- The sweeper's query reads only what is due: cost by what expires.
CREATE INDEX epochs_by_expiry ON epochs (expires_ms)
    WHERE expires_ms IS NOT NULL AND state != 'swept';
CREATE INDEX segments_by_epoch ON segments (epoch_id);
-- Blobs whose index rows are gone and whose epoch key is destroyed, to be
-- deleted (crash-safe: a row leaves only after its blob is deleted).
CREATE TABLE deletion_queue (
    epoch_id     BLOB NOT NULL,
    recording_id BLOB NOT NULL,
    idx          INTEGER NOT NULL,
    PRIMARY KEY (epoch_id, recording_id, idx)
) STRICT, WITHOUT ROWID;
-- Recordings all of whose segments expired: reads answer `410 expired`.
CREATE TABLE expired_recordings (
    recording_id BLOB PRIMARY KEY NOT NULL,
    epoch_id     BLOB NOT NULL,
    expired_ms   INTEGER NOT NULL
) STRICT;
-- The highest clock reading the sweeper has acted on is kept in `meta`
-- (key `clock_floor_ms`): a clock set back never holds back a deletion
-- already due.
