-- Obhut vault index, schema 3: the access workflow (docs/access.md).
-- Every change below is made in the same transaction as the audit entry
-- that records it (access-requested, approved, denied, released); the
-- log_index columns point at those entries.

-- People an admin allowed to ask for access to a group's footage
-- (`obhut admin add-requester`).
CREATE TABLE requesters (
    person_key BLOB NOT NULL,
    group_id   BLOB NOT NULL REFERENCES custody_groups (group_id),
    added_ms   INTEGER NOT NULL,
    PRIMARY KEY (person_key, group_id)
) STRICT, WITHOUT ROWID;

-- Signed access requests. The only transitions are pending -> denied and
-- pending -> released; `release` (the EpochRelease) and its entry's index
-- are set with the second.
CREATE TABLE access_requests (
    request_hash      BLOB PRIMARY KEY NOT NULL,
    group_id          BLOB NOT NULL REFERENCES custody_groups (group_id),
    requester_key     BLOB NOT NULL,
    request           BLOB NOT NULL,
    log_index         INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'denied', 'released')),
    created_ms        INTEGER NOT NULL,
    expires_ms        INTEGER NOT NULL,
    release           BLOB,
    release_log_index INTEGER,
    CHECK ((state = 'released') = (release IS NOT NULL AND release_log_index IS NOT NULL))
) STRICT;

CREATE INDEX access_requests_by_group ON access_requests (group_id, created_ms);
CREATE INDEX access_requests_by_requester ON access_requests (requester_key, created_ms);

-- One approval per custodian and request. `partial_hash` is the SHA-256 of
-- the partial envelope the custodian committed to in its `approved` entry;
-- `envelope` is set once, later, to exactly those bytes.
CREATE TABLE approvals (
    request_hash  BLOB NOT NULL REFERENCES access_requests (request_hash),
    custodian     INTEGER NOT NULL,
    custodian_key BLOB NOT NULL,
    partial_hash  BLOB NOT NULL,
    segments      INTEGER NOT NULL,
    log_index     INTEGER NOT NULL,
    envelope      BLOB,
    PRIMARY KEY (request_hash, custodian)
) STRICT, WITHOUT ROWID;

-- A denial ends its request (at most one).
CREATE TABLE denials (
    request_hash BLOB PRIMARY KEY NOT NULL REFERENCES access_requests (request_hash),
    custodian    INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    log_index    INTEGER NOT NULL
) STRICT;
