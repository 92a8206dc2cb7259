//! Loading public structures named on the command line, with errors that
//! say which flag takes what.

use std::path::Path;

use obhut_core::group::{GroupDescriptor, PinnedGroup};

use super::files;
use super::hint::fail;

/// What `--group` takes.
pub const GROUP_FILE: &str = "a group descriptor (group.obgd from `obhut custody init`)";

/// Parse a group descriptor without checking its signatures.
pub fn group(path: &Path, flag: &str) -> anyhow::Result<GroupDescriptor> {
    files::parse(path, flag, GROUP_FILE, GroupDescriptor::from_bytes)
}

/// Parse a group descriptor and pin it: it must carry valid signatures from
/// at least k of its custodians (docs/format.md §4.1).
pub fn pinned_group(path: &Path, flag: &str) -> anyhow::Result<PinnedGroup> {
    let d = group(path, flag)?;
    d.pin().map_err(|e| match e {
        obhut_core::Error::NotEnoughSignatures { needed, have } => fail(
            format!(
                "{} (given as {flag}) cannot be pinned: it carries valid signatures from {have} custodian(s), the group needs {needed}",
                path.display()
            ),
            format!(
                "each custodian signs with `obhut custody sign --group {} --identity KEY --share share-I.obse`; check with `obhut custody show --group {}`",
                path.display(),
                path.display()
            ),
        ),
        obhut_core::Error::DescriptorSignature { custodian } => fail(
            format!(
                "{} (given as {flag}) carries a signature from custodian {custodian} that does not verify: the descriptor was altered after signing",
                path.display()
            ),
            "do not use this descriptor; get the original from the custodians and compare fingerprints with `obhut custody show`",
        ),
        other => anyhow::Error::new(other)
            .context(format!("cannot pin {} (given as {flag})", path.display())),
    })
}

/// The client's refusal of a request for another group, naming `--group`.
pub fn other_group(e: obhut_client::Error) -> anyhow::Error {
    match e {
        obhut_client::Error::OtherGroup {
            request_group,
            request_generation,
            group,
            generation,
        } => fail(
            format!(
                "the request is for custody group {request_group} (generation {request_generation}), --group is {group} (generation {generation})"
            ),
            "pass the group descriptor the request names as --group",
        ),
        obhut_client::Error::Expired { expires_utc_ms } => {
            super::request::expired_at(expires_utc_ms)
        }
        other => other.into(),
    }
}
