//! Display names read straight from the vault's index, for the operator's
//! console (`obhut admin devices`, `hold list`): the same check as a
//! client's (`obhut_client::names`), since whoever can write the index can
//! write a claim there too.

use obhut_client::names::{Name, Names};
use obhut_store::IndexStore;

/// The stored claims of `keys`, checked: only a key's own signature makes
/// a name (the console knows no custody group to trust beyond that).
pub async fn read(index: &impl IndexStore, keys: &[[u8; 32]]) -> anyhow::Result<Names> {
    let mut claims = Vec::new();
    for k in keys {
        if let Some(c) = index.name(*k).await? {
            claims.push((*k, c));
        }
    }
    Ok(Names::check(
        claims.iter().map(|(k, c)| (*k, c.as_slice())),
        &[],
    ))
}

/// One tab-separated column: the verified name, "(not verified)", or "-".
pub fn column(names: &Names, key: &[u8; 32]) -> String {
    match names.get(key) {
        Some(Name::Verified(n)) => n.clone(),
        Some(Name::Unverified) => "(not verified)".to_owned(),
        None => "-".to_owned(),
    }
}
