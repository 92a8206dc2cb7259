//! The names inside a recording directory: `obhut seal` (obhut-agent)
//! writes one, and `obhut verify` (obhut-client) checks one. For each
//! segment N, `NNNNNN.seg` holds its sealed blob and `NNNNNN.rec` its
//! device-signed record; `group.obgd` is a copy of the descriptor the
//! device sealed to. Writer and readers sit side by side in the layers, so
//! the names live below both.

/// File name of segment `index`'s blob.
pub fn blob_name(index: u32) -> String {
    format!("{index:06}.seg")
}

/// File name of segment `index`'s record.
pub fn record_name(index: u32) -> String {
    format!("{index:06}.rec")
}

/// Name of the descriptor copy left in the recording directory.
pub const GROUP_COPY: &str = "group.obgd";

/// The segment index a file name stands for, if it is `<digits>.<ext>`.
pub fn index_of(name: &str, ext: &str) -> Option<u32> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_not_segments() {
        assert_eq!(blob_name(7), "000007.seg");
        assert_eq!(index_of(&record_name(123_456), "rec"), Some(123_456));
        assert_eq!(index_of(&blob_name(4_000_000), "seg"), Some(4_000_000));
        assert_eq!(index_of("7.rec", "rec"), Some(7));
        assert_eq!(index_of("99999999999.rec", "rec"), None);
        for name in [
            "x.seg",
            ".seg",
            "+1.seg",
            "12.rec",
            "1a.seg",
            "12.seg.tmp",
            "group.obgd",
        ] {
            assert_eq!(index_of(name, "seg"), None, "{name}");
        }
    }
}
