//! Display names (docs/vault.md §11, docs/format.md §3.5): the signed name
//! claims the vault serves for person and device keys. The vault serves
//! them; it does not vouch for them: clients verify each claim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most keys one `GET /v1/names` asks for.
pub const MAX_KEYS: usize = 64;

/// `GET /v1/names` query.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamesQuery {
    /// Person or device keys (hex), comma-separated.
    pub keys: String,
}

/// `GET /v1/names` answer: the stored claim of each key asked for that has
/// one; keys without a name are left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamesResponse {
    /// Key (hex) → its name claim (base64 of docs/format.md §3.5).
    pub claims: BTreeMap<String, String>,
}
