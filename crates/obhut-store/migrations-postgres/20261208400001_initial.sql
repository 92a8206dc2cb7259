-- Obhut vault index on PostgreSQL: the schema of the SQLite index
-- (../schema.sql, built by ../migrations/) in PostgreSQL's types, in one
-- step because no PostgreSQL vault predates it. BLOB -> BYTEA,
-- INTEGER -> BIGINT (every SQLite integer here is 64-bit), TEXT -> TEXT.
-- tests/schema_in_step.rs checks that both engines' migrations give the
-- same tables, columns, nullability and primary keys; a change to one
-- needs the same change to the other.
--
-- One table has no SQLite counterpart: `log_head`, the row every write
-- transaction locks first (docs/vault.md §6, src/postgres/mod.rs), which
-- on SQLite is the database's single write lock.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE custody_groups (
    group_id    BYTEA PRIMARY KEY NOT NULL,
    descriptor  BYTEA NOT NULL,
    fingerprint BYTEA NOT NULL,
    added_ms    BIGINT NOT NULL
);

CREATE TABLE enrol_tokens (
    token_hash      BYTEA PRIMARY KEY NOT NULL,
    group_id        BYTEA NOT NULL REFERENCES custody_groups (group_id),
    retention_class TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    used_by         BYTEA,
    used_ms         BIGINT
);

CREATE TABLE devices (
    device_key      BYTEA PRIMARY KEY NOT NULL,
    group_id        BYTEA NOT NULL REFERENCES custody_groups (group_id),
    retention_class TEXT NOT NULL,
    enrolled_ms     BIGINT NOT NULL,
    revoked_ms      BIGINT
);

CREATE TABLE nonces (
    device_key BYTEA NOT NULL,
    nonce      BYTEA NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (device_key, nonce)
);

CREATE INDEX nonces_expiry ON nonces (expires_ms);

CREATE TABLE epochs (
    epoch_id        BYTEA PRIMARY KEY NOT NULL,
    retention_class TEXT NOT NULL,
    not_before      BIGINT NOT NULL,
    not_after       BIGINT NOT NULL,
    public          BYTEA NOT NULL,
    expires_ms      BIGINT,
    state           TEXT NOT NULL DEFAULT 'live'
        CHECK (state IN ('live', 'expiring', 'destroyed', 'swept')),
    destroyed_ms    BIGINT,
    receipt         BYTEA
);

CREATE UNIQUE INDEX epochs_by_class ON epochs (retention_class, not_before);
CREATE INDEX epochs_by_expiry ON epochs (expires_ms)
    WHERE expires_ms IS NOT NULL AND state != 'swept';

CREATE TABLE recordings (
    recording_id     BYTEA PRIMARY KEY NOT NULL,
    device_key       BYTEA NOT NULL REFERENCES devices (device_key),
    group_id         BYTEA NOT NULL,
    retention_class  TEXT NOT NULL,
    first_capture_ms BIGINT NOT NULL,
    segment_count    BIGINT NOT NULL,
    total_bytes      BIGINT NOT NULL,
    complete         BIGINT NOT NULL
);

CREATE INDEX recordings_by_device ON recordings (device_key, first_capture_ms);

CREATE TABLE segments (
    recording_id   BYTEA NOT NULL REFERENCES recordings (recording_id),
    idx            BIGINT NOT NULL,
    record         BYTEA NOT NULL,
    record_hash    BYTEA NOT NULL,
    blob_len       BIGINT NOT NULL,
    capture_ms     BIGINT NOT NULL,
    epoch_id       BYTEA NOT NULL REFERENCES epochs (epoch_id),
    received_ms    BIGINT NOT NULL,
    receipt        BYTEA NOT NULL,
    PRIMARY KEY (recording_id, idx)
);

CREATE INDEX segments_by_epoch ON segments (epoch_id);

CREATE TABLE readers (
    person_key BYTEA NOT NULL,
    group_id   BYTEA NOT NULL REFERENCES custody_groups (group_id),
    added_ms   BIGINT NOT NULL,
    PRIMARY KEY (person_key, group_id)
);

-- The audit log (docs/log.md §Service).
CREATE TABLE log_entries (
    idx          BIGINT PRIMARY KEY NOT NULL,
    time_ms      BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    recording_id BYTEA,
    body         BYTEA,
    leaf_hash    BYTEA NOT NULL,
    pruned_ms    BIGINT
);

CREATE INDEX log_entries_by_recording ON log_entries (recording_id, idx)
    WHERE recording_id IS NOT NULL;

CREATE TABLE log_tiles (
    level  BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    hashes BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE log_checkpoints (
    size    BIGINT PRIMARY KEY NOT NULL,
    time_ms BIGINT NOT NULL,
    note    BYTEA NOT NULL,
    edge    BYTEA NOT NULL
);

-- The number of sequenced entries, in the one row every write transaction
-- locks first (`SELECT ... FOR UPDATE`): writers of every server run one
-- at a time, and the next entry's index is `size` read under the lock.
CREATE TABLE log_head (
    id   BIGINT PRIMARY KEY NOT NULL CHECK (id = 0),
    size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO log_head (id, size) VALUES (0, 0);

CREATE TABLE auditors (
    person_key BYTEA PRIMARY KEY NOT NULL,
    added_ms   BIGINT NOT NULL
);

-- The access workflow (docs/access.md).
CREATE TABLE requesters (
    person_key BYTEA NOT NULL,
    group_id   BYTEA NOT NULL REFERENCES custody_groups (group_id),
    added_ms   BIGINT NOT NULL,
    PRIMARY KEY (person_key, group_id)
);

CREATE TABLE access_requests (
    request_hash      BYTEA PRIMARY KEY NOT NULL,
    group_id          BYTEA NOT NULL REFERENCES custody_groups (group_id),
    requester_key     BYTEA NOT NULL,
    request           BYTEA NOT NULL,
    log_index         BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'denied', 'released')),
    created_ms        BIGINT NOT NULL,
    expires_ms        BIGINT NOT NULL,
    release           BYTEA,
    release_log_index BIGINT,
    CHECK ((state = 'released') = (release IS NOT NULL AND release_log_index IS NOT NULL))
);

CREATE INDEX access_requests_by_group ON access_requests (group_id, created_ms);
CREATE INDEX access_requests_by_requester ON access_requests (requester_key, created_ms);

CREATE TABLE approvals (
    request_hash  BYTEA NOT NULL REFERENCES access_requests (request_hash),
    custodian     BIGINT NOT NULL,
    custodian_key BYTEA NOT NULL,
    segments      BIGINT NOT NULL,
    log_index     BIGINT NOT NULL,
    envelope      BYTEA,
    PRIMARY KEY (request_hash, custodian)
);

CREATE TABLE denials (
    request_hash BYTEA PRIMARY KEY NOT NULL REFERENCES access_requests (request_hash),
    custodian    BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    log_index    BIGINT NOT NULL
);

-- Retention (docs/vault.md §9).
CREATE TABLE deletion_queue (
    epoch_id     BYTEA NOT NULL,
    recording_id BYTEA NOT NULL,
    idx          BIGINT NOT NULL,
    PRIMARY KEY (epoch_id, recording_id, idx)
);

CREATE TABLE expired_recordings (
    recording_id BYTEA PRIMARY KEY NOT NULL,
    epoch_id     BYTEA NOT NULL,
    expired_ms   BIGINT NOT NULL
);
