-- Obhut vault index, schema 2: the audit log (docs/log.md §Service).
-- Entries are sequenced (given their index) in the same transaction as the
-- change they record; the integrator adds them to the Merkle tree (tiles)
-- and signs a checkpoint. A pruned entry keeps its leaf hash.

CREATE TABLE log_entries (
    idx          INTEGER PRIMARY KEY NOT NULL,
    time_ms      INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    recording_id BLOB,
    body         BLOB,
    leaf_hash    BLOB NOT NULL,
    pruned_ms    INTEGER
) STRICT;

CREATE INDEX log_entries_by_recording ON log_entries (recording_id, idx)
    WHERE recording_id IS NOT NULL;

CREATE TABLE log_tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE log_checkpoints (
    size    INTEGER PRIMARY KEY NOT NULL,
    time_ms INTEGER NOT NULL,
    note    BLOB NOT NULL,
    edge    BLOB NOT NULL
) STRICT;

-- People who may read audit entry bodies (data-protection officers,
-- oversight bodies). Vault-wide: the log is one log.
CREATE TABLE auditors (
    person_key BLOB PRIMARY KEY NOT NULL,
    added_ms   INTEGER NOT NULL
) STRICT;
