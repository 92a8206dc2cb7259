//! Inclusion and consistency proofs from the store's tiles: the tree math
//! is obhut-log's ([`obhut_log::tile_proofs`], pure); this is the async
//! shell that names the tiles a proof needs, reads them from the
//! [`LogStore`] and hands them in.

use std::collections::HashMap;

use obhut_api::ErrorKind;
use obhut_log::tile_proofs;
use obhut_log::tiles::TileId;
use obhut_log::{Hash, ProveError};
use obhut_store::LogStore;

use crate::error::{ApiError, ApiResult};

/// A fault of the vault's own log (a missing or short tile, a stored state
/// that does not verify): logged, and answered as `internal`.
pub(super) fn internal(what: &str) -> ApiError {
    tracing::error!(what, "audit log");
    ApiError::new(ErrorKind::Internal, format!("the audit log: {what}"))
}

/// Reads the hash tiles a proof needs from the store, each cut to the width
/// the tree of the proof gives it (a partial tile grows in place; a proof
/// for an older checkpoint reads its older width).
async fn fetch_tiles<I: LogStore>(
    index: &I,
    tiles: &[TileId],
) -> ApiResult<HashMap<TileId, Vec<u8>>> {
    let mut fetched = HashMap::with_capacity(tiles.len());
    for t in tiles {
        let mut bytes = index
            .log_tile(t.level, t.index)
            .await?
            .ok_or_else(|| internal("a tile of an integrated size is missing"))?;
        let want = usize::from(t.width) * 32;
        if bytes.len() < want {
            return Err(internal(
                "a stored tile is shorter than its checkpoint says",
            ));
        }
        bytes.truncate(want);
        fetched.insert(*t, bytes);
    }
    Ok(fetched)
}

/// A tile a proof read that [`fetch_tiles`] was not asked for: the tiles
/// named by `obhut_log::tile_proofs` and those read disagree (a bug).
#[derive(Debug)]
struct NotFetched;

/// A failed proof from tiles: sizes were checked by the caller and the tiles
/// it reads were fetched, so this is the vault's fault.
fn proof_failed<E>(_: ProveError<E>) -> ApiError {
    internal("a proof asked for a node outside the tree")
}

/// RFC 9162 inclusion proof of leaf `leaf` in the tree of `size`: the tiles
/// it needs are named by [`tile_proofs::inclusion_tiles`], read from the
/// store, and handed to the pure [`tile_proofs::prove_inclusion`].
pub async fn prove_inclusion<I: LogStore>(index: &I, leaf: u64, size: u64) -> ApiResult<Vec<Hash>> {
    if leaf >= size {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("entry {leaf} is not in a tree of {size} entries"),
        ));
    }
    let needed = tile_proofs::inclusion_tiles(leaf, size).map_err(proof_failed)?;
    let tiles = fetch_tiles(index, &needed).await?;
    tile_proofs::prove_inclusion(leaf, size, |t: &TileId| {
        tiles.get(t).cloned().ok_or(NotFetched)
    })
    .map_err(proof_failed)
}

/// RFC 9162 consistency proof from `old` to `size`, as
/// [`prove_inclusion`] with [`tile_proofs::consistency_tiles`] and
/// [`tile_proofs::prove_consistency`].
pub async fn prove_consistency<I: LogStore>(
    index: &I,
    old: u64,
    size: u64,
) -> ApiResult<Vec<Hash>> {
    if old > size {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("old size {old} is larger than {size}"),
        ));
    }
    let needed = tile_proofs::consistency_tiles(old, size).map_err(proof_failed)?;
    let tiles = fetch_tiles(index, &needed).await?;
    tile_proofs::prove_consistency(old, size, |t: &TileId| {
        tiles.get(t).cloned().ok_or(NotFetched)
    })
    .map_err(proof_failed)
}
