-- Display names (issue 19 item 7; docs/format.md §3.5): ../migrations/
-- 20261209300001_names.sql in PostgreSQL's types (tests/schema_in_step.rs
-- keeps the two in step).
CREATE TABLE names (
    subject  BYTEA PRIMARY KEY NOT NULL,
    claim    BYTEA NOT NULL,
    claim_ms BIGINT NOT NULL,
    set_ms   BIGINT NOT NULL
);
