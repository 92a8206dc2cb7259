//! An audit-log entry for people (`obhut audit log`, the demo).

use obhut_client::audit::CustodyEntry;
use obhut_core::audit::Event;
use obhut_core::request::AccessRequest;

use super::time;

/// One line of a chain of custody.
pub fn describe(e: &CustodyEntry) -> String {
    let when = time::show(e.time_ms);
    let Some(entry) = &e.entry else {
        return format!("#{} {when} {} (body pruned by retention)", e.index, e.kind);
    };
    let mut line = format!("#{} {when} {entry}", e.index);
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
