//! [`TokenHolder`]: epoch wrapping keys on a PKCS#11 token (an HSM, or
//! SoftHSM2 in the tests), one AES-256 key object per epoch, generated on
//! the token, sensitive and non-extractable: the secret never leaves it.
//! Sealing and opening run `C_Encrypt`/`C_Decrypt` with AES-GCM on the
//! token; destroying an epoch is `C_DestroyObject`, after which no copy of
//! the keystore opens its sealed secret (docs/vault.md §9).

use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use obhut_core::ids::EpochId;
use obhut_core::secret::SecretBytes;

use crate::holder::{EpochKeyHolder, HolderError, epoch_aad};

const IV_LEN: usize = 12;

fn token_err(what: &str) -> impl FnOnce(cryptoki::error::Error) -> HolderError + '_ {
    move |e| HolderError::Token(format!("{what}: {e}"))
}

/// Epoch wrapping keys on a PKCS#11 token.
pub struct TokenHolder {
    // The session borrows nothing from the context in cryptoki's API but
    // needs it initialised; kept together, dropped session first.
    session: Mutex<Session>,
    _context: Pkcs11,
    token: String,
}

impl std::fmt::Debug for TokenHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHolder(token {:?})", self.token)
    }
}

impl TokenHolder {
    /// Load the PKCS#11 `module`, find the token labelled `token` and log
    /// in as its user with `pin`.
    pub fn open(module: &std::path::Path, token: &str, pin: &str) -> Result<Self, HolderError> {
        let context = Pkcs11::new(module).map_err(token_err("loading the PKCS#11 module"))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(token_err("C_Initialize"))?;
        let mut found = None;
        for slot in context
            .get_slots_with_token()
            .map_err(token_err("listing slots"))?
        {
            let info = context
                .get_token_info(slot)
                .map_err(token_err("reading a token"))?;
            if info.label().trim_end() == token {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| {
            HolderError::Token(format!(
                "no token labelled {token:?} (softhsm2-util --show-slots lists them)"
            ))
        })?;
        let session = context
            .open_rw_session(slot)
            .map_err(token_err("opening a session"))?;
        session
            .login(UserType::User, Some(&AuthPin::from(pin.to_owned())))
            .map_err(token_err("logging in"))?;
        Ok(TokenHolder {
            session: Mutex::new(session),
            _context: context,
            token: token.to_owned(),
        })
    }

    fn label(id: EpochId) -> Vec<u8> {
        format!("obhut-epoch-{id}").into_bytes()
    }

    fn find(session: &Session, id: EpochId) -> Result<Option<ObjectHandle>, HolderError> {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(Self::label(id)),
            ])
            .map_err(token_err("finding a key"))?;
        Ok(found.into_iter().next())
    }

    fn with_key<T>(
        &self,
        id: EpochId,
        f: impl FnOnce(&Session, ObjectHandle) -> Result<T, HolderError>,
    ) -> Result<T, HolderError> {
        let session = self
            .session
            .lock()
            .map_err(|_| HolderError::Token("the session lock is poisoned".into()))?;
        let key = Self::find(&session, id)?.ok_or(HolderError::Destroyed(id))?;
        f(&session, key)
    }
}

impl EpochKeyHolder for TokenHolder {
    fn create(&self, id: EpochId) -> Result<(), HolderError> {
        let session = self
            .session
            .lock()
            .map_err(|_| HolderError::Token("the session lock is poisoned".into()))?;
        if Self::find(&session, id)?.is_some() {
            return Ok(());
        }
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(Self::label(id)),
                ],
            )
            .map_err(token_err("generating a wrapping key"))?;
        Ok(())
    }

    fn seal(&self, id: EpochId, plain: &[u8]) -> Result<Vec<u8>, HolderError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv)
            .map_err(|e| HolderError::Token(format!("no OS randomness: {e}")))?;
        let aad = epoch_aad(id);
        let ct = self.with_key(id, |s, key| {
            let params =
                GcmParams::new(&mut iv, &aad, 128.into()).map_err(token_err("GCM parameters"))?;
            s.encrypt(&Mechanism::AesGcm(params), key, plain)
                .map_err(token_err("sealing on the token"))
        })?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open(&self, id: EpochId, sealed: &[u8]) -> Result<SecretBytes, HolderError> {
        let (iv, ct) = sealed
            .split_at_checked(IV_LEN)
            .ok_or_else(|| HolderError::Corrupt("a sealed epoch secret".into()))?;
        let mut iv: [u8; IV_LEN] = iv
            .try_into()
            .map_err(|_| HolderError::Corrupt("a sealed epoch secret".into()))?;
        let aad = epoch_aad(id);
        let plain = self.with_key(id, |s, key| {
            let params =
                GcmParams::new(&mut iv, &aad, 128.into()).map_err(token_err("GCM parameters"))?;
            s.decrypt(&Mechanism::AesGcm(params), key, ct)
                .map_err(|_| HolderError::Corrupt("a sealed epoch secret".into()))
        })?;
        Ok(SecretBytes::new(plain))
    }

    fn destroy(&self, id: EpochId) -> Result<bool, HolderError> {
        let session = self
            .session
            .lock()
            .map_err(|_| HolderError::Token("the session lock is poisoned".into()))?;
        match Self::find(&session, id)? {
            None => Ok(false),
            Some(key) => {
                session
                    .destroy_object(key)
                    .map_err(token_err("destroying a wrapping key"))?;
                Ok(true)
            }
        }
    }
}
