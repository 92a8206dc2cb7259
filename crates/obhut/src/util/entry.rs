//! One audit-log entry for people (`obhut audit log`).

use obhut_client::audit::CustodyEntry;
use obhut_client::names::Names;
use obhut_core::audit::{Event, Role};
use obhut_core::request::AccessRequest;

use crate::util::time;

/// The persons' and devices' keys that act in `entries`, to ask the
/// vault's names for.
pub fn actors(entries: &[CustodyEntry]) -> Vec<[u8; 32]> {
    entries
        .iter()
        .filter_map(|e| e.entry.as_ref())
        .filter(|e| matches!(e.actor.role, Role::Person | Role::Device))
        .map(|e| e.actor.key)
        .collect()
}

/// One entry: index, local time, the entry's own line, the actor's display
/// name when `names` has one (verified, or "not verified"), and a
/// request's stated purpose.
pub fn describe(e: &CustodyEntry, names: &Names) -> String {
    let when = time::show(e.time_ms);
    let Some(entry) = &e.entry else {
        return format!("#{} {when} {} (body pruned by retention)", e.index, e.kind);
    };
    let mut line = format!("#{} {when} {entry}", e.index);
    let key = entry.actor.key;
    if names.get(&key).is_some() {
        let label = names.label(&key, &hex::encode(key));
        line.push_str(&format!("\n    {}: {label}", entry.actor.role.name()));
    }
    if let Event::AccessRequested { request } = &entry.event
        && let Ok(r) = AccessRequest::from_bytes(request)
    {
        let c = r.content();
        line.push_str(&format!(
            "\n    purpose {:?}; justification {:?}; legal basis {:?}; case {:?}; recipients {:?}",
            c.purpose, c.justification, c.legal_basis, c.case_ref, c.recipients
        ));
    }
    line
}
