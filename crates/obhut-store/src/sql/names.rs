//! [`NameStore`] on either SQL engine: the `names` table (migration
//! `20261209300001_names`).

use super::Columns;
use super::engine::{Arg, Engine, commit_logged_if_new};
use crate::{KeyBytes, NameStore, NewLogEntry, Result};

impl<X: Engine> NameStore for X {
    async fn set_name(
        &self,
        subject: KeyBytes,
        claim: &[u8],
        claim_ms: i64,
        now_ms: i64,
        log: &NewLogEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // An older claim (replayed, or signed before the stored one) does
        // not replace a newer one: the upsert's WHERE leaves the row.
        let stored = X::execute(
            &mut tx,
            "INSERT INTO names (subject, claim, claim_ms, set_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE
             SET claim = excluded.claim, claim_ms = excluded.claim_ms, set_ms = excluded.set_ms
             WHERE excluded.claim_ms > names.claim_ms",
            &[
                Arg::Bytes(&subject),
                Arg::Bytes(claim),
                Arg::Int(claim_ms),
                Arg::Int(now_ms),
            ],
        )
        .await?
            > 0;
        commit_logged_if_new::<X>(tx, stored, log).await?;
        Ok(stored)
    }

    async fn name(&self, subject: KeyBytes) -> Result<Option<Vec<u8>>> {
        self.read_optional(
            "SELECT claim FROM names WHERE subject = $1",
            &[Arg::Bytes(&subject)],
        )
        .await?
        .map(|r| r.bytes("claim"))
        .transpose()
    }
}
