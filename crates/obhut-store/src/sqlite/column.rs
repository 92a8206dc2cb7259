//! Conversions between SQLite's column types and the rows' types; a value
//! out of range is [`StoreError::Corrupt`], never a panic.

use crate::{Result, StoreError};

/// A fixed-length byte column.
pub(super) fn arr<const N: usize>(v: Vec<u8>, what: &'static str) -> Result<[u8; N]> {
    v.try_into().map_err(|_| StoreError::Corrupt(what))
}

/// A count or index into SQLite's `INTEGER`.
pub(super) fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

/// A stored `INTEGER` back into a count or index.
pub(super) fn to_u64(v: i64, what: &'static str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(what))
}
