//! `group::GroupDescriptor::from_bytes` (docs/format.md §4.1), then signature verification and pinning of whatever parsed.
//! Arbitrary bytes must not panic; whenever parsing succeeds, the canonical
//! encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_core::group::GroupDescriptor;

fuzz_target!(|data: &[u8]| {
    if let Some(d) =
        obhut_fuzz::roundtrip!(data, GroupDescriptor::from_bytes, GroupDescriptor::to_bytes)
    {
        let _ = d.group_key();
        let _ = d.verify_signatures(0);
        if let Ok(pinned) = d.pin() {
            assert!(pinned.signers().len() >= usize::from(d.threshold()));
        }
        for i in 0..=d.size().saturating_add(1) {
            assert_eq!(d.custodian(i).is_some(), (1..=d.size()).contains(&i));
            assert_eq!(
                d.verification_share(i).is_some(),
                (1..=d.size()).contains(&i)
            );
        }
    }
});
