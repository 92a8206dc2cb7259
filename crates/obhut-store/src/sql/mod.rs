//! The SQL index written once for SQLite and PostgreSQL: [`IndexStore`]
//! and its supertraits are implemented for every [`engine::Engine`]
//! (`index`, `log`, `access`, `retention`, `hold`, `derived`, `names`),
//! with one SQL text per statement and the rows read by one set of
//! mappers ([`rows`], against [`Columns`], which both engines' rows
//! implement). An engine (`sqlite/engine.rs`, `postgres/engine.rs`)
//! supplies only what differs: its write transaction and sequencing,
//! where reads go, and the few statements whose text differs.
//!
//! [`IndexStore`]: crate::IndexStore

mod access;
pub(crate) mod column;
mod derived;
pub(crate) mod engine;
mod hold;
mod index;
mod log;
mod names;
mod retention;
mod rows;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::Result;

/// A row's columns by name, decoded to the three types the index stores:
/// integers (`INTEGER`, `BIGINT`) as `i64`, `TEXT` as `String`, `BLOB` and
/// `BYTEA` as `Vec<u8>`. One set of bounds here instead of on every mapper.
pub(crate) trait Columns {
    /// An integer column.
    fn int(&self, col: &str) -> Result<i64>;
    /// A nullable integer column.
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    /// A text column.
    fn text(&self, col: &str) -> Result<String>;
    /// A byte column.
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
    /// A nullable byte column.
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>>;
}

impl<R> Columns for R
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'v> i64: Decode<'v, R::Database> + Type<R::Database>,
    for<'v> String: Decode<'v, R::Database> + Type<R::Database>,
    for<'v> Vec<u8>: Decode<'v, R::Database> + Type<R::Database>,
{
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        Ok(self.try_get(col)?)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(col)?)
    }
}
