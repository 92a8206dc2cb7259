//! [`NameStore`] on the postgres index: the `names` table (migration
//! `20261209300001_names`).

use super::{PgIndex, commit_logged_if_new};
use crate::{KeyBytes, NameStore, NewLogEntry, Result};

impl NameStore for PgIndex {
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
        let r = sqlx::query(
            "INSERT INTO names (subject, claim, claim_ms, set_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE
             SET claim = excluded.claim, claim_ms = excluded.claim_ms, set_ms = excluded.set_ms
             WHERE excluded.claim_ms > names.claim_ms",
        )
        .bind(&subject[..])
        .bind(claim)
        .bind(claim_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let stored = r.rows_affected() > 0;
        commit_logged_if_new(tx, stored, log).await?;
        Ok(stored)
    }

    async fn name(&self, subject: KeyBytes) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT claim FROM names WHERE subject = $1")
                .bind(&subject[..])
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
