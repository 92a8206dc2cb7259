-- Display names (issue 19 item 7; docs/format.md §3.5): the newest signed
-- name claim per person or device key, as `obhut admin set-name` stored
-- it. The vault serves the claim whole; clients verify its signature and
-- signer, so a changed row shows as an unverified name, never as a name.
CREATE TABLE names (
    subject  BLOB PRIMARY KEY NOT NULL,
    claim    BLOB NOT NULL,
    claim_ms INTEGER NOT NULL,
    set_ms   INTEGER NOT NULL
) STRICT;
