//! Caps that bound what a hostile file can make the planner allocate or
//! loop over. Each is checked before the allocation or loop it guards.

/// Most samples one track's sample tables (or one `trun`) may declare:
/// 10 M, i.e. 92 hours of 30 fps video.
pub const MAX_SAMPLES: u64 = 10_000_000;

/// Largest `moov` or `moof` box loaded into memory (the box must also lie
/// inside the file): 256 MiB, ample for [`MAX_SAMPLES`] samples.
pub const MAX_INDEX_BOX_BYTES: u64 = 256 << 20;

/// Most top-level boxes walked (each `moof` and `mdat` counts): 2 M.
pub const MAX_TOP_LEVEL_BOXES: usize = 2_000_000;
