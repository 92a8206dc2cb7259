//! Write the seed corpora: `fuzz/corpus/<target>/seed-<n>`, a few valid
//! encodings per target (see `obhut_fuzz::seeds`). Deterministic: running
//! it twice writes identical files. Run from the repository root with
//! `fuzz/seed.sh` (or `cargo run --release --manifest-path
//! fuzz/Cargo.toml --example gen_seeds -- fuzz/corpus`).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/corpus").to_owned()),
    );
    for (target, seeds) in obhut_fuzz::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in seeds.iter().enumerate() {
            let path = dir.join(format!("seed-{i}"));
            std::fs::write(&path, seed)?;
            println!("{} ({} bytes)", path.display(), seed.len());
        }
    }
    Ok(())
}
