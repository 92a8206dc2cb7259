-- Derived artifacts, their lineage and consents (issue 18 item 6,
-- docs/vault.md §10). An artifact's row stays after a cascade as its
-- tombstone (state 'deleted'); a model whose source went is 'tainted'.
CREATE TABLE artifacts (
    artifact_id   BLOB PRIMARY KEY NOT NULL,
    group_id      BLOB NOT NULL,
    kind          INTEGER NOT NULL,
    name          TEXT NOT NULL,
    consent_id    BLOB,
    signer_key    BLOB NOT NULL,
    record        BLOB NOT NULL,
    registered_ms INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'live'
        CHECK (state IN ('live', 'deleted', 'tainted')),
    changed_ms    INTEGER
) STRICT;
CREATE INDEX artifacts_by_consent ON artifacts (consent_id) WHERE consent_id IS NOT NULL;
-- One row per lineage entry, in the record's order (pos): either a
-- segment range of a recording or another artifact. Indexed by both, so
-- a cascade finds the next step without a scan.
CREATE TABLE artifact_sources (
    artifact_id     BLOB NOT NULL REFERENCES artifacts (artifact_id),
    pos             INTEGER NOT NULL,
    recording_id    BLOB,
    first_idx       INTEGER,
    end_idx         INTEGER,
    source_artifact BLOB,
    PRIMARY KEY (artifact_id, pos),
    CHECK ((recording_id IS NULL) != (source_artifact IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX artifact_sources_by_recording ON artifact_sources (recording_id, first_idx)
    WHERE recording_id IS NOT NULL;
CREATE INDEX artifact_sources_by_artifact ON artifact_sources (source_artifact)
    WHERE source_artifact IS NOT NULL;
-- Consents to human review for training or product improvement, recorded
-- with k custodians' signed grants (kept whole in the log entry).
CREATE TABLE consents (
    consent_id   BLOB PRIMARY KEY NOT NULL,
    group_id     BLOB NOT NULL,
    purposes     INTEGER NOT NULL,
    not_before   INTEGER NOT NULL,
    not_after    INTEGER NOT NULL,
    recorded_ms  INTEGER NOT NULL,
    withdrawn_ms INTEGER
) STRICT;
CREATE INDEX consents_by_group ON consents (group_id) WHERE withdrawn_ms IS NULL;
