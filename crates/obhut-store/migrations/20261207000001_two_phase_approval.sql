-- Two-phase approval (docs/access.md §2, issue 15): an approval is a
-- custodian's signed decision, logged before any partial exists, so it no
-- longer commits to the envelope's hash. The first envelope uploaded is
-- kept and never replaced by other bytes.
ALTER TABLE approvals DROP COLUMN partial_hash;
