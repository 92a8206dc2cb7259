-- Derived artifacts, their lineage and consents (issue 18 item 6,
-- docs/vault.md §10): ../migrations/20261208200001_derived.sql in
-- PostgreSQL's types (tests/schema_in_step.rs keeps the two in step).
CREATE TABLE artifacts (
    artifact_id   BYTEA PRIMARY KEY NOT NULL,
    group_id      BYTEA NOT NULL,
    kind          BIGINT NOT NULL,
    name          TEXT NOT NULL,
    consent_id    BYTEA,
    signer_key    BYTEA NOT NULL,
    record        BYTEA NOT NULL,
    registered_ms BIGINT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'live'
        CHECK (state IN ('live', 'deleted', 'tainted')),
    changed_ms    BIGINT
);
CREATE INDEX artifacts_by_consent ON artifacts (consent_id) WHERE consent_id IS NOT NULL;
CREATE TABLE artifact_sources (
    artifact_id     BYTEA NOT NULL REFERENCES artifacts (artifact_id),
    pos             BIGINT NOT NULL,
    recording_id    BYTEA,
    first_idx       BIGINT,
    end_idx         BIGINT,
    source_artifact BYTEA,
    PRIMARY KEY (artifact_id, pos),
    CHECK ((recording_id IS NULL) != (source_artifact IS NULL))
);
CREATE INDEX artifact_sources_by_recording ON artifact_sources (recording_id, first_idx)
    WHERE recording_id IS NOT NULL;
CREATE INDEX artifact_sources_by_artifact ON artifact_sources (source_artifact)
    WHERE source_artifact IS NOT NULL;
CREATE TABLE consents (
    consent_id   BYTEA PRIMARY KEY NOT NULL,
    group_id     BYTEA NOT NULL,
    purposes     BIGINT NOT NULL,
    not_before   BIGINT NOT NULL,
    not_after    BIGINT NOT NULL,
    recorded_ms  BIGINT NOT NULL,
    withdrawn_ms BIGINT
);
CREATE INDEX consents_by_group ON consents (group_id) WHERE withdrawn_ms IS NULL;
