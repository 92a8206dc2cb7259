//! Conversions between the engines' integer columns (SQLite's `INTEGER`,
//! PostgreSQL's `BIGINT`) and the rows' types; a value out of range is
//! [`StoreError::Corrupt`], never a panic.

use crate::{Result, StoreError};

/// A fixed-length byte column.
pub(crate) fn arr<const N: usize>(v: Vec<u8>, what: &'static str) -> Result<[u8; N]> {
    v.try_into().map_err(|_| StoreError::Corrupt(what))
}

/// A count or index into SQLite's `INTEGER`.
pub(crate) fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

/// A count or index a caller looks up (it may come from the wire): one
/// past `i64::MAX` names no row, so the lookup finds nothing (`None`)
/// rather than calling the store corrupt (issue 16: `GET
/// /v1/log/checkpoints/9223372036854775808` answered 500).
pub(crate) fn lookup_i64(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

/// A stored integer as a `u32` (a segment index, a count).
pub(crate) fn to_u32(v: i64, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

/// A stored `INTEGER` back into a count or index.
pub(crate) fn to_u64(v: i64, what: &'static str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(what))
}
