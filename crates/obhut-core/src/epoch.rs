//! The epoch part `b` of a segment key, wrapped to a retention-epoch key of
//! the vault (docs/format.md §3.4, §5.4, §8.5).

use crate::error::Result;
use crate::hpke_wrap::ENC_LEN;
use crate::ids::EpochId;
use crate::wire::{Reader, Writer};

/// Encoded length of an [`EpochWrap`].
pub const EPOCH_WRAP_LEN: usize = 16 + ENC_LEN + 48;

/// `b` HPKE-encrypted to a retention epoch's X-Wing key.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochWrap {
    /// The epoch whose key can unwrap `b`.
    pub epoch_id: EpochId,
    /// HPKE encapsulated key.
    pub enc: Box<[u8; ENC_LEN]>,
    /// AES-256-GCM(b) ‖ tag.
    pub ct: [u8; 48],
}

impl core::fmt::Debug for EpochWrap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EpochWrap(epoch {})", self.epoch_id)
    }
}

impl EpochWrap {
    /// Append the 1184-byte encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.bytes(&self.epoch_id.0)
            .bytes(&self.enc[..])
            .bytes(&self.ct);
    }
    /// Read the 1184-byte encoding.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let epoch_id = EpochId(r.array("epoch_id")?);
        let enc = Box::new(r.array::<ENC_LEN>("epoch_wrap.enc")?);
        let ct = r.array::<48>("epoch_wrap.ct")?;
        Ok(EpochWrap { epoch_id, enc, ct })
    }
}
