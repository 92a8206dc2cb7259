-- Obhut vault index, schema 1. schema.sql (beside migrations/) is the
-- authority for the resulting schema; tests/schema.rs compares them.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE custody_groups (
    group_id    BLOB PRIMARY KEY NOT NULL,
    descriptor  BLOB NOT NULL,
    fingerprint BLOB NOT NULL,
    added_ms    INTEGER NOT NULL
) STRICT;

CREATE TABLE enrol_tokens (
    token_hash      BLOB PRIMARY KEY NOT NULL,
    group_id        BLOB NOT NULL REFERENCES custody_groups (group_id),
    retention_class TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    used_by         BLOB,
    used_ms         INTEGER
) STRICT;

CREATE TABLE devices (
    device_key      BLOB PRIMARY KEY NOT NULL,
    group_id        BLOB NOT NULL REFERENCES custody_groups (group_id),
    retention_class TEXT NOT NULL,
    enrolled_ms     INTEGER NOT NULL,
    revoked_ms      INTEGER
) STRICT;

CREATE TABLE nonces (
    device_key BLOB NOT NULL,
    nonce      BLOB NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (device_key, nonce)
) STRICT, WITHOUT ROWID;

CREATE INDEX nonces_expiry ON nonces (expires_ms);

CREATE TABLE epochs (
    epoch_id        BLOB PRIMARY KEY NOT NULL,
    retention_class TEXT NOT NULL,
    not_before      INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    public          BLOB NOT NULL
) STRICT;

CREATE UNIQUE INDEX epochs_by_class ON epochs (retention_class, not_before);

CREATE TABLE recordings (
    recording_id     BLOB PRIMARY KEY NOT NULL,
    device_key       BLOB NOT NULL REFERENCES devices (device_key),
    group_id         BLOB NOT NULL,
    retention_class  TEXT NOT NULL,
    first_capture_ms INTEGER NOT NULL,
    segment_count    INTEGER NOT NULL,
    total_bytes      INTEGER NOT NULL,
    complete         INTEGER NOT NULL
) STRICT;

CREATE INDEX recordings_by_device ON recordings (device_key, first_capture_ms);

CREATE TABLE segments (
    recording_id   BLOB NOT NULL REFERENCES recordings (recording_id),
    idx            INTEGER NOT NULL,
    record         BLOB NOT NULL,
    record_hash    BLOB NOT NULL,
    blob_len       INTEGER NOT NULL,
    capture_ms     INTEGER NOT NULL,
    epoch_id       BLOB NOT NULL REFERENCES epochs (epoch_id),
    received_ms    INTEGER NOT NULL,
    receipt        BLOB NOT NULL,
    PRIMARY KEY (recording_id, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE readers (
    person_key BLOB NOT NULL,
    group_id   BLOB NOT NULL REFERENCES custody_groups (group_id),
    added_ms   INTEGER NOT NULL,
    PRIMARY KEY (person_key, group_id)
) STRICT, WITHOUT ROWID;
