//! Identifiers that appear in every structure. They are public values; their
//! `Display` is lowercase hex so that errors and logs can name them.

use core::fmt;

macro_rules! id16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random identifier.
            pub fn random(rng: &mut impl rand_core::CryptoRng) -> Self {
                let mut b = [0u8; 16];
                rng.fill_bytes(&mut b);
                $name(b)
            }
            /// Parse the 32-hex-digit form printed by `Display`.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut b = [0u8; 16];
                hex::decode_to_slice(s, &mut b).ok()?;
                Some($name(b))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

id16!(
    /// A recording: one capture (a bodycam file, a camera stream session),
    /// chosen at random by the device.
    RecordingId
);
id16!(
    /// A custody group (k-of-n custodians sharing one group key).
    GroupId
);
id16!(
    /// A retention epoch: one vault key pair per retention class and period.
    EpochId
);

/// SHA-256 fingerprint of a public identity or key (docs/format.md §3.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Names one segment of one recording; used in every per-segment error.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SegmentRef {
    /// The recording the segment belongs to.
    pub recording: RecordingId,
    /// Zero-based position of the segment in the recording.
    pub index: u32,
}

impl fmt::Display for SegmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "recording {} segment {}", self.recording, self.index)
    }
}
