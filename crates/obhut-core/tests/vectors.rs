//! Test vectors: `docs/vectors/*.json` (docs/format.md §10,
//! docs/vectors/README.md).
//!
//! By default every file is regenerated from the seeds and inputs stored in
//! it (and, for `record.json` and `access.json`, in the files they build on),
//! every invalid case is run expecting its named error, and the result must
//! equal the stored file exactly. With `OBHUT_WRITE_VECTORS=1` the files are
//! (re)written from the inputs defined here instead; each is generated twice
//! and compared first, so that nondeterminism cannot be written down.
//!
//! Randomness comes only from [`DeterministicRng`], through [`Rec`], which
//! records every draw: each operation's draws are checked against the
//! documented order and sizes, and stored in the files so that a second
//! implementation can reproduce them.

use std::convert::Infallible;
use std::path::PathBuf;

use curve25519_dalek::constants::{EIGHT_TORSION, RISTRETTO_BASEPOINT_POINT as G};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use rand_core::TryRng;
use serde_json::{Map, Value, json};
use sha2::Digest;

use obhut_core::access::GrantKeys;
use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::chain::{verify_blob, verify_chain};
use obhut_core::decision::{Decision, DecisionContent, Verdict};
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::{EpochPublic, EpochRelease, EpochSecret, ReleaseEntry};
use obhut_core::error::{
    ChainFailure, Error, PartialFailure, PatchFailure, RefusalReason, RejectedPartial,
    RewrapFailure, SegmentFailure,
};
use obhut_core::group::{self, CustodianShare, GroupDescriptor, PinnedGroup, ShareEnvelope};
use obhut_core::hpke_wrap;
use obhut_core::identity::{DeviceSecret, PersonSecret, PublicIdentity, SignKey, VerifyKey};
use obhut_core::ids::{EpochId, GroupId, RecordingId};
use obhut_core::kem::{self, Capsule, CapsuleContext, GroupKey};
use obhut_core::labels;
use obhut_core::locked::{self, Content, KdfParams};
use obhut_core::log_pin::{LogPin, LogPinContent};
use obhut_core::meta_patch::{MetadataPatch, PatchEntry};
use obhut_core::partial::{self, PartialEnvelope};
use obhut_core::point::{hash_to_scalar, random_scalar};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope};
use obhut_core::rewrap::{EpochRewrap, REWRAP_AAD_LEN, REWRAP_LEN, RewrapReason};
use obhut_core::rng::DeterministicRng;
use obhut_core::secret::{Secret32, SecretBytes};
use obhut_core::segment::{
    self, HEADER_HASHED_LEN, HEADER_LEN, HeaderFields, KeyParts, SegmentHeader, SegmentKeys,
    SegmentKind, SegmentOpener, seal_payload,
};
use obhut_core::stream::{SEALED_CHUNK_LEN, TAG_LEN, chunk_nonce};
use obhut_core::wire::{Reader, Writer};

// ---------------------------------------------------------------------------
// Harness: check or write, structural diff.

const FORMAT: &str = "obhut format version 1, suite 0x0001 (docs/format.md)";
const GENERATOR: &str = "crates/obhut-core/tests/vectors.rs; regenerate with OBHUT_WRITE_VECTORS=1 (docs/vectors/README.md)";

/// A JSON tree that keeps the order objects were built in (outputs), with
/// `Value` leaves (inputs, read back from the stored files, and small
/// objects, whose keys serde_json keeps sorted). The workspace's serde_json
/// does not enable `preserve_order`, and a dev-dependency must not turn it
/// on for every crate of a `cargo test --workspace` build. Rendered in
/// serde_json's pretty layout by [`J::write_pretty`].
#[derive(Clone, Debug)]
enum J {
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    Val(Value),
}

impl J {
    /// serde_json's pretty layout (two-space indent), keeping object order.
    fn write_pretty(&self, out: &mut String, indent: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    out.push_str(&serde_json::to_string(k).expect("key"));
                    out.push_str(": ");
                    v.write_pretty(out, indent + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
            J::Arr(items) => {
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    v.write_pretty(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            J::Val(v) => {
                let text = serde_json::to_string_pretty(&keys_sorted(v)).expect("JSON");
                out.push_str(&text.replace('\n', &format!("\n{}", pad(indent))));
            }
        }
    }
}

/// `v` with every object's keys in sorted order: the files' canonical
/// form must not depend on whether some crate in the build turned on
/// serde_json's `preserve_order` (c2pa does), which keeps `json!`'s order.
fn keys_sorted(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), keys_sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(keys_sorted).collect()),
        other => other.clone(),
    }
}

macro_rules! j_from {
    ($($t:ty),*) => {$(
        impl From<$t> for J {
            fn from(v: $t) -> J {
                J::Val(json!(v))
            }
        }
    )*};
}
j_from!(
    &str,
    String,
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i64,
    Vec<String>,
    Vec<Value>,
    Value
);

impl From<Vec<J>> for J {
    fn from(v: Vec<J>) -> J {
        J::Arr(v)
    }
}

fn to_value(j: &J) -> Value {
    match j {
        J::Obj(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect(),
        ),
        J::Arr(items) => Value::Array(items.iter().map(to_value).collect()),
        J::Val(v) => v.clone(),
    }
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn writing() -> bool {
    std::env::var("OBHUT_WRITE_VECTORS").as_deref() == Ok("1")
}

/// The stored file, or `None` when writing (inputs then come from the
/// defaults in this file).
fn load(name: &str) -> Option<Value> {
    if writing() {
        return None;
    }
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `OBHUT_WRITE_VECTORS=1 cargo test -p obhut-core --test vectors` to create it",
            path.display()
        )
    });
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn render(v: &J) -> String {
    let mut out = String::new();
    v.write_pretty(&mut out, 0);
    out.push('\n');
    out
}

fn check_or_write(name: &str, build: impl Fn(Option<&Value>) -> J) {
    let path = vectors_dir().join(name);
    if writing() {
        let first = build(None);
        let second = build(None);
        if let Some(d) = first_difference(&to_value(&first), &to_value(&second), "$") {
            panic!("{name}: two generations differ (nondeterminism): {d}");
        }
        assert_eq!(
            render(&first),
            render(&second),
            "{name}: nondeterministic order"
        );
        std::fs::create_dir_all(vectors_dir()).expect("create docs/vectors");
        std::fs::write(&path, render(&first)).expect("write vector file");
        return;
    }
    let stored = load(name).expect("stored file");
    let regenerated = build(Some(&stored));
    if let Some(d) = first_difference(&stored, &to_value(&regenerated), "$") {
        panic!("{name}: stored vectors differ from the regenerated ones: {d}");
    }
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text == render(&regenerated),
        "{name}: content matches but the file is not in canonical form; rewrite it with OBHUT_WRITE_VECTORS=1"
    );
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 140 {
        format!("{}…({} chars)", &s[..140], s.len())
    } else {
        s
    }
}

fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    None => return Some(format!("{path}.{k}: only in the stored file")),
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}: only in the regenerated vectors"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!(
                    "{path}: {} entries stored, {} regenerated",
                    x.len(),
                    y.len()
                ));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]")))
        }
        _ => (a != b).then(|| format!("{path}: stored {} / regenerated {}", short(a), short(b))),
    }
}

/// One JSON object under construction. In check mode `stored` is the object
/// at the same place in the stored file: inputs are read from it.
struct Obj<'s> {
    map: Vec<(String, J)>,
    stored: Option<&'s Value>,
}

impl<'s> Obj<'s> {
    fn new(stored: Option<&'s Value>) -> Self {
        Obj {
            map: Vec::new(),
            stored,
        }
    }
    fn stored(&self, k: &str) -> Option<&'s Value> {
        self.stored.and_then(|s| s.get(k))
    }
    fn stored_item(&self, k: &str, i: usize) -> Option<&'s Value> {
        self.stored(k).and_then(|a| a.get(i))
    }
    /// An input: the stored value if there is one, else `default`.
    fn input(&mut self, k: &str, default: Value) -> Value {
        let v = self.stored(k).cloned().unwrap_or(default);
        self.set(k, v.clone());
        v
    }
    fn input_hex(&mut self, k: &str, default: &[u8]) -> Vec<u8> {
        let v = self.input(k, json!(hex::encode(default)));
        hex::decode(
            v.as_str()
                .unwrap_or_else(|| panic!("{k}: not a hex string")),
        )
        .unwrap_or_else(|e| panic!("{k}: {e}"))
    }
    fn input_n<const N: usize>(&mut self, k: &str, default: &[u8; N]) -> [u8; N] {
        self.input_hex(k, default)
            .try_into()
            .unwrap_or_else(|_| panic!("{k}: not {N} bytes"))
    }
    fn input_u64(&mut self, k: &str, default: u64) -> u64 {
        self.input(k, json!(default))
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: not an unsigned integer"))
    }
    fn input_i64(&mut self, k: &str, default: i64) -> i64 {
        self.input(k, json!(default))
            .as_i64()
            .unwrap_or_else(|| panic!("{k}: not an integer"))
    }
    fn input_str(&mut self, k: &str, default: &str) -> String {
        self.input(k, json!(default))
            .as_str()
            .unwrap_or_else(|| panic!("{k}: not a string"))
            .to_owned()
    }
    fn input_bool(&mut self, k: &str, default: bool) -> bool {
        self.input(k, json!(default))
            .as_bool()
            .unwrap_or_else(|| panic!("{k}: not a boolean"))
    }
    /// A computed value.
    fn set(&mut self, k: &str, v: impl Into<J>) {
        assert!(self.map.iter().all(|(e, _)| e != k), "key {k} set twice");
        self.map.push((k.to_owned(), v.into()));
    }
    fn hex(&mut self, k: &str, b: impl AsRef<[u8]>) {
        self.set(k, hex::encode(b));
    }
    fn done(self) -> J {
        J::Obj(self.map)
    }
}

fn header(name: &str, description: &[&str]) -> Vec<(String, J)> {
    vec![
        ("file".into(), name.into()),
        ("format".into(), FORMAT.into()),
        ("description".into(), J::Val(json!(description))),
        ("generated_by".into(), GENERATOR.into()),
    ]
}

fn with_header(head: Vec<(String, J)>, body: J) -> J {
    let mut m = head;
    match body {
        J::Obj(b) => m.extend(b),
        other => panic!("not an object: {other:?}"),
    }
    J::Obj(m)
}

fn obj(fields: Vec<(&str, J)>) -> J {
    J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

// ---------------------------------------------------------------------------
// Randomness: a recording wrapper around DeterministicRng.

/// [`DeterministicRng`] that records every draw, so that the order and size
/// of draws can be checked against the documentation and written down.
struct Rec {
    rng: DeterministicRng,
    draws: Vec<Vec<u8>>,
}

impl Rec {
    fn new(seed: [u8; 32]) -> Self {
        Rec {
            rng: DeterministicRng::new(seed),
            draws: Vec::new(),
        }
    }
}

impl rand_core::TryRng for Rec {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("next_u32 was drawn: document it in docs/vectors/README.md and here")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("next_u64 was drawn: document it in docs/vectors/README.md and here")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.rng.try_fill_bytes(dst)?;
        self.draws.push(dst.to_vec());
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Rec {}

/// Check that `rec` saw exactly the documented draws (labels and sizes, in
/// order) and return them as JSON.
fn draws(rec: &Rec, expected: &[(String, usize)]) -> J {
    let got: Vec<usize> = rec.draws.iter().map(Vec::len).collect();
    let want: Vec<usize> = expected.iter().map(|e| e.1).collect();
    assert_eq!(
        got, want,
        "random draws differ from the documented order {expected:?}"
    );
    J::Arr(
        expected
            .iter()
            .zip(&rec.draws)
            .map(|((what, len), bytes)| {
                obj(vec![
                    ("for", what.as_str().into()),
                    ("len", (*len).into()),
                    ("hex", hex::encode(bytes).into()),
                ])
            })
            .collect(),
    )
}

fn d(what: &str, len: usize) -> (String, usize) {
    (what.to_owned(), len)
}

/// The scalar `random_scalar` made from a 64-byte draw.
fn wide_scalar(draw: &[u8]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(draw.try_into().expect("64-byte draw"))
}

// ---------------------------------------------------------------------------
// Small helpers.

fn pt(p: &RistrettoPoint) -> String {
    hex::encode(p.compress().as_bytes())
}

fn sc(s: &Scalar) -> String {
    hex::encode(s.as_bytes())
}

fn scalar_from(bytes: &[u8]) -> Scalar {
    Option::from(Scalar::from_canonical_bytes(
        bytes.try_into().expect("32-byte scalar"),
    ))
    .expect("canonical scalar")
}

fn point_from(bytes: &[u8]) -> RistrettoPoint {
    CompressedRistretto::from_slice(bytes)
        .expect("32 bytes")
        .decompress()
        .expect("valid point")
}

/// `n` bytes, byte i = i mod 251 (every plaintext in these vectors).
fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// 32 little-endian bytes of `s + l` (a non-canonical encoding of `s`).
/// A signature that a lax Ed25519 verifier accepts without knowing the
/// nonce: R = `r_bytes` (a small-order point, possibly written
/// non-canonically), S = k·a with k = SHA-512(R ‖ A ‖ M) and a the
/// signer's secret scalar. Then S·B − k·A is the identity, which equals R
/// (cofactorless, R the identity) or 8·R (cofactored). `verify_strict`
/// refuses each: R has small order, or is not canonical.
fn small_order_r_signature(key: &SignKey, message: &[u8], r_bytes: &[u8; 32]) -> [u8; 64] {
    let h: [u8; 64] = sha2::Sha512::digest(key.seed().expose()).into();
    let mut a_bytes = [0u8; 32];
    a_bytes.copy_from_slice(&h[..32]);
    a_bytes[0] &= 248;
    a_bytes[31] &= 127;
    a_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a_bytes);
    let public = key.verify_key().to_bytes();
    let k = Scalar::from_hash(
        sha2::Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public)
            .chain_update(message),
    );
    let s = k * a;
    let big_a = CompressedEdwardsY(public).decompress().expect("A");
    let r = CompressedEdwardsY(*r_bytes)
        .decompress()
        .expect("R decodes");
    assert!(r.is_small_order());
    let lhs = curve25519_dalek::edwards::EdwardsPoint::mul_base(&s);
    assert_eq!(
        lhs.mul_by_cofactor(),
        (r + k * big_a).mul_by_cofactor(),
        "cofactored equation"
    );
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r_bytes);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

fn plus_l(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let t = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = t as u8;
        carry = t >> 8;
    }
    assert_eq!(carry, 0);
    out
}

// ---------------------------------------------------------------------------
// Mutations: how invalid cases are derived from valid bytes.

fn op_xor(offset: usize, mask: &[u8]) -> Value {
    json!({"op": "xor", "offset": offset, "hex": hex::encode(mask)})
}
fn op_replace(offset: usize, bytes: &[u8]) -> Value {
    json!({"op": "replace", "offset": offset, "hex": hex::encode(bytes)})
}
fn op_truncate(length: usize) -> Value {
    json!({"op": "truncate", "length": length})
}
fn op_append(bytes: &[u8]) -> Value {
    json!({"op": "append", "hex": hex::encode(bytes)})
}
fn op_swap(a: usize, b: usize, length: usize) -> Value {
    json!({"op": "swap", "offset_a": a, "offset_b": b, "length": length})
}

/// Apply a list of mutation operations (README: "Mutations").
fn mutate(base: &[u8], ops: &Value) -> Vec<u8> {
    let mut out = base.to_vec();
    let usize_of = |o: &Value, k: &str| o[k].as_u64().unwrap_or_else(|| panic!("{k}")) as usize;
    let hex_of = |o: &Value| hex::decode(o["hex"].as_str().expect("hex")).expect("hex");
    for op in ops.as_array().expect("list of operations") {
        match op["op"].as_str().expect("op") {
            "xor" => {
                let at = usize_of(op, "offset");
                for (i, m) in hex_of(op).iter().enumerate() {
                    out[at + i] ^= m;
                }
            }
            "replace" => {
                let at = usize_of(op, "offset");
                let b = hex_of(op);
                out[at..at + b.len()].copy_from_slice(&b);
            }
            "truncate" => out.truncate(usize_of(op, "length")),
            "append" => out.extend_from_slice(&hex_of(op)),
            "swap" => {
                let (a, b, n) = (
                    usize_of(op, "offset_a"),
                    usize_of(op, "offset_b"),
                    usize_of(op, "length"),
                );
                assert!(a + n <= b, "swap ranges must not overlap");
                let first = out[a..a + n].to_vec();
                out.copy_within(b..b + n, a);
                out[b..b + n].copy_from_slice(&first);
            }
            other => panic!("unknown mutation {other}"),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Errors, named as in docs/vectors/README.md.

fn err_json(e: &Error) -> J {
    let mut f: Vec<(&str, Value)> = Vec::new();
    let name: String = match e {
        Error::Truncated { field, .. } => {
            f.push(("field", json!(field)));
            "Truncated".into()
        }
        Error::TrailingBytes { count, .. } => {
            f.push(("count", json!(count)));
            "TrailingBytes".into()
        }
        Error::BadMagic { .. } => "BadMagic".into(),
        Error::UnsupportedVersion { found, .. } => {
            f.push(("found", json!(found)));
            "UnsupportedVersion".into()
        }
        Error::UnsupportedSuite { found, .. } => {
            f.push(("found", json!(found)));
            "UnsupportedSuite".into()
        }
        Error::FieldTooLong {
            field, len, max, ..
        } => {
            f.push(("field", json!(field)));
            f.push(("len", json!(len)));
            f.push(("max", json!(max)));
            "FieldTooLong".into()
        }
        Error::Malformed { .. } => "Malformed".into(),
        Error::InvalidPoint { field, .. } => {
            f.push(("field", json!(field)));
            "InvalidPoint".into()
        }
        Error::InvalidScalar { field, .. } => {
            f.push(("field", json!(field)));
            "InvalidScalar".into()
        }
        Error::InvalidSigningKey { field, .. } => {
            f.push(("field", json!(field)));
            "InvalidSigningKey".into()
        }
        Error::InvalidKemKey { field, .. } => {
            f.push(("field", json!(field)));
            "InvalidKemKey".into()
        }
        Error::BadSignature { .. } => "BadSignature".into(),
        Error::DecryptionFailed { .. } => "DecryptionFailed".into(),
        Error::WrongPassphrase => "WrongPassphrase".into(),
        Error::WeakKdfParameters { .. } => "WeakKdfParameters".into(),
        Error::Segment { segment, failure } => {
            f.push(("segment_index", json!(segment.index)));
            let n = match failure {
                SegmentFailure::KeyCommitment => "KeyCommitment",
                SegmentFailure::ChunkAuthentication { chunk } => {
                    f.push(("chunk", json!(chunk)));
                    "ChunkAuthentication"
                }
                SegmentFailure::Truncated { chunks_read } => {
                    f.push(("chunks_read", json!(chunks_read)));
                    "Truncated"
                }
                SegmentFailure::TrailingData => "TrailingData",
                SegmentFailure::HashMismatch => "HashMismatch",
                SegmentFailure::LengthMismatch {
                    expected, found, ..
                } => {
                    f.push(("expected", json!(expected)));
                    f.push(("found", json!(found)));
                    "LengthMismatch"
                }
                SegmentFailure::HeaderMismatch => "HeaderMismatch",
                SegmentFailure::BadSignature => "BadSignature",
                SegmentFailure::BadKemProof => "BadKemProof",
                SegmentFailure::Misplaced(_) => "Misplaced",
                SegmentFailure::NoKey => "NoKey",
                SegmentFailure::TooFewShares { needed, have } => {
                    f.push(("needed", json!(needed)));
                    f.push(("have", json!(have)));
                    "TooFewShares"
                }
                other => panic!("unmapped segment failure {other:?}"),
            };
            format!("Segment.{n}")
        }
        Error::Chain(c) => {
            let n = match c {
                ChainFailure::Empty => "Empty",
                ChainFailure::Foreign(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "Foreign"
                }
                ChainFailure::Missing { missing } => {
                    f.push(("missing", json!(missing)));
                    "Missing"
                }
                ChainFailure::Duplicate(i) => {
                    f.push(("segment_index", json!(i)));
                    "Duplicate"
                }
                ChainFailure::OutOfOrder { position, found } => {
                    f.push(("position", json!(position)));
                    f.push(("found", json!(found)));
                    "OutOfOrder"
                }
                ChainFailure::BrokenLink(i) => {
                    f.push(("segment_index", json!(i)));
                    "BrokenLink"
                }
                ChainFailure::FinalFlag(i) => {
                    f.push(("segment_index", json!(i)));
                    "FinalFlag"
                }
                ChainFailure::NotFinal { last } => {
                    f.push(("last", json!(last)));
                    "NotFinal"
                }
                other => panic!("unmapped chain failure {other:?}"),
            };
            format!("Chain.{n}")
        }
        Error::NotEnoughPartials {
            needed,
            have,
            rejected,
        } => {
            f.push(("needed", json!(needed)));
            f.push(("have", json!(have)));
            f.push(("rejected", rejected_json(rejected)));
            "NotEnoughPartials".into()
        }
        Error::Refused(r) => {
            let n = match r {
                RefusalReason::UnsignedRecord(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "UnsignedRecord"
                }
                RefusalReason::UnprovenR(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "UnprovenR"
                }
                RefusalReason::OtherGroup(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "OtherGroup"
                }
                RefusalReason::OutOfScope(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "OutOfScope"
                }
                RefusalReason::BadRequestSignature => "BadRequestSignature",
                RefusalReason::Expired => "Expired",
                RefusalReason::WrongShare(i) => {
                    f.push(("custodian", json!(i)));
                    "WrongShare"
                }
                RefusalReason::RequestForOtherGroup => "RequestForOtherGroup",
                RefusalReason::GrantMismatch => "GrantMismatch",
                RefusalReason::BatchSize(n) => {
                    f.push(("count", json!(n)));
                    "BatchSize"
                }
                RefusalReason::DuplicateSegment(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "DuplicateSegment"
                }
                RefusalReason::MissingRun(s) => {
                    f.push(("segment_index", json!(s.index)));
                    "MissingRun"
                }
                other => panic!("unmapped refusal {other:?}"),
            };
            format!("Refused.{n}")
        }
        Error::Custody(_) => "Custody".into(),
        Error::DescriptorSignature { custodian } => {
            f.push(("custodian", json!(custodian)));
            "DescriptorSignature".into()
        }
        Error::NotEnoughSignatures { needed, have } => {
            f.push(("needed", json!(needed)));
            f.push(("have", json!(have)));
            "NotEnoughSignatures".into()
        }
        Error::Rewrap(failure) => {
            let n = match failure {
                RewrapFailure::WrongSegment { rewrap, header } => {
                    f.push(("segment_index", json!(rewrap.index)));
                    f.push(("header_segment_index", json!(header.index)));
                    "WrongSegment"
                }
                RewrapFailure::HeaderMismatch => "HeaderMismatch",
                RewrapFailure::WrongEpoch => "WrongEpoch",
                other => panic!("unmapped re-wrap failure {other:?}"),
            };
            format!("Rewrap.{n}")
        }
        Error::Patch(failure) => {
            let n = match failure {
                PatchFailure::OutOfBounds {
                    entry,
                    offset,
                    len,
                    file_len,
                } => {
                    f.push(("entry", json!(entry)));
                    f.push(("offset", json!(offset)));
                    f.push(("len", json!(len)));
                    f.push(("file_len", json!(file_len)));
                    "OutOfBounds"
                }
                PatchFailure::Overlap {
                    entry,
                    offset,
                    previous_end,
                } => {
                    f.push(("entry", json!(entry)));
                    f.push(("offset", json!(offset)));
                    f.push(("previous_end", json!(previous_end)));
                    "Overlap"
                }
                PatchFailure::LengthMismatch { expected, found } => {
                    f.push(("expected", json!(expected)));
                    f.push(("found", json!(found)));
                    "LengthMismatch"
                }
                other => panic!("unmapped patch failure {other:?}"),
            };
            format!("Patch.{n}")
        }
        other => panic!("unmapped error {other:?}"),
    };
    let mut m = vec![("error".to_owned(), J::from(name))];
    m.extend(f.into_iter().map(|(k, v)| (k.to_owned(), J::Val(v))));
    J::Obj(m)
}

fn partial_failure_name(failure: &PartialFailure) -> &'static str {
    match failure {
        PartialFailure::BadProof => "BadProof",
        PartialFailure::WrongGrant => "WrongGrant",
        PartialFailure::WrongRequester => "WrongRequester",
        PartialFailure::WrongSegments => "WrongSegments",
        PartialFailure::UnknownCustodian => "UnknownCustodian",
        PartialFailure::Duplicate => "Duplicate",
        PartialFailure::BadSignature => "BadSignature",
        PartialFailure::Undecryptable => "Undecryptable",
        PartialFailure::Malformed(_) => "Malformed",
        PartialFailure::BadShare(_) => "BadShare",
        other => panic!("unmapped partial failure {other:?}"),
    }
}

/// The partials a combine did not use (§8.4), in the order given.
fn rejected_json(rejected: &[RejectedPartial]) -> Value {
    Value::Array(
        rejected
            .iter()
            .map(|r| {
                json!({
                    "custodian": r.custodian,
                    "fingerprint": r.fingerprint.map(|f| hex::encode(f.0)),
                    "signed": r.signed,
                    "failure": format!("Partial.{}", partial_failure_name(&r.failure)),
                })
            })
            .collect(),
    )
}

/// The expected error of an invalid case: `r` must fail with `name`.
fn expect_err<T>(r: obhut_core::Result<T>, name: &str, case: &str) -> J {
    match r {
        Ok(_) => panic!("{case}: expected {name}, but it succeeded"),
        Err(e) => {
            let j = err_json(&e);
            assert_eq!(
                to_value(&j)["error"],
                json!(name),
                "{case}: wrong error {e:?}"
            );
            j
        }
    }
}

// ---------------------------------------------------------------------------
// Inputs shared by several files (defaults; the files are the authority in
// check mode).

/// "Now" of the access scenario, and the capture time base (UTC ms).
const T0: i64 = 1_790_000_000_000;

const PERSONS: &[(&str, u8)] = &[
    ("custodian 1", 0x11),
    ("custodian 2", 0x12),
    ("custodian 3", 0x13),
    ("requester", 0x21),
];
const DEVICE: (&str, u8) = ("bodycam-0042", 0x31);

fn seed_of(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn person(name: &str, seed: [u8; 32]) -> PersonSecret {
    PersonSecret::generate(name, &mut DeterministicRng::new(seed))
}

fn device_secret(name: &str, seed: [u8; 32]) -> DeviceSecret {
    DeviceSecret::generate(name, &mut DeterministicRng::new(seed))
}

// ---------------------------------------------------------------------------
// rng.json

fn build_rng(stored: Option<&Value>) -> J {
    let head = header(
        "rng.json",
        &[
            "The deterministic RNG every other file draws from (obhut_core::rng::DeterministicRng, feature test-util).",
            "block_i = SHA-256(\"obhut/test-rng\" || 0x00 || seed (32 bytes) || i as u64 big-endian), i = 0, 1, 2, ...; the stream is block_0 || block_1 || ...",
            "Every draw (fill_bytes) takes the next bytes of the stream; a block's leftover bytes are used by the next draw. Each operation in these files starts a fresh stream from its own seed.",
            "Check an implementation's RNG here first: for each seed, the first bytes of the stream and the SHA-256 input of block 0.",
        ],
    );
    let mut o = Obj::new(stored);
    let mut cases = Vec::new();
    for (i, seed_byte) in [0x00u8, 0x11, 0x51].into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("cases", i));
        let seed = c.input_n("seed", &seed_of(seed_byte));
        let mut block0_input = b"obhut/test-rng\0".to_vec();
        block0_input.extend_from_slice(&seed);
        block0_input.extend_from_slice(&0u64.to_be_bytes());
        c.hex("block_0_sha256_input", &block0_input);
        let mut rng = DeterministicRng::new(seed);
        let mut stream = [0u8; 100];
        rng.try_fill_bytes(&mut stream).expect("infallible");
        assert_eq!(stream[..32], sha2::Sha256::digest(&block0_input)[..]);
        c.hex("first_100_bytes", stream);
        // Split draws consume the same stream.
        let mut rng = DeterministicRng::new(seed);
        let (mut a, mut b) = ([0u8; 16], [0u8; 84]);
        rng.try_fill_bytes(&mut a).expect("infallible");
        rng.try_fill_bytes(&mut b).expect("infallible");
        assert_eq!([&a[..], &b[..]].concat(), stream);
        cases.push(c.done());
    }
    o.set("cases", cases);
    with_header(head, o.done())
}

// ---------------------------------------------------------------------------
// identity.json

fn build_identity(stored: Option<&Value>) -> J {
    let head = header(
        "identity.json",
        &[
            "Person identities (§3.1) and device keys (§3.2) from seeds: Ed25519 keys, X-Wing keys, fingerprints, encodings.",
            "PersonSecret::generate draws sign_seed (32) then kem_seed (32); DeviceSecret::generate draws sign_seed (32). The Ed25519 key is the RFC 8032 key of sign_seed; the X-Wing key is the draft-connolly-cfrg-xwing-kem-06 key of the 32-byte kem_seed.",
            "fingerprint = SHA-256(\"obhut/v1/fingerprint\" || 0x00 || sign_key || kem_key).",
            "signatures: Ed25519 over label || 0x00 || body (§1.3); invalid_signatures must all fail verify_strict-style verification with BadSignature.",
            "weak_sign_keys: Ed25519 public keys that must be refused (InvalidSigningKey) wherever a key is read: small-order points in every encoding that decodes, non-canonical encodings (y ≥ p), and encodings that are not points.",
            "invalid_public_identities: mutations of persons[0].public_identity; parsing must fail with the named error.",
        ],
    );
    let mut o = Obj::new(stored);

    let mut persons = Vec::new();
    let mut first: Option<PersonSecret> = None;
    for (i, (name, seed_byte)) in PERSONS.iter().enumerate() {
        let mut c = Obj::new(o.stored_item("persons", i));
        let name = c.input_str("name", name);
        let seed = c.input_n("seed", &seed_of(*seed_byte));
        let mut rec = Rec::new(seed);
        let p = PersonSecret::generate(&name, &mut rec);
        c.set(
            "rng_draws",
            draws(&rec, &[d("sign_seed", 32), d("kem_seed", 32)]),
        );
        assert_eq!(p.sign.seed().expose()[..], rec.draws[0][..]);
        assert_eq!(p.kem.seed().expose()[..], rec.draws[1][..]);
        let public = p.public();
        c.hex("sign_key", public.sign_key.to_bytes());
        c.hex("kem_key", public.kem_key.as_bytes());
        c.hex("fingerprint", public.fingerprint().0);
        let expected_fpr = labels::digest(
            b"obhut/v1/fingerprint",
            &[&public.sign_key.to_bytes(), public.kem_key.as_bytes()],
        );
        assert_eq!(public.fingerprint().0, expected_fpr);
        c.hex("public_identity", public.to_bytes());
        c.hex("person_secret", p.to_secret_bytes().expose());
        assert_eq!(
            PublicIdentity::from_bytes(&public.to_bytes()).unwrap(),
            public
        );
        persons.push(c.done());
        first.get_or_insert(p);
    }
    o.set("persons", persons);
    let alice = first.expect("at least one person");

    let mut devices = Vec::new();
    {
        let mut c = Obj::new(o.stored_item("devices", 0));
        let name = c.input_str("name", DEVICE.0);
        let seed = c.input_n("seed", &seed_of(DEVICE.1));
        let mut rec = Rec::new(seed);
        let dev = DeviceSecret::generate(&name, &mut rec);
        c.set("rng_draws", draws(&rec, &[d("sign_seed", 32)]));
        c.hex("sign_key", dev.public().sign_key.to_bytes());
        c.hex("device_public", dev.public().to_bytes());
        c.hex("device_secret", dev.to_secret_bytes().expose());
        devices.push(c.done());
    }
    o.set("devices", devices);

    // A signature over a labelled message, and ways to break it.
    let mut s = Obj::new(o.stored_item("signatures", 0));
    s.set("signer", "persons[0]");
    let label = s.input_str("label", "obhut/v1/access-request");
    let body = s.input_hex("body", b"an example body");
    let message = labels::signed_message(label.as_bytes(), &body);
    s.hex("message", &message);
    let sig = alice.sign.sign(label.as_bytes(), &body);
    s.hex("signature", sig);
    let vk = alice.sign.verify_key();
    vk.verify(label.as_bytes(), &body, &sig, "t")
        .expect("valid signature");
    o.set("signatures", vec![s.done()]);

    let mut bad = Vec::new();
    #[allow(clippy::type_complexity)]
    let variants: Vec<(&str, Vec<u8>, Vec<u8>, [u8; 64])> = {
        let mut r = sig;
        r[0] ^= 0x01;
        let mut s_bit = sig;
        s_bit[32] ^= 0x01;
        let mut s_l = sig;
        s_l[32..].copy_from_slice(&plus_l(&sig[32..]));
        let mut body2 = body.clone();
        body2.push(0);
        vec![
            ("R bit flipped", label.clone().into_bytes(), body.clone(), r),
            (
                "S bit flipped",
                label.clone().into_bytes(),
                body.clone(),
                s_bit,
            ),
            (
                "S + l (non-canonical S, a malleated signature)",
                label.clone().into_bytes(),
                body.clone(),
                s_l,
            ),
            (
                "other label",
                b"obhut/v1/partial".to_vec(),
                body.clone(),
                sig,
            ),
            (
                "body with one more byte",
                label.clone().into_bytes(),
                body2,
                sig,
            ),
            (
                "small-order R: the identity (canonical 01 00 … 00), S = k·a; the cofactorless equation S·B = R + k·A holds",
                label.clone().into_bytes(),
                body.clone(),
                small_order_r_signature(&alice.sign, &message, &EIGHT_TORSION[0].compress().0),
            ),
            (
                "small-order R: a point of order 8, S = k·a; the cofactored equation 8·S·B = 8·R + 8·k·A holds",
                label.clone().into_bytes(),
                body.clone(),
                small_order_r_signature(&alice.sign, &message, &EIGHT_TORSION[1].compress().0),
            ),
            (
                "small-order R written non-canonically: the identity as y = 1 + p (ee ff … ff 7f), S = k·a",
                label.clone().into_bytes(),
                body.clone(),
                small_order_r_signature(&alice.sign, &message, &{
                    let mut r = [0xffu8; 32];
                    r[0] = 0xee;
                    r[31] = 0x7f;
                    r
                }),
            ),
            (
                "S = l (non-canonical zero)",
                label.clone().into_bytes(),
                body.clone(),
                {
                    let mut s_eq_l = sig;
                    s_eq_l[32..].copy_from_slice(&plus_l(&[0u8; 32]));
                    s_eq_l
                },
            ),
        ]
    };
    for (i, (name, l, b, sg)) in variants.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_signatures", i));
        c.set("name", name);
        c.set("sign_key", "persons[0].sign_key");
        let l = c.input_str("label", std::str::from_utf8(&l).unwrap());
        let b = c.input_hex("body", &b);
        let sg: [u8; 64] = c.input_n("signature", &sg);
        c.set(
            "expected",
            expect_err(
                vk.verify(l.as_bytes(), &b, &sg, "signature"),
                "BadSignature",
                name,
            ),
        );
        bad.push(c.done());
    }
    o.set("invalid_signatures", bad);

    // Weak Ed25519 keys: small order in every encoding that decodes, and
    // encodings that are not points.
    let mut weak: Vec<(String, [u8; 32])> = Vec::new();
    let order = |p: &curve25519_dalek::edwards::EdwardsPoint| {
        [1u32, 2, 4, 8]
            .into_iter()
            .find(|k| (Scalar::from(*k) * p).is_identity())
            .expect("torsion")
    };
    for t in EIGHT_TORSION.iter() {
        let enc = t.compress().to_bytes();
        weak.push((format!("small order {}: canonical encoding", order(t)), enc));
    }
    // x = 0 (y = 1 and y = -1): the sign bit set is a non-canonical encoding
    // of the same point (RFC 8032 §5.1.3 step 4 rejects it).
    for t in EIGHT_TORSION.iter() {
        let mut flipped = t.compress().to_bytes();
        flipped[31] ^= 0x80;
        if !weak.iter().any(|(_, w)| *w == flipped) {
            assert!(CompressedEdwardsY(flipped).decompress().is_some());
            weak.push((
                format!("small order {}: x = 0 with the sign bit set", order(t)),
                flipped,
            ));
        }
    }
    for y in [0u8, 1] {
        for sign in [0u8, 0x80] {
            let mut enc = [0xffu8; 32];
            enc[0] = 0xed + y;
            enc[31] = 0x7f | sign;
            let p = CompressedEdwardsY(enc).decompress().expect("decodes");
            let name = format!(
                "small order {}: non-canonical y = {y} + p{}",
                order(&p),
                if sign == 0 { "" } else { ", sign bit set" }
            );
            if !weak.iter().any(|(_, w)| *w == enc) {
                weak.push((name, enc));
            }
        }
    }
    // y = 3 + p: a point that is not of small order, written
    // non-canonically. RFC 8032 §5.1.3 decoding refuses it, and so do we.
    let mut y3 = [0xffu8; 32];
    y3[0] = 0xed + 3;
    y3[31] = 0x7f;
    let p = CompressedEdwardsY(y3).decompress().expect("decodes");
    assert!(!p.is_small_order());
    assert_ne!(p.compress().to_bytes(), y3, "non-canonical");
    weak.push(("non-canonical y = 3 + p (not of small order)".into(), y3));
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2; // y = 2: x^2 = (y^2 - 1)/(d y^2 + 1) is not a square
    assert!(CompressedEdwardsY(not_a_point).decompress().is_none());
    weak.push(("not a point (y = 2)".into(), not_a_point));
    let mut weak_json = Vec::new();
    for (i, (name, enc)) in weak.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("weak_sign_keys", i));
        c.set("name", name.clone());
        let k: [u8; 32] = c.input_n("key", &enc);
        c.set(
            "expected",
            expect_err(
                VerifyKey::from_bytes(&k, "public identity", "sign_key"),
                "InvalidSigningKey",
                &name,
            ),
        );
        weak_json.push(c.done());
    }
    o.set("weak_sign_keys", weak_json);

    // Structural errors of a PublicIdentity.
    let id = alice.public().to_bytes();
    let name_len = alice.name.len();
    let sign_at = 7 + 4 + name_len;
    let kem_at = sign_at + 32;
    let all_ff = [0xffu8; 384];
    let cases: Vec<(&str, Value, &str)> = vec![
        ("wrong magic", json!([op_xor(0, &[0x01])]), "BadMagic"),
        (
            "version 2",
            json!([op_replace(4, &[2])]),
            "UnsupportedVersion",
        ),
        (
            "suite 0x0002",
            json!([op_replace(5, &[0, 2])]),
            "UnsupportedSuite",
        ),
        (
            "one trailing byte",
            json!([op_append(&[0])]),
            "TrailingBytes",
        ),
        (
            "last byte missing",
            json!([op_truncate(id.len() - 1)]),
            "Truncated",
        ),
        (
            "name length 129 (bound 128)",
            json!([op_replace(7, &129u32.to_be_bytes())]),
            "FieldTooLong",
        ),
        (
            "sign_key is the identity point (weak)",
            json!([op_replace(sign_at, &{
                let mut k = [0u8; 32];
                k[0] = 1;
                k
            })]),
            "InvalidSigningKey",
        ),
        (
            "kem_key: ML-KEM coefficients not reduced mod q",
            json!([op_replace(kem_at, &all_ff)]),
            "InvalidKemKey",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (name, ops, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_public_identities", i));
        c.set("name", name);
        c.set("base", "persons[0].public_identity");
        let ops = c.input("mutations", ops);
        let bytes = mutate(&id, &ops);
        c.set(
            "expected",
            expect_err(PublicIdentity::from_bytes(&bytes), err, name),
        );
        inv.push(c.done());
    }
    o.set("invalid_public_identities", inv);

    with_header(head, o.done())
}

// ---------------------------------------------------------------------------
// kem.json

/// RFC 9496 Appendix A.2 invalid encodings, plus the identity.
const BAD_RISTRETTO: &[(&str, &str)] = &[
    (
        "identity (valid encoding, refused by §1.4)",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "non-canonical field encoding",
        "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        "non-canonical field encoding",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "non-canonical field encoding",
        "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "non-canonical field encoding",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "negative field element",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "negative field element",
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "negative field element",
        "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
    ),
    (
        "negative field element",
        "c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
    ),
    (
        "negative field element",
        "c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
    ),
    (
        "negative field element",
        "47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
    ),
    (
        "negative field element",
        "f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
    ),
    (
        "negative field element",
        "87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
    ),
    (
        "non-square x^2",
        "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    ),
    (
        "non-square x^2",
        "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
    ),
    (
        "non-square x^2",
        "de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
    ),
    (
        "non-square x^2",
        "bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
    ),
    (
        "non-square x^2",
        "2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
    ),
    (
        "non-square x^2",
        "f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
    ),
    (
        "non-square x^2",
        "8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
    ),
    (
        "non-square x^2",
        "2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
    ),
    (
        "negative xy value",
        "3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
    ),
    (
        "negative xy value",
        "a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
    ),
    (
        "negative xy value",
        "d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
    ),
    (
        "negative xy value",
        "8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
    ),
    (
        "negative xy value",
        "32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
    ),
    (
        "negative xy value",
        "227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
    ),
    (
        "negative xy value",
        "5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
    ),
    (
        "negative xy value",
        "445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
    ),
    (
        "s = -1, which causes y = 0",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
];

fn capsule_bytes(c: &Capsule) -> Vec<u8> {
    let mut w = Writer::new();
    c.encode(&mut w);
    w.into_vec()
}

fn parse_capsule(b: &[u8]) -> obhut_core::Result<Capsule> {
    let mut r = Reader::new("capsule", b);
    let c = Capsule::read(&mut r)?;
    r.finish()?;
    Ok(c)
}

/// The SHA-512 input of the TDH2 challenge (§5.3).
fn validity_challenge_input(
    group: &GroupKey,
    ctx: &CapsuleContext,
    r: &[u8],
    u_bar: &[u8],
    a: &RistrettoPoint,
    a_bar: &RistrettoPoint,
) -> Vec<u8> {
    [
        labels::KEM_VALIDITY_PROOF,
        &[0u8],
        &labels::SUITE_V1.to_be_bytes(),
        &group.group_id.0,
        &group.generation.to_be_bytes(),
        group.key.compress().as_bytes(),
        &ctx.recording_id.0,
        &ctx.device_key,
        &ctx.segment_index.to_be_bytes(),
        &[ctx.kind],
        &ctx.media_start_ms.to_be_bytes(),
        &ctx.media_end_ms.to_be_bytes(),
        &ctx.capture_utc_ms.to_be_bytes(),
        r,
        u_bar,
        a.compress().as_bytes(),
        a_bar.compress().as_bytes(),
    ]
    .concat()
}

fn build_kem(stored: Option<&Value>) -> J {
    let head = header(
        "kem.json",
        &[
            "The custody part a of a segment key (§5.2) and the TDH2 validity proof (§5.3).",
            "kem::encapsulate draws r (64 bytes, little-endian integer reduced mod l, redrawn if zero) then w (64 bytes, likewise). R = r·G, Ū = r·Ḡ, A = w·G, Ā = w·Ḡ, c = Scalar(SHA-512(challenge_input)), z = w + c·r.",
            "a = HKDF-SHA256(salt = empty, ikm = r·P || R || P || group_id || generation u32, info = \"obhut/v1/kem\", 32); a_ikm is that ikm. A requester recovers r·P as s·R (here s is given so it can be checked).",
            "Capsule (148 bytes) = group_id || generation u32 || R || Ū || c || z.",
            "invalid_capsules: mutations of a case's capsule, and/or a changed context; the procedure is parse (points canonical and not the identity, scalars canonical) then verify the proof against the group key and context.",
            "invalid_point_encodings: every one must be refused as a point anywhere a point is read (InvalidPoint); the check places it in R of cases[0].capsule.",
        ],
    );
    let mut o = Obj::new(stored);
    let mut gb = Obj::new(o.stored("generator_bar"));
    gb.set(
        "input",
        std::str::from_utf8(labels::KEM_GENERATOR_BAR).unwrap(),
    );
    let wide = sha2::Sha512::digest(labels::KEM_GENERATOR_BAR);
    gb.hex("sha512", wide);
    gb.set(
        "map",
        "RFC 9496 §4.3.4 one-way map (element derivation from 64 uniform bytes)",
    );
    gb.set("point", pt(kem::generator_bar()));
    assert_eq!(
        RistrettoPoint::from_uniform_bytes(&wide.into()),
        *kem::generator_bar()
    );
    o.set("generator_bar", gb.done());

    let dev_key = device_secret(DEVICE.0, seed_of(DEVICE.1))
        .public()
        .sign_key
        .to_bytes();
    #[allow(clippy::type_complexity)]
    let defaults: [(u8, [u8; 16], u32, [u8; 16], u32, u8, u8); 2] = [
        (0x01, [0xa1; 16], 1, [0xb1; 16], 0, 0, 0xc1),
        (0x02, [0xa2; 16], 7, [0xb2; 16], 41, 2, 0xc2),
    ];
    let mut cases = Vec::new();
    let mut case0: Option<(GroupKey, CapsuleContext, Capsule, Scalar)> = None;
    for (i, (s_byte, gid, generation, rid, index, kind, seed_byte)) in
        defaults.into_iter().enumerate()
    {
        let mut c = Obj::new(o.stored_item("cases", i));
        let s_default = Scalar::from_bytes_mod_order(sha2::Sha256::digest([s_byte]).into());
        let s = scalar_from(&c.input_hex("group_secret_s", s_default.as_bytes()));
        let p = s * G;
        c.set("group_key_P", pt(&p));
        let group = GroupKey {
            group_id: GroupId(c.input_n("group_id", &gid)),
            generation: c.input_u64("generation", generation.into()) as u32,
            key: p,
        };
        let ctx = CapsuleContext {
            recording_id: RecordingId(c.input_n("recording_id", &rid)),
            device_key: c.input_n("device_key", &dev_key),
            segment_index: c.input_u64("segment_index", index.into()) as u32,
            kind: c.input_u64("kind", kind.into()) as u8,
            media_start_ms: c.input_u64("media_start_ms", 20_000),
            media_end_ms: c.input_u64("media_end_ms", 30_000),
            capture_utc_ms: c.input_i64("capture_utc_ms", T0 + 20_000),
        };
        let seed = c.input_n("seed", &seed_of(seed_byte));
        let mut rec = Rec::new(seed);
        let (capsule, a) = kem::encapsulate(&group, &ctx, &mut rec);
        c.set(
            "rng_draws",
            draws(
                &rec,
                &[d("r (random_scalar)", 64), d("w (random_scalar)", 64)],
            ),
        );
        let r = wide_scalar(&rec.draws[0]);
        let w = wide_scalar(&rec.draws[1]);
        let gbar = *kem::generator_bar();
        let (big_r, u_bar, big_a, a_bar) = (r * G, r * gbar, w * G, w * gbar);
        c.set("r", sc(&r));
        c.set("w", sc(&w));
        c.set("R", pt(&big_r));
        c.set("U_bar", pt(&u_bar));
        c.set("A", pt(&big_a));
        c.set("A_bar", pt(&a_bar));
        let input = validity_challenge_input(
            &group,
            &ctx,
            big_r.compress().as_bytes(),
            u_bar.compress().as_bytes(),
            &big_a,
            &a_bar,
        );
        c.hex("challenge_input", &input);
        let ch = hash_to_scalar(&[&input]);
        c.set("c", sc(&ch));
        let z = w + ch * r;
        c.set("z", sc(&z));
        assert_eq!(capsule.r, big_r.compress().to_bytes());
        assert_eq!(capsule.u_bar, u_bar.compress().to_bytes());
        assert_eq!(capsule.proof_c, ch.to_bytes());
        assert_eq!(capsule.proof_z, z.to_bytes());
        c.hex("capsule", capsule_bytes(&capsule));
        let rp = r * p;
        c.set("rP", pt(&rp));
        let ikm = [
            rp.compress().as_bytes().as_slice(),
            big_r.compress().as_bytes(),
            p.compress().as_bytes(),
            &group.group_id.0,
            &group.generation.to_be_bytes(),
        ]
        .concat();
        c.hex("a_ikm", &ikm);
        let mut a_ref = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(&[]), &ikm)
            .expand(labels::KEM, &mut a_ref)
            .unwrap();
        assert_eq!(a.expose(), &a_ref);
        c.hex("a", a.expose());
        kem::verify_capsule_proof(&capsule, &group, &ctx).expect("proof verifies");
        assert_eq!(
            kem::derive_a(&(s * big_r), &capsule, &p).expose(),
            a.expose()
        );
        cases.push(c.done());
        if i == 0 {
            case0 = Some((group, ctx, capsule, s));
        }
    }
    o.set("cases", cases);

    // Invalid capsules, all derived from cases[0].
    let (group, ctx, capsule, _) = case0.expect("case 0");
    let cap = capsule_bytes(&capsule);
    let big_r = point_from(&capsule.r);
    let u_bar = point_from(&capsule.u_bar);
    let beta = Scalar::from(7u8);
    let z = scalar_from(&capsule.proof_z);
    let mut ctx_moved = serde_json::Map::new();
    ctx_moved.insert("segment_index".into(), json!(ctx.segment_index + 1));
    let mut ctx_kind = serde_json::Map::new();
    ctx_kind.insert("kind".into(), json!(1));
    let mut identity = [0u8; 32];
    identity[..].copy_from_slice(RistrettoPoint::identity().compress().as_bytes());
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        (
            "R blinded (7·R), original proof",
            json!([op_replace(20, (beta * big_r).compress().as_bytes())]),
            json!({}),
            "Segment.BadKemProof",
        ),
        (
            "Ū blinded (7·Ū), original proof",
            json!([op_replace(52, (beta * u_bar).compress().as_bytes())]),
            json!({}),
            "Segment.BadKemProof",
        ),
        (
            "R and Ū both blinded by 7 (same log, proof not recomputed)",
            json!([
                op_replace(20, (beta * big_r).compress().as_bytes()),
                op_replace(52, (beta * u_bar).compress().as_bytes())
            ]),
            json!({}),
            "Segment.BadKemProof",
        ),
        (
            "z + 1",
            json!([op_replace(116, (z + Scalar::ONE).as_bytes())]),
            json!({}),
            "Segment.BadKemProof",
        ),
        (
            "capsule moved to the next segment index",
            json!([]),
            Value::Object(ctx_moved),
            "Segment.BadKemProof",
        ),
        (
            "capsule moved to a segment of another kind",
            json!([]),
            Value::Object(ctx_kind),
            "Segment.BadKemProof",
        ),
        (
            "sealed to another group id",
            json!([op_xor(0, &[0x01])]),
            json!({}),
            "Segment.Misplaced",
        ),
        (
            "sealed to another generation",
            json!([op_xor(19, &[0x01])]),
            json!({}),
            "Segment.Misplaced",
        ),
        (
            "proof_c not canonical (c + l)",
            json!([op_replace(84, &plus_l(&capsule.proof_c))]),
            json!({}),
            "InvalidScalar",
        ),
        (
            "proof_z not canonical (z + l)",
            json!([op_replace(116, &plus_l(&capsule.proof_z))]),
            json!({}),
            "InvalidScalar",
        ),
        (
            "R is the identity",
            json!([op_replace(20, &identity)]),
            json!({}),
            "InvalidPoint",
        ),
        (
            "Ū is the identity",
            json!([op_replace(52, &identity)]),
            json!({}),
            "InvalidPoint",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (name, ops, ctx_change, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_capsules", i));
        c.set("name", name);
        c.set("base", "cases[0]");
        let ops = c.input("mutations", ops);
        let ctx_change = c.input("context_changes", ctx_change);
        let mut ctx2 = ctx;
        if let Some(i) = ctx_change.get("segment_index") {
            ctx2.segment_index = i.as_u64().unwrap() as u32;
        }
        if let Some(k) = ctx_change.get("kind") {
            ctx2.kind = k.as_u64().unwrap() as u8;
        }
        let bytes = mutate(&cap, &ops);
        let result =
            parse_capsule(&bytes).and_then(|c| kem::verify_capsule_proof(&c, &group, &ctx2));
        c.set("expected", expect_err(result, err, name));
        inv.push(c.done());
    }
    o.set("invalid_capsules", inv);

    let mut enc = Vec::new();
    for (i, (why, h)) in BAD_RISTRETTO.iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_point_encodings", i));
        c.set("name", *why);
        let b = c.input_hex("point", &hex::decode(h).unwrap());
        let mut bytes = cap.clone();
        bytes[20..52].copy_from_slice(&b);
        c.set(
            "expected",
            expect_err(parse_capsule(&bytes), "InvalidPoint", why),
        );
        enc.push(c.done());
    }
    o.set("invalid_point_encodings", enc);
    with_header(head, o.done())
}

// ---------------------------------------------------------------------------
// segment.json

const SEGMENT_CASES: &[(&str, usize, SegmentKind)] = &[
    ("empty", 0, SegmentKind::Media),
    ("one byte", 1, SegmentKind::Metadata),
    ("one byte short of a chunk", 65_535, SegmentKind::Media),
    ("exactly one chunk", 65_536, SegmentKind::Media),
    ("one byte over a chunk", 65_537, SegmentKind::Media),
    ("two full chunks", 131_072, SegmentKind::ContainerIndex),
];
/// Full blob hex up to this plaintext length; head and tail above.
const FULL_BLOB_MAX: usize = 65_537;

struct SegCase {
    fields: HeaderFields,
    a: Secret32,
    b: Secret32,
    c: Secret32,
    blob: Vec<u8>,
}

impl SegCase {
    fn parts(&self) -> KeyParts {
        key_parts(&self.a, &self.b, &self.c)
    }
}

fn key_parts(a: &Secret32, b: &Secret32, c: &Secret32) -> KeyParts {
    KeyParts {
        a: a.clone(),
        b: b.clone(),
        c: c.clone(),
    }
}

/// A custody block for sealing a bare segment: the segment vectors cover
/// the blob, which does not carry it (the record does, see record.json).
fn no_custody(index: u32) -> obhut_core::pq_custody::SegmentCustody {
    obhut_core::pq_custody::SegmentCustody {
        run_start: index,
        threshold: 1,
        run_hash: [0; 32],
        run: None,
        shares: Vec::new(),
    }
}

/// K = HKDF(salt = "obhut/v1/segment-key", ikm = a || b || c, info = header_hash, 32).
fn segment_k(a: &[u8; 32], b: &[u8; 32], c: &[u8; 32], header_hash: &[u8; 32]) -> [u8; 32] {
    let ikm = [&a[..], &b[..], &c[..]].concat();
    let mut k = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(labels::SEGMENT_KEY), &ikm)
        .expand(header_hash, &mut k)
        .unwrap();
    k
}

fn hkdf_expand(prk: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::from_prk(prk)
        .unwrap()
        .expand(info, &mut out)
        .unwrap();
    out
}

/// The open procedure of the segment vectors: parse blob[0..1452] and check
/// the key commitment with (a, b, c), then decrypt the whole blob.
fn open_blob(blob: &[u8], parts: &KeyParts) -> obhut_core::Result<Vec<u8>> {
    let header = blob.get(..HEADER_LEN).ok_or(Error::Truncated {
        what: "segment header",
        field: "header",
    })?;
    let opener = SegmentOpener::new(header, parts)?;
    let mut out = Vec::new();
    opener.open_stream(blob, &mut out)?;
    Ok(out)
}

fn build_segment(stored: Option<&Value>) -> J {
    let head = header(
        "segment.json",
        &[
            "Sealed segments (§5.1, §6): from a, b and header[0..1420] to the key schedule, the STREAM chunks and the blob; and named ways to break a blob.",
            "Inputs of each case for a second implementation: a, b, c, header_prefix (header[0..1420]) and plaintext_len; the plaintext is byte i = i mod 251.",
            "header_hash = SHA-256(\"obhut/v1/header-hash\" || 0x00 || header_prefix); K = HKDF-SHA256(salt = \"obhut/v1/segment-key\", ikm = a || b || c, info = header_hash, 32); payload_key = HKDF-Expand(K, \"obhut/v1/payload-key\", 32); key_commitment = HKDF-Expand(K, \"obhut/v1/key-commitment\", 32).",
            "blob = header_prefix || key_commitment || chunk_0 || ...; chunk_i = AES-256-GCM(payload_key, nonce_i, aad = header_hash, plaintext_i) as ciphertext || tag; nonce_i = i as 11-byte big-endian || final flag.",
            "ciphertext_hash = BLAKE3 derive_key(context \"obhut/v1/ciphertext-hash\", blob). blob is the full blob in hex for plaintext_len <= 65537; above, blob_head and blob_tail are its first and last 64 bytes.",
            "provenance: how the headers were made (real capsules and epoch wraps, see kem.json and access.json); a second implementation does not need it.",
            "invalid: apply mutations to the blob of case `base`, then open: parse blob[0..1452], check the key commitment with (a, b) (open_with_b replaces b), decrypt all chunks; the named error must result.",
        ],
    );
    let mut o = Obj::new(stored);
    let mut prov = Obj::new(o.stored("provenance"));
    let seed = prov.input_n("seed", &seed_of(0xd0));
    let mut rec = Rec::new(seed);
    let device = SignKey::generate(&mut rec);
    let s = random_scalar(&mut rec);
    let group = GroupKey {
        group_id: GroupId::random(&mut rec),
        generation: 1,
        key: s * G,
    };
    let epoch_id = EpochId::random(&mut rec);
    let epoch = EpochSecret::generate(epoch_id, &mut rec);
    let epoch_public = epoch.public("segment-vectors", T0 - 86_400_000, T0 + 86_400_000);
    let recording_id = RecordingId::random(&mut rec);
    let mut expected_draws = vec![
        d("device sign_seed", 32),
        d("group secret s (random_scalar)", 64),
        d("group_id", 16),
        d("epoch_id", 16),
        d("epoch kem_seed", 32),
        d("recording_id", 16),
    ];
    let mut segs = Vec::new();
    for (i, (name, len, kind)) in SEGMENT_CASES.iter().enumerate() {
        let index = i as u32;
        let start = 4_000 * u64::from(index);
        let ctx = CapsuleContext {
            recording_id,
            device_key: device.verify_key().to_bytes(),
            segment_index: index,
            kind: kind.to_u8(),
            media_start_ms: start,
            media_end_ms: start + 4_000,
            capture_utc_ms: T0 + start as i64,
        };
        let (capsule, a) = kem::encapsulate(&group, &ctx, &mut rec);
        let b = Secret32::random(&mut rec);
        let wrap = epoch_public.wrap(&b, recording_id, &device.verify_key(), index, &mut rec);
        let c = Secret32::random(&mut rec);
        for what in ["r", "w"] {
            expected_draws.push(d(&format!("{name}: {what} (random_scalar)"), 64));
        }
        expected_draws.push(d(&format!("{name}: b"), 32));
        expected_draws.push(d(&format!("{name}: epoch wrap (X-Wing encapsulation)"), 64));
        expected_draws.push(d(&format!("{name}: c"), 32));
        let fields = HeaderFields {
            kind: *kind,
            recording_id,
            device_key: device.verify_key(),
            segment_index: index,
            media_start_ms: start,
            media_end_ms: start + 4_000,
            capture_utc_ms: T0 + start as i64,
            capsule,
            epoch_wrap: wrap,
        };
        let mut blob = Vec::new();
        seal_payload(
            fields.clone(),
            no_custody(index),
            &key_parts(&a, &b, &c),
            &plaintext(*len)[..],
            &mut blob,
        )
        .expect("seal");
        segs.push(SegCase {
            fields,
            a,
            b,
            c,
            blob,
        });
    }
    prov.set("rng_draws", draws(&rec, &expected_draws));
    prov.hex("device_key", device.verify_key().to_bytes());
    prov.set("group_key_P", pt(&group.key));
    prov.hex("group_id", group.group_id.0);
    prov.hex("epoch_id", epoch_id.0);
    prov.hex("epoch_kem_key", epoch_public.kem_key.as_bytes());
    prov.hex("recording_id", recording_id.0);
    o.set("provenance", prov.done());

    let mut cases = Vec::new();
    for (i, ((name, len, _), sc_)) in SEGMENT_CASES.iter().zip(&segs).enumerate() {
        let mut c = Obj::new(o.stored_item("cases", i));
        c.set("name", *name);
        c.set("segment_index", sc_.fields.segment_index);
        c.set("kind", sc_.fields.kind.to_u8());
        c.set("plaintext_len", *len);
        c.hex("a", sc_.a.expose());
        c.hex("b", sc_.b.expose());
        c.hex("c", sc_.c.expose());
        let prefix = sc_.fields.to_hashed_bytes();
        assert_eq!(prefix.len(), HEADER_HASHED_LEN);
        c.hex("header_prefix", &prefix);
        let hh = labels::digest(b"obhut/v1/header-hash", &[&prefix]);
        assert_eq!(hh, sc_.fields.header_hash());
        c.hex("header_hash", hh);
        let k = segment_k(sc_.a.expose(), sc_.b.expose(), sc_.c.expose(), &hh);
        c.hex("K", k);
        let keys = SegmentKeys::derive(&sc_.parts(), &sc_.fields);
        let pk = hkdf_expand(&k, labels::PAYLOAD_KEY);
        assert_eq!(&pk, keys.expose_payload_key().expose());
        c.hex("payload_key", pk);
        let kc = hkdf_expand(&k, labels::KEY_COMMITMENT);
        assert_eq!(&kc, keys.commitment());
        c.hex("key_commitment", kc);
        assert_eq!(sc_.blob[..HEADER_HASHED_LEN], prefix[..]);
        assert_eq!(sc_.blob[HEADER_HASHED_LEN..HEADER_LEN], kc[..]);
        let n_chunks = obhut_core::stream::chunk_count(*len as u64) as usize;
        let mut chunks = Vec::new();
        for ci in 0..n_chunks {
            let plen = obhut_core::stream::chunk_plaintext_len(*len as u64, ci as u64);
            let off = HEADER_LEN + ci * SEALED_CHUNK_LEN;
            let last = ci + 1 == n_chunks;
            chunks.push(json!({
                "index": ci,
                "final": last,
                "nonce": hex::encode(chunk_nonce(ci as u64, last)),
                "plaintext_len": plen,
                "blob_offset": off,
                "tag": hex::encode(&sc_.blob[off + plen..off + plen + TAG_LEN]),
            }));
        }
        c.set("chunks", chunks);
        assert_eq!(sc_.blob.len() as u64, segment::blob_len(*len as u64));
        c.set("blob_len", sc_.blob.len());
        let h = blake3::Hasher::new_derive_key("obhut/v1/ciphertext-hash")
            .update(&sc_.blob)
            .finalize();
        c.hex("ciphertext_hash", h.as_bytes());
        // §6.5: chaining values of the blob's 16 KiB groups, empty for one group.
        let tree = obhut_core::blob_tree::group_tree(&sc_.blob);
        obhut_core::blob_tree::VerifiedTree::check(sc_.blob.len() as u64, h.as_bytes(), &tree)
            .expect("the group tree merges to the ciphertext hash");
        c.hex("group_tree", &tree);
        if *len <= FULL_BLOB_MAX {
            c.hex("blob", &sc_.blob);
        } else {
            c.hex("blob_head", &sc_.blob[..64]);
            c.hex("blob_tail", &sc_.blob[sc_.blob.len() - 64..]);
        }
        assert_eq!(
            open_blob(&sc_.blob, &sc_.parts()).expect("opens"),
            plaintext(*len)
        );
        cases.push(c.done());
    }
    o.set("cases", cases);

    // Invalid cases.
    let by_name = |n: &str| {
        SEGMENT_CASES
            .iter()
            .position(|c| c.0 == n)
            .unwrap_or_else(|| panic!("no case {n}"))
    };
    let one_over = by_name("one byte over a chunk");
    let empty_final_tag = {
        let keys = SegmentKeys::derive(&segs[one_over].parts(), &segs[one_over].fields);
        keys.chunk_cipher()
            .seal_chunk(1, true, &mut [])
            .expect("seal empty chunk")
    };
    let first_chunk_end = HEADER_LEN + SEALED_CHUNK_LEN;
    let mut b_wrong = *segs[by_name("one byte")].b.expose();
    b_wrong[0] ^= 0x01;
    let one_byte_len = segs[by_name("one byte")].blob.len();
    let over_len = segs[one_over].blob.len();
    #[allow(clippy::type_complexity)]
    let invalid: Vec<(&str, &str, Value, Option<[u8; 32]>, &str)> = vec![
        (
            "header byte flipped (capture_utc_ms)",
            "one byte",
            json!([op_xor(87, &[0x01])]),
            None,
            "Segment.KeyCommitment",
        ),
        (
            "header byte flipped (capsule proof z, first byte)",
            "exactly one chunk",
            json!([op_xor(88 + 116, &[0x01])]),
            None,
            "Segment.KeyCommitment",
        ),
        (
            "header byte flipped (epoch wrap ciphertext)",
            "one byte",
            json!([op_xor(HEADER_HASHED_LEN - 1, &[0x80])]),
            None,
            "Segment.KeyCommitment",
        ),
        (
            "key commitment byte flipped",
            "one byte",
            json!([op_xor(HEADER_LEN - 1, &[0x01])]),
            None,
            "Segment.KeyCommitment",
        ),
        (
            "wrong b (first byte flipped)",
            "one byte",
            json!([]),
            Some(b_wrong),
            "Segment.KeyCommitment",
        ),
        (
            "ciphertext byte flipped in chunk 0",
            "one byte over a chunk",
            json!([op_xor(HEADER_LEN + 10, &[0x01])]),
            None,
            "Segment.ChunkAuthentication",
        ),
        (
            "tag byte flipped in the final chunk",
            "one byte",
            json!([op_xor(one_byte_len - 1, &[0x01])]),
            None,
            "Segment.ChunkAuthentication",
        ),
        (
            "chunks 0 and 1 swapped",
            "two full chunks",
            json!([op_swap(HEADER_LEN, first_chunk_end, SEALED_CHUNK_LEN)]),
            None,
            "Segment.ChunkAuthentication",
        ),
        (
            "truncated at a chunk boundary (final chunk dropped)",
            "one byte over a chunk",
            json!([op_truncate(first_chunk_end)]),
            None,
            "Segment.Truncated",
        ),
        (
            "truncated at a chunk boundary (second of two full chunks dropped)",
            "two full chunks",
            json!([op_truncate(first_chunk_end)]),
            None,
            "Segment.Truncated",
        ),
        (
            "truncated to the header",
            "empty",
            json!([op_truncate(HEADER_LEN)]),
            None,
            "Segment.Truncated",
        ),
        (
            "truncated inside the final chunk",
            "one byte over a chunk",
            json!([op_truncate(over_len - 1)]),
            None,
            "Segment.ChunkAuthentication",
        ),
        (
            "trailing data after a full final chunk",
            "exactly one chunk",
            json!([op_append(&[0x00])]),
            None,
            "Segment.TrailingData",
        ),
        (
            "trailing data after two full chunks",
            "two full chunks",
            json!([op_append(&[0x00; 17])]),
            None,
            "Segment.TrailingData",
        ),
        (
            "trailing data after a short final chunk",
            "one byte",
            json!([op_append(&[0x00])]),
            None,
            "Segment.ChunkAuthentication",
        ),
        (
            "empty final chunk after a full chunk (non-canonical; needs the payload key)",
            "one byte over a chunk",
            json!([op_truncate(first_chunk_end), op_append(&empty_final_tag)]),
            None,
            "Segment.TrailingData",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (name, base, ops, b_override, err)) in invalid.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid", i));
        c.set("name", name);
        let base = c.input_str("base", base);
        let seg = &segs[by_name(&base)];
        let ops = c.input("mutations", ops);
        let b = match b_override {
            Some(bw) => Secret32::new(c.input_n("open_with_b", &bw)),
            None => seg.b.clone(),
        };
        let blob = mutate(&seg.blob, &ops);
        c.set(
            "expected",
            expect_err(open_blob(&blob, &key_parts(&seg.a, &b, &seg.c)), err, name),
        );
        inv.push(c.done());
    }
    o.set("invalid", inv);
    with_header(head, o.done())
}

// ---------------------------------------------------------------------------
// group.json

struct GroupFix {
    custodians: Vec<PersonSecret>,
    shares: Vec<CustodianShare>,
    pinned: PinnedGroup,
    /// The dealer's coefficients a_0 (= s) … a_{k−1}.
    coefficients: Vec<Scalar>,
}

fn share_envelope_aad(env: &ShareEnvelope) -> Vec<u8> {
    let mut w = Writer::with_preamble(
        labels::magic::SHARE_ENVELOPE,
        labels::VERSION,
        labels::SUITE_V1,
    );
    w.bytes(&env.group_id.0).u32(env.generation).u16(env.index);
    w.into_vec()
}

fn build_group(stored: Option<&Value>) -> (J, GroupFix) {
    let head = header(
        "group.json",
        &[
            "A 2-of-3 dealer ceremony (§4): custodian identities (as in identity.json), the dealer's draws, the Feldman commitments, verification shares, share plaintexts and envelopes, the descriptor unsigned and signed by all three custodians.",
            "group::deal draws group_id (16), then a_0 … a_{k−1} (64 bytes each, random_scalar), then one X-Wing encapsulation (64) per share envelope in custodian order. s = a_0, P = C_0 = a_0·G, s_i = Σ a_j·i^j, P_i = s_i·G.",
            "Share envelope: HPKE base mode to the custodian's kem_key, info \"obhut/v1/share-envelope\", aad = the envelope's bytes from OBSE through index (share_envelopes[].aad), plaintext the Share (share_plaintext).",
            "Descriptor signatures: Ed25519 with context \"obhut/v1/group-descriptor\" over descriptor_unsigned without its last two bytes (sig_count = 0), i.e. the descriptor up to sig_count.",
            "invalid_descriptors: mutations of descriptor_signed; `parse` must fail, or `pin` (parse, then verify every signature, then require k of them) must fail, with the named error.",
        ],
    );
    let mut o = Obj::new(stored);
    let name = o.input_str("name", "example custody group");
    let k = o.input_u64("k", 2) as u16;
    let n = o.input_u64("n", 3) as u16;
    let mut custodians = Vec::new();
    let mut cj = Vec::new();
    for (i, (dn, ds)) in PERSONS.iter().enumerate().take(n as usize) {
        let mut c = Obj::new(o.stored_item("custodians", i));
        c.set("index", i + 1);
        let cname = c.input_str("name", dn);
        let seed = c.input_n("seed", &seed_of(*ds));
        let p = person(&cname, seed);
        c.hex("sign_key", p.public().sign_key.to_bytes());
        c.hex("fingerprint", p.public().fingerprint().0);
        custodians.push(p);
        cj.push(c.done());
    }
    o.set("custodians", cj);
    let publics: Vec<PublicIdentity> = custodians.iter().map(PersonSecret::public).collect();

    let mut dealer = Obj::new(o.stored("dealer"));
    let seed = dealer.input_n("seed", &seed_of(0x51));
    let mut rec = Rec::new(seed);
    let (unsigned, envelopes) = group::deal(&name, k, n, &publics, &mut rec).expect("deal");
    let mut expected = vec![d("group_id", 16)];
    for j in 0..k {
        expected.push(d(&format!("a_{j} (random_scalar)"), 64));
    }
    for i in 1..=n {
        expected.push(d(&format!("share envelope {i} (X-Wing encapsulation)"), 64));
    }
    dealer.set("rng_draws", draws(&rec, &expected));
    let coefficients: Vec<Scalar> = (0..k as usize)
        .map(|j| wide_scalar(&rec.draws[1 + j]))
        .collect();
    dealer.hex("group_id", unsigned.group_id().0);
    assert_eq!(unsigned.group_id().0[..], rec.draws[0][..]);
    dealer.set("generation", unsigned.generation());
    dealer.set(
        "coefficients",
        coefficients.iter().map(sc).collect::<Vec<_>>(),
    );
    let commitments: Vec<String> = unsigned.commitments().iter().map(pt).collect();
    for (c, a) in unsigned.commitments().iter().zip(&coefficients) {
        assert_eq!(*c, a * G);
    }
    dealer.set("commitments", commitments);
    dealer.set("P", pt(&unsigned.group_key().key));
    let shares: Vec<Scalar> = (1..=n)
        .map(|i| {
            let x = Scalar::from(i);
            coefficients
                .iter()
                .rev()
                .fold(Scalar::ZERO, |acc, a| acc * x + a)
        })
        .collect();
    let mut vs = Vec::new();
    for (i, s_i) in (1..=n).zip(&shares) {
        let p_i = unsigned.verification_share(i).expect("P_i");
        assert_eq!(*p_i, s_i * G);
        vs.push(pt(p_i));
    }
    dealer.set("verification_shares", vs);
    dealer.set("shares", shares.iter().map(sc).collect::<Vec<_>>());
    dealer.hex("descriptor_unsigned", unsigned.to_bytes());

    let mut envs = Vec::new();
    for (i, env) in envelopes.iter().enumerate() {
        let aad = share_envelope_aad(env);
        let pt_bytes = hpke_wrap::open(
            &custodians[i].kem,
            labels::SHARE_ENVELOPE_INFO,
            &aad,
            &env.enc,
            &env.sealed,
            "share envelope",
        )
        .expect("custodian opens its envelope")
        .expose()
        .to_vec();
        let mut expected_pt =
            Writer::with_preamble(labels::magic::SHARE, labels::VERSION, labels::SUITE_V1);
        expected_pt
            .bytes(&env.group_id.0)
            .u32(env.generation)
            .u16(env.index)
            .bytes(shares[i].as_bytes());
        assert_eq!(pt_bytes, expected_pt.into_vec());
        envs.push(json!({
            "index": env.index,
            "share_plaintext": hex::encode(&pt_bytes),
            "aad": hex::encode(&aad),
            "envelope": hex::encode(env.to_bytes()),
        }));
        assert_eq!(ShareEnvelope::from_bytes(&env.to_bytes()).unwrap(), *env);
    }
    dealer.set("share_envelopes", envs);

    let mut signed = unsigned.clone();
    let mut opened = Vec::new();
    for (env, c) in envelopes.iter().zip(&custodians) {
        let share = env.open(c, &unsigned).expect("open share");
        group::sign_descriptor(&mut signed, &share, c).expect("sign");
        opened.push(share);
    }
    dealer.set(
        "signatures",
        signed
            .signatures()
            .iter()
            .map(|s| json!({"index": s.index, "signature": hex::encode(s.signature)}))
            .collect::<Vec<_>>(),
    );
    for s in signed.signatures() {
        let listed = signed.custodian(s.index).unwrap();
        listed
            .sign_key
            .verify(
                labels::GROUP_DESCRIPTOR_SIG,
                &signed.signed_body(),
                &s.signature,
                "t",
            )
            .expect("signature");
    }
    let signed_bytes = signed.to_bytes();
    let ulen = unsigned.to_bytes().len();
    assert_eq!(unsigned.to_bytes()[..ulen - 2], signed_bytes[..ulen - 2]);
    dealer.hex("descriptor_signed", &signed_bytes);
    let pinned = PinnedGroup::from_bytes(&signed_bytes).expect("pin");
    o.set("dealer", dealer.done());

    // Invalid descriptors.
    let name_len = name.len();
    let k_at = 7 + 16 + 4 + 4 + name_len;
    let commit_at = k_at + 4;
    let cust_at = commit_at + 32 * k as usize;
    let cust_len = 2 + 32 + 1216;
    let sigs_at = cust_at + cust_len * n as usize; // sig_count
    let sig_len = 2 + 64;
    let mut identity = [0u8; 32];
    identity.copy_from_slice(RistrettoPoint::identity().compress().as_bytes());
    let c1_sign = &signed_bytes[cust_at + 2..cust_at + 34];
    let sig1 = &signed_bytes[sigs_at + 2..sigs_at + 2 + sig_len];
    let sig2 = &signed_bytes[sigs_at + 2 + sig_len..sigs_at + 2 + 2 * sig_len];
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "custodian 2's signature altered",
            json!([op_xor(sigs_at + 2 + sig_len + 2 + 10, &[0x01])]),
            "pin",
            "DescriptorSignature",
        ),
        (
            "only custodian 1's signature",
            json!([
                op_replace(sigs_at, &1u16.to_be_bytes()),
                op_truncate(sigs_at + 2 + sig_len)
            ]),
            "pin",
            "NotEnoughSignatures",
        ),
        (
            "no signatures (the unsigned descriptor)",
            json!([
                op_replace(sigs_at, &0u16.to_be_bytes()),
                op_truncate(sigs_at + 2)
            ]),
            "pin",
            "NotEnoughSignatures",
        ),
        (
            "signatures 1 and 2 in decreasing index order",
            json!([op_replace(sigs_at + 2, &[sig2, sig1].concat())]),
            "parse",
            "Malformed",
        ),
        (
            "commitment C_1 is the identity",
            json!([op_replace(commit_at + 32, &identity)]),
            "parse",
            "InvalidPoint",
        ),
        (
            "commitment C_0 not canonical",
            json!([op_replace(
                commit_at,
                &hex::decode("f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
                    .unwrap()
            )]),
            "parse",
            "InvalidPoint",
        ),
        (
            "custodian 2 listed with custodian 1's sign_key",
            json!([op_replace(cust_at + cust_len + 2, c1_sign)]),
            "parse",
            "Malformed",
        ),
        (
            "custodian indices out of order (second custodian has index 3)",
            json!([op_replace(cust_at + cust_len, &3u16.to_be_bytes())]),
            "parse",
            "Malformed",
        ),
        (
            "k = 4 > n = 3",
            json!([op_replace(k_at, &4u16.to_be_bytes())]),
            "parse",
            "Malformed",
        ),
        (
            "one trailing byte",
            json!([op_append(&[0])]),
            "parse",
            "TrailingBytes",
        ),
        (
            "version 2",
            json!([op_replace(4, &[2])]),
            "parse",
            "UnsupportedVersion",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, ops, op, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_descriptors", i));
        c.set("name", cname);
        c.set("base", "dealer.descriptor_signed");
        let ops = c.input("mutations", ops);
        let op = c.input_str("operation", op);
        let bytes = mutate(&signed_bytes, &ops);
        let result = match op.as_str() {
            "parse" => GroupDescriptor::from_bytes(&bytes).map(|_| ()),
            "pin" => PinnedGroup::from_bytes(&bytes).map(|_| ()),
            other => panic!("unknown operation {other}"),
        };
        c.set("expected", expect_err(result, err, cname));
        inv.push(c.done());
    }
    o.set("invalid_descriptors", inv);

    // Envelopes opened by the wrong person, or altered.
    let env1 = &envelopes[0];
    let env_bytes = env1.to_bytes();
    let mut inv = Vec::new();
    let cases: Vec<(&str, Value, usize, &str)> = vec![
        ("envelope 1 opened by custodian 2", json!([]), 2, "Custody"),
        (
            "envelope 1 with a sealed byte altered, opened by custodian 1",
            json!([op_xor(env_bytes.len() - 1, &[0x01])]),
            1,
            "DecryptionFailed",
        ),
        (
            "envelope 1 with its index changed to 2, opened by custodian 2",
            json!([op_replace(7 + 16 + 4, &2u16.to_be_bytes())]),
            2,
            "DecryptionFailed",
        ),
    ];
    for (i, (cname, ops, who, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_share_envelopes", i));
        c.set("name", cname);
        c.set("base", "dealer.share_envelopes[0].envelope");
        let ops = c.input("mutations", ops);
        let who = c.input_u64("opened_by_custodian", who as u64) as usize;
        let bytes = mutate(&env_bytes, &ops);
        let result = ShareEnvelope::from_bytes(&bytes)
            .and_then(|e| e.open(&custodians[who - 1], &unsigned).map(|_| ()));
        c.set("expected", expect_err(result, err, cname));
        inv.push(c.done());
    }
    o.set("invalid_share_envelopes", inv);

    // §4.4: custodians 1 and 2 pin a log and one witness.
    let mut lp = Obj::new(o.stored("log_pin"));
    let mut pin = LogPin::new(LogPinContent {
        group_id: pinned.group_id(),
        generation: pinned.generation(),
        log_key: lp.input_str(
            "log_key",
            "obhut.example/vault-3f2a9c+c0ffee00+AXVpMzRGdWlzZW1wdHlrZXlmb3J2ZWN0b3JzMTIzNA==",
        ),
        witnesses: vec![lp.input_str(
            "witness",
            "dpo.example/witness+0ddba11a+BHdpdG5lc3NrZXlmb3J2ZWN0b3JzMTIzNDU2Nzg5MA==",
        )],
        witnesses_required: 1,
    })
    .expect("pin content");
    for i in [1u16, 2] {
        pin.sign(&pinned, i, &custodians[usize::from(i) - 1].sign)
            .expect("sign pin");
    }
    let pin_bytes = pin.to_bytes();
    lp.hex("pin", &pin_bytes);
    pin.verify(&pinned).expect("the pin verifies");
    let sig_count_at = pin_bytes.len() - 2 * (2 + 64) - 2;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "log key's first byte changed",
            json!([op_xor(7 + 16 + 4 + 4, &[0x01])]),
            "DescriptorSignature",
        ),
        (
            "second signature dropped (sig_count 1)",
            json!([
                op_replace(sig_count_at, &1u16.to_be_bytes()),
                op_truncate(pin_bytes.len() - 66)
            ]),
            "NotEnoughSignatures",
        ),
        (
            "witnesses_required 2 of 1 witness",
            json!([op_replace(sig_count_at - 2, &2u16.to_be_bytes())]),
            "Malformed",
        ),
        (
            "last byte cut",
            json!([op_truncate(pin_bytes.len() - 1)]),
            "Truncated",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, ops, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(lp.stored_item("invalid", i));
        c.set("name", cname);
        let ops = c.input("mutations", ops);
        let bytes = mutate(&pin_bytes, &ops);
        let result = LogPin::from_bytes(&bytes).and_then(|p| p.verify(&pinned).map(|_| ()));
        c.set("expected", expect_err(result, err, cname));
        inv.push(c.done());
    }
    lp.set("invalid", inv);
    o.set("log_pin", lp.done());

    (
        with_header(head, o.done()),
        GroupFix {
            custodians,
            shares: opened,
            pinned,
            coefficients,
        },
    )
}

// ---------------------------------------------------------------------------
// record.json

struct RecordFix {
    device: DeviceSecret,
    epoch: EpochSecret,
    epoch_public: EpochPublic,
    recording_id: RecordingId,
    records: Vec<SegmentRecord>,
    blobs: Vec<Vec<u8>>,
    a: Vec<Secret32>,
    b: Vec<Secret32>,
    c: Vec<Secret32>,
}

/// A segment's c as k custodians of `g` recover it (§5.6): each unwraps its
/// run key from the run's first record among `records`, unpads its share
/// and checks its hash; the shares are interpolated at 0. Also returns the
/// shares, by x.
fn recover_c(
    g: &GroupFix,
    records: &[SegmentRecord],
    record: &SegmentRecord,
) -> (Secret32, Vec<(u16, Secret32)>) {
    let runs = obhut_core::partial::Runs::in_records(records);
    let f = &record.header().fields;
    let start = runs
        .start(f.recording_id, record.custody().run_start)
        .expect("the run's first record");
    let shares: Vec<(u16, Secret32)> = g
        .custodians
        .iter()
        .map(|p| {
            let key = runs
                .key(start, &p.public().fingerprint(), &p.kem)
                .expect("the custodian's run key");
            let share = key
                .share(record.custody(), &f.header_hash())
                .expect("the share matches its hash");
            (key.x(), share)
        })
        .collect();
    let refs: Vec<(u16, &Secret32)> = shares.iter().map(|(x, s)| (*x, s)).collect();
    let c = obhut_core::pq_custody::combine_c(record.custody().threshold, &refs).expect("k shares");
    (c, shares)
}

const RECORD_SEGMENTS: &[(SegmentKind, u64, u64, usize, bool, u8)] = &[
    (SegmentKind::Media, 0, 4_000, 1_000, false, 0xe0),
    (SegmentKind::Media, 4_000, 8_000, 2_500, false, 0xe1),
    (SegmentKind::ContainerIndex, 0, 8_000, 300, true, 0xe2),
];

fn build_record(stored: Option<&Value>, g: &GroupFix) -> (J, RecordFix) {
    let head = header(
        "record.json",
        &[
            "A 3-segment recording sealed by device::RecordingSealer (§6.4, §7): the device (identity.json), the retention-epoch key, the group of group.json, and for each segment its capsule, epoch wrap, header, blob, signed record and record_hash chain.",
            "EpochSecret::generate draws kem_seed (32). Each segment is sealed with a fresh RNG from its seed, drawing r (64), w (64) (kem::encapsulate), b (32), then the epoch wrap's X-Wing encapsulation (64).",
            "record_hash = SHA-256(\"obhut/v1/record-hash\" || 0x00 || record); the record's signature is Ed25519 by the device, context \"obhut/v1/segment-record\", over the record without its last 64 bytes. prev_record_hash of segment 0 is 32 zero bytes.",
            "a is recovered here as derive_a(s·R) with s = group.json dealer.coefficients[0]; b is the third draw and also what the epoch secret unwraps.",
            "invalid_chains: lists of records (an index into segments, or a record in hex) that verify_chain must refuse; invalid_records: mutations of a record that parsing (with the device signature check) must refuse; invalid_blobs: mutations of a blob that verify_blob against its record must refuse.",
        ],
    );
    let mut o = Obj::new(stored);
    let mut dj = Obj::new(o.stored("device"));
    let dname = dj.input_str("name", DEVICE.0);
    let dseed = dj.input_n("seed", &seed_of(DEVICE.1));
    let device = device_secret(&dname, dseed);
    dj.hex("sign_key", device.public().sign_key.to_bytes());
    o.set("device", dj.done());

    let mut ej = Obj::new(o.stored("epoch"));
    let epoch_id = EpochId(ej.input_n("epoch_id", &[0x42; 16]));
    let class = ej.input_str("retention_class", "bodycam-30d");
    let nb = ej.input_i64("not_before", T0 - 86_400_000);
    let na = ej.input_i64("not_after", T0 + 6 * 86_400_000);
    let eseed = ej.input_n("seed", &seed_of(0x41));
    let mut rec = Rec::new(eseed);
    let epoch = EpochSecret::generate(epoch_id, &mut rec);
    ej.set("rng_draws", draws(&rec, &[d("kem_seed", 32)]));
    let epoch_public = epoch.public(&class, nb, na);
    ej.hex("epoch_public", epoch_public.to_bytes());
    ej.hex("epoch_secret", epoch.to_secret_bytes().expose());
    o.set("epoch", ej.done());

    o.set("group", "group.json dealer.descriptor_signed (pinned)");
    o.hex("group_id", g.pinned.group_id().0);
    o.set("group_key_P", pt(&g.pinned.group_key().key));
    let recording_id = RecordingId(o.input_n("recording_id", &[0x61; 16]));

    let mut sealer = RecordingSealer::new(&device.sign, &g.pinned, &epoch_public, recording_id);
    let s = g.coefficients[0];
    let mut segs = Vec::new();
    let (mut records, mut blobs, mut a_s, mut b_s, mut c_s) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut prev = [0u8; 32];
    for (i, (kind, start, end, len, fin, seed_byte)) in RECORD_SEGMENTS.iter().enumerate() {
        let mut c = Obj::new(o.stored_item("segments", i));
        c.set("index", i);
        let spec = SegmentSpec {
            kind: SegmentKind::from_u8(c.input_u64("kind", kind.to_u8().into()) as u8)
                .expect("kind"),
            media_start_ms: c.input_u64("media_start_ms", *start),
            media_end_ms: c.input_u64("media_end_ms", *end),
            capture_utc_ms: c.input_i64("capture_utc_ms", T0 + *start as i64),
            is_final: c.input_bool("final", *fin),
        };
        let len = c.input_u64("plaintext_len", *len as u64) as usize;
        let seed = c.input_n("seed", &seed_of(*seed_byte));
        let mut rec = Rec::new(seed);
        let mut blob = Vec::new();
        let record = sealer
            .seal_segment(spec, &plaintext(len)[..], &mut blob, &mut rec)
            .expect("seal segment");
        let mut expected_draws = vec![
            d("r (random_scalar)", 64),
            d("w (random_scalar)", 64),
            d("b", 32),
            d("epoch wrap (X-Wing encapsulation)", 64),
        ];
        if record.custody().run.is_some() {
            for x in 1..=g.pinned.custodians().len() {
                expected_draws.push(d(&format!("custody run: wrap key w_{x}"), 32));
                expected_draws.push(d(
                    &format!("custody run: w_{x} sealed (X-Wing encapsulation)"),
                    64,
                ));
            }
        }
        for m in 0..g.pinned.threshold() {
            expected_draws.push(d(&format!("c: coefficient {m} (random_scalar)"), 64));
        }
        c.set("rng_draws", draws(&rec, &expected_draws));
        let fields = &record.header().fields;
        let a = kem::derive_a(
            &(s * point_from(&fields.capsule.r)),
            &fields.capsule,
            &g.pinned.group_key().key,
        );
        let b = Secret32::new(rec.draws[2].clone().try_into().unwrap());
        let unwrapped = epoch
            .unwrap(
                &fields.epoch_wrap,
                recording_id,
                &fields.device_key,
                fields.segment_index,
            )
            .expect("unwrap b");
        assert_eq!(unwrapped, b);
        let mut so_far = records.clone();
        so_far.push(record.clone());
        let (c_value, shares) = recover_c(g, &so_far, &record);
        c.hex("a", a.expose());
        c.hex("b", b.expose());
        c.hex("c", c_value.expose());
        c.set(
            "c_shares",
            shares
                .iter()
                .map(|(x, sh)| json!({"x": x, "share": hex::encode(sh.expose())}))
                .collect::<Vec<_>>(),
        );
        c.hex("capsule", capsule_bytes(&fields.capsule));
        let mut w = Writer::new();
        fields.epoch_wrap.encode(&mut w);
        c.hex("epoch_wrap", w.as_slice());
        c.hex("header", record.header().to_bytes());
        c.hex("ciphertext_hash", record.ciphertext_hash());
        c.hex("blob", &blob);
        assert_eq!(record.prev_record_hash(), &prev);
        c.hex("prev_record_hash", prev);
        c.hex("record", record.to_bytes());
        let rh = record.record_hash();
        assert_eq!(
            rh,
            labels::digest(b"obhut/v1/record-hash", &[&record.to_bytes()])
        );
        c.hex("record_hash", rh);
        prev = rh;
        assert_eq!(
            SegmentRecord::from_bytes(&record.to_bytes()).unwrap(),
            record
        );
        assert_eq!(
            open_blob(&blob, &key_parts(&a, &b, &c_value)).unwrap(),
            plaintext(len)
        );
        verify_blob(&record, &blob[..]).expect("blob matches record");
        segs.push(c.done());
        records.push(record);
        blobs.push(blob);
        a_s.push(a);
        b_s.push(b);
        c_s.push(c_value);
    }
    o.set("segments", segs);
    let summary = verify_chain(&records, &[g.pinned.group_key()]).expect("chain verifies");
    o.set(
        "chain",
        json!({
            "segment_count": summary.segment_count,
            "plaintext_len": summary.plaintext_len,
            "head_record_hash": hex::encode(summary.head_record_hash),
        }),
    );

    // Invalid chains. Records re-signed by the device (only it can) with a
    // wrong prev link or final flag.
    let resign = |r: &SegmentRecord, prev: [u8; 32], fin: bool| {
        let sealed = segment::SealedSegment {
            header: r.header().clone(),
            plaintext_len: r.plaintext_len(),
            ciphertext_hash: *r.ciphertext_hash(),
            custody: r.custody().clone(),
        };
        SegmentRecord::sign(&device.sign, &sealed, prev, fin).expect("sign")
    };
    let broken_link = resign(&records[1], [0u8; 32], false);
    let early_final = resign(&records[0], [0u8; 32], true);
    let hexrec = |r: &SegmentRecord| json!({"record": hex::encode(r.to_bytes())});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no records", json!([]), "Chain.Empty"),
        ("segments 0, 2, 1", json!([0, 2, 1]), "Chain.OutOfOrder"),
        ("segment 1 missing", json!([0, 2]), "Chain.Missing"),
        ("final segment missing", json!([0, 1]), "Chain.NotFinal"),
        ("segment 1 twice", json!([0, 1, 1, 2]), "Chain.Duplicate"),
        (
            "segment 1 re-signed with prev_record_hash = zeros",
            json!([0, hexrec(&broken_link), 2]),
            "Chain.BrokenLink",
        ),
        (
            "segment 0 re-signed as final",
            json!([hexrec(&early_final), 1, 2]),
            "Chain.FinalFlag",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, list, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_chains", i));
        c.set("name", cname);
        let list = c.input("records", list);
        let recs: Vec<SegmentRecord> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| match e {
                Value::Number(n) => records[n.as_u64().unwrap() as usize].clone(),
                other => SegmentRecord::from_bytes(
                    &hex::decode(other["record"].as_str().unwrap()).unwrap(),
                )
                .expect("re-signed record parses"),
            })
            .collect();
        c.set(
            "expected",
            expect_err(verify_chain(&recs, &[g.pinned.group_key()]), err, cname),
        );
        inv.push(c.done());
    }
    o.set("invalid_chains", inv);

    let r1 = records[1].to_bytes();
    let body = r1.len() - 64;
    // The final flag, after the header, plaintext_len and the two hashes;
    // the custody block follows it (§7.1).
    const FINAL_AT: usize = 7 + HEADER_LEN + 8 + 32 + 32;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "signature byte flipped",
            json!([op_xor(r1.len() - 1, &[0x01])]),
            "Segment.BadSignature",
        ),
        (
            "plaintext_len changed",
            json!([op_xor(7 + HEADER_LEN + 7, &[0x01])]),
            "Segment.BadSignature",
        ),
        (
            "final flag 2",
            json!([op_replace(FINAL_AT, &[2])]),
            "Malformed",
        ),
        (
            "custody threshold 0",
            json!([op_replace(FINAL_AT + 1 + 4, &[0, 0])]),
            "Malformed",
        ),
        (
            "custody threshold above its count",
            json!([op_replace(FINAL_AT + 1 + 4, &[0, 9])]),
            "Malformed",
        ),
        (
            "custody run starts after the segment",
            json!([op_replace(FINAL_AT + 1, &[0, 0, 0, 2])]),
            "Malformed",
        ),
        (
            "custody run starts at the segment but carries no run",
            json!([op_replace(FINAL_AT + 1, &[0, 0, 0, 1])]),
            "Truncated",
        ),
        (
            "custody share hash flipped",
            json!([op_xor(body - 1, &[0x01])]),
            "Segment.BadSignature",
        ),
        (
            "one trailing byte",
            json!([op_append(&[0])]),
            "TrailingBytes",
        ),
        ("wrong magic", json!([op_xor(0, &[0x01])]), "BadMagic"),
    ];
    let mut inv = Vec::new();
    for (i, (cname, ops, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_records", i));
        c.set("name", cname);
        c.set("base", "segments[1].record");
        let ops = c.input("mutations", ops);
        let bytes = mutate(&r1, &ops);
        c.set(
            "expected",
            expect_err(SegmentRecord::from_bytes(&bytes), err, cname),
        );
        inv.push(c.done());
    }
    o.set("invalid_records", inv);

    let b0 = &blobs[0];
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "payload byte flipped",
            json!([op_xor(HEADER_LEN + 3, &[0x01])]),
            "Segment.HashMismatch",
        ),
        (
            "header byte flipped",
            json!([op_xor(87, &[0x01])]),
            "Segment.HeaderMismatch",
        ),
        (
            "last byte missing",
            json!([op_truncate(b0.len() - 1)]),
            "Segment.LengthMismatch",
        ),
        (
            "one trailing byte",
            json!([op_append(&[0])]),
            "Segment.LengthMismatch",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, ops, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_blobs", i));
        c.set("name", cname);
        c.set(
            "base",
            "segments[0].blob, checked against segments[0].record",
        );
        let ops = c.input("mutations", ops);
        let bytes = mutate(b0, &ops);
        c.set(
            "expected",
            expect_err(verify_blob(&records[0], &bytes[..]), err, cname),
        );
        inv.push(c.done());
    }
    o.set("invalid_blobs", inv);

    (
        with_header(head, o.done()),
        RecordFix {
            device,
            epoch,
            epoch_public,
            recording_id,
            records,
            blobs,
            a: a_s,
            b: b_s,
            c: c_s,
        },
    )
}

// ---------------------------------------------------------------------------
// access.json

fn lagrange_at_zero(i: u16, set: &[u16]) -> Scalar {
    let xi = Scalar::from(i);
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for &j in set {
        if j != i {
            num *= Scalar::from(j);
            den *= Scalar::from(j) - xi;
        }
    }
    num * den.invert()
}

fn scope_json(s: &Scope) -> Value {
    match s {
        Scope::Recording {
            recording_id,
            media_start_ms,
            media_end_ms,
            include_metadata,
        } => json!({
            "type": "recording",
            "recording_id": hex::encode(recording_id.0),
            "media_start_ms": media_start_ms,
            "media_end_ms": media_end_ms,
            "include_metadata": include_metadata,
        }),
        Scope::Device {
            device_key,
            utc_start_ms,
            utc_end_ms,
            include_metadata,
        } => json!({
            "type": "device",
            "device_key": hex::encode(device_key.to_bytes()),
            "utc_start_ms": utc_start_ms,
            "utc_end_ms": utc_end_ms,
            "include_metadata": include_metadata,
        }),
    }
}

fn scope_from(v: &Value) -> Scope {
    let h = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    match v["type"].as_str().unwrap() {
        "recording" => Scope::Recording {
            recording_id: RecordingId(h("recording_id").try_into().unwrap()),
            media_start_ms: v["media_start_ms"].as_u64().unwrap(),
            media_end_ms: v["media_end_ms"].as_u64().unwrap(),
            include_metadata: v["include_metadata"].as_bool().unwrap(),
        },
        "device" => Scope::Device {
            device_key: VerifyKey::from_bytes(&h("device_key").try_into().unwrap(), "t", "k")
                .unwrap(),
            utc_start_ms: v["utc_start_ms"].as_i64().unwrap(),
            utc_end_ms: v["utc_end_ms"].as_i64().unwrap(),
            include_metadata: v["include_metadata"].as_bool().unwrap(),
        },
        other => panic!("scope type {other}"),
    }
}

/// Build a request's content from inputs; returns it with its JSON.
fn request_content(
    c: &mut Obj<'_>,
    g: &GroupFix,
    r: &RecordFix,
    scope_end: u64,
    id: [u8; 16],
) -> RequestContent {
    let request_id = c.input_n("request_id", &id);
    c.hex("group_id", g.pinned.group_id().0);
    c.set("generation", g.pinned.generation());
    let default_scope = vec![scope_json(&Scope::Recording {
        recording_id: r.recording_id,
        media_start_ms: 0,
        media_end_ms: scope_end,
        include_metadata: false,
    })];
    let scope = c.input("scope", Value::Array(default_scope));
    RequestContent {
        request_id,
        group_id: g.pinned.group_id(),
        generation: g.pinned.generation(),
        scope: scope.as_array().unwrap().iter().map(scope_from).collect(),
        purpose: c.input_str("purpose", "investigation"),
        justification: c.input_str(
            "justification",
            "complaint 2026-118: use of force during an arrest on 2026-09-21",
        ),
        legal_basis: c.input_str("legal_basis", "court order 4 Gs 118/26"),
        case_ref: c.input_str("case_ref", "CASE-2026-0118"),
        recipients: c
            .input(
                "recipients",
                json!(["investigator A. Example", "prosecutor B. Example"]),
            )
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        created_utc_ms: c.input_i64("created_utc_ms", T0 + 3_600_000),
        expires_utc_ms: c.input_i64("expires_utc_ms", T0 + 3_600_000 + 7 * 86_400_000),
    }
}

/// Copy every key of `spec` into `c` as an input (stored values win) and
/// return the resulting object.
fn inputs_from(c: &mut Obj<'_>, spec: Value) -> Value {
    let mut out = Map::new();
    // Sorted, as `json!` gives them only without serde_json's
    // `preserve_order` (see `keys_sorted`): the file's order must not
    // depend on the build's features.
    let mut fields: Vec<(String, Value)> = spec
        .as_object()
        .expect("case spec")
        .clone()
        .into_iter()
        .collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in fields {
        out.insert(k.clone(), c.input(&k, v));
    }
    Value::Object(out)
}

/// What the invalid access cases run against.
struct AccessCtx<'a> {
    g: &'a GroupFix,
    r: &'a RecordFix,
    requester: &'a PersonSecret,
    requests: [(&'static str, &'a AccessRequest); 2],
    envelopes: &'a [PartialEnvelope],
    wrap: &'a [u8],
    wrap_target: (RecordingId, VerifyKey, u32),
    release: &'a [u8],
}

impl AccessCtx<'_> {
    fn request(&self, v: &Value) -> &AccessRequest {
        let name = v.as_str().expect("request name");
        self.requests
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no request {name}"))
            .1
    }

    fn grant(&self, spec: &Value) -> GrantRef {
        GrantRef::new(
            spec["grant_log_index"].as_u64().expect("grant_log_index"),
            self.request(&spec["grant_request"]),
        )
    }

    fn indices(v: &Value) -> Vec<usize> {
        v.as_array()
            .expect("list of indices")
            .iter()
            .map(|i| i.as_u64().expect("index") as usize)
            .collect()
    }

    /// A `combine` case's inputs, combined (README: access.json).
    fn combine(&self, spec: &Value) -> obhut_core::Result<obhut_core::combine::Combined> {
        let expected: Vec<&SegmentRecord> = Self::indices(&spec["expected_segments"])
            .into_iter()
            .map(|j| &self.r.records[j])
            .collect();
        let envelopes = spec["envelopes"]
            .as_array()
            .expect("envelopes")
            .iter()
            .map(|e| {
                let base =
                    self.envelopes[e["partial"].as_u64().expect("partial") as usize].to_bytes();
                PartialEnvelope::from_bytes(&mutate(&base, &e["mutations"]))
            })
            .collect::<obhut_core::Result<Vec<_>>>()?;
        obhut_core::combine::combine(
            &self.g.pinned,
            self.request(&spec["request"]),
            &self.grant(spec),
            &expected,
            &envelopes,
            &self.requester.kem,
        )
    }

    /// Run one invalid case (README: access.json).
    fn run(&self, spec: &Value) -> obhut_core::Result<()> {
        match spec["operation"].as_str().expect("operation") {
            "custodian_partial" => {
                let i = spec["custodian"].as_u64().expect("custodian") as usize;
                let records: Vec<SegmentRecord> = Self::indices(&spec["records"])
                    .into_iter()
                    .map(|j| self.r.records[j].clone())
                    .collect();
                // The records the custodian finds custody runs in: all of
                // the recording's unless the case lists them.
                let runs: Vec<SegmentRecord> = match spec.get("runs") {
                    Some(list) => Self::indices(list)
                        .into_iter()
                        .map(|j| self.r.records[j].clone())
                        .collect(),
                    None => self.r.records.clone(),
                };
                let mut rng = Rec::new([0xee; 32]);
                let result = partial::custodian_partial(
                    &self.g.custodians[i - 1],
                    &self.g.shares[i - 1],
                    &self.g.pinned,
                    self.request(&spec["request"]),
                    &self.grant(spec),
                    &records,
                    obhut_core::partial::Runs::in_records(&runs),
                    spec["now_utc_ms"].as_i64().expect("now_utc_ms"),
                    &mut rng,
                );
                assert!(
                    result.is_ok() || rng.draws.is_empty(),
                    "a custodian refuses before drawing randomness"
                );
                result.map(|_| ())
            }
            "combine" => self.combine(spec).map(|_| ()),
            "epoch_unwrap" => {
                let bytes = mutate(self.wrap, &spec["mutations"]);
                let mut rd = Reader::new("epoch wrap", &bytes);
                let wrap = obhut_core::epoch::EpochWrap::read(&mut rd)?;
                rd.finish()?;
                let (mut rid, dk, mut idx) = self.wrap_target;
                if let Some(h) = spec.get("recording_id") {
                    rid = RecordingId(
                        hex::decode(h.as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap(),
                    );
                }
                if let Some(i) = spec.get("segment_index") {
                    idx = i.as_u64().unwrap() as u32;
                }
                self.r.epoch.unwrap(&wrap, rid, &dk, idx).map(|_| ())
            }
            "release_open" => {
                let bytes = mutate(self.release, &spec["mutations"]);
                let who = match spec["opened_by"].as_str().expect("opened_by") {
                    "requester" => self.requester,
                    other => {
                        let i: usize = other
                            .strip_prefix("custodian ")
                            .and_then(|n| n.parse().ok())
                            .unwrap_or_else(|| panic!("opened_by {other}"));
                        &self.g.custodians[i - 1]
                    }
                };
                let hash = self.requests[0].1.request_hash();
                EpochRelease::from_bytes(&bytes)?
                    .open(who, spec["grant_log_index"].as_u64().unwrap(), &hash)
                    .map(|_| ())
            }
            other => panic!("unknown operation {other}"),
        }
    }
}

fn build_access(stored: Option<&Value>, g: &GroupFix, r: &RecordFix) -> J {
    let head = header(
        "access.json",
        &[
            "Access (§8) to the recording of record.json, sealed to the group of group.json: a signed access request and its request_hash, custodian partials (plaintext and envelope) with the batched DLEQ proof's intermediate values, the combined a, an epoch wrap, an epoch release, and a passphrase-locked key file.",
            "custodian_partial draws w (64, random_scalar) for the proof, then the envelope's X-Wing encapsulation (64). ReleaseEntry::seal draws one X-Wing encapsulation (64) per entry, in entry order. EpochPublic::wrap draws one (64). locked::lock draws salt (16) then nonce (12).",
            "Partial proof (§8.3): T = SHA-512(transcript_input); weights_seed = SHA-512(\"obhut/v1/partial-proof/weights\" || 0x00 || T); d_j = Scalar(SHA-512(weights_seed || j u32)); M = Σ d_j·R_j; Z = Σ d_j·D_j; A1 = w·G; A2 = w·M; c = Scalar(SHA-512(\"obhut/v1/partial-proof\" || 0x00 || T || M || Z || A1 || A2)); z = w + c·s_i.",
            "Combine (§8.4): s·R_j = Σ λ_i·D_ij over the lowest k valid custodian indices; a_j as in kem.json. The combined a equal record.json's.",
            "invalid_partials: the custodian refuses (custodian_partial) or the requester refuses (combine) with the named error. invalid_locked_keys: unlock must fail. invalid_epoch: unwrapping or opening must fail.",
        ],
    );
    let mut o = Obj::new(stored);
    o.set(
        "uses",
        json!({"group": "group.json", "recording": "record.json", "requester": "identity.json persons[3]"}),
    );
    let mut rq = Obj::new(o.stored("requester"));
    let rname = rq.input_str("name", PERSONS[3].0);
    let rseed = rq.input_n("seed", &seed_of(PERSONS[3].1));
    let requester = person(&rname, rseed);
    rq.hex("sign_key", requester.public().sign_key.to_bytes());
    rq.hex("fingerprint", requester.public().fingerprint().0);
    o.set("requester", rq.done());

    let mut rj = Obj::new(o.stored("request"));
    let content = request_content(&mut rj, g, r, 6_000, [0x71; 16]);
    let request = content.sign(&requester).expect("sign request");
    let req_bytes = request.to_bytes();
    rj.hex("signature", request.signature());
    rj.hex("request", &req_bytes);
    let rh = labels::digest(b"obhut/v1/request-hash", &[&req_bytes]);
    assert_eq!(rh, request.request_hash());
    rj.hex("request_hash", rh);
    rj.hex("requester_fpr", request.requester_fingerprint().0);
    assert_eq!(AccessRequest::from_bytes(&req_bytes).unwrap(), request);
    o.set("request", rj.done());

    let log_index = o.input_u64("grant_log_index", 42);
    let grant = GrantRef::new(log_index, &request);
    let now = o.input_i64("now_utc_ms", T0 + 7_200_000);

    // Partials from custodians 1 and 3.
    let mut partials_json = Vec::new();
    let mut envelopes = Vec::new();
    for (pi, (idx, seed_byte)) in [(1u16, 0x91u8), (3, 0x93)].into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("partials", pi));
        let idx = c.input_u64("custodian", idx.into()) as u16;
        let seed = c.input_n("seed", &seed_of(seed_byte));
        let me = &g.custodians[idx as usize - 1];
        let share = &g.shares[idx as usize - 1];
        let mut rec = Rec::new(seed);
        let env = partial::custodian_partial(
            me,
            share,
            &g.pinned,
            &request,
            &grant,
            &r.records,
            obhut_core::partial::Runs::default(),
            now,
            &mut rec,
        )
        .expect("custodian computes a partial");
        c.set(
            "rng_draws",
            draws(
                &rec,
                &[
                    d("w (random_scalar)", 64),
                    d("envelope (X-Wing encapsulation)", 64),
                ],
            ),
        );
        let partial = env.open(&requester.kem).expect("requester opens");
        let p_i = *g.pinned.verification_share(idx).unwrap();
        c.set("P_i", pt(&p_i));
        c.set(
            "entries",
            partial
                .entries
                .iter()
                .map(|e| {
                    json!({
                        "recording_id": hex::encode(e.segment.recording.0),
                        "segment_index": e.segment.index,
                        "R": pt(&e.r),
                        "D": pt(&e.d),
                        "share_x": e.share_x,
                        "share": hex::encode(e.share),
                    })
                })
                .collect::<Vec<_>>(),
        );
        // Reconstruct the proof (§8.3).
        let mut t_in = Vec::new();
        t_in.extend_from_slice(&labels::SUITE_V1.to_be_bytes());
        t_in.extend_from_slice(&partial.group_id.0);
        t_in.extend_from_slice(&partial.generation.to_be_bytes());
        t_in.extend_from_slice(&idx.to_be_bytes());
        t_in.extend_from_slice(p_i.compress().as_bytes());
        t_in.extend_from_slice(&grant.log_index.to_be_bytes());
        t_in.extend_from_slice(&grant.request_hash);
        t_in.extend_from_slice(&partial.requester_fpr.0);
        t_in.extend_from_slice(&(partial.entries.len() as u32).to_be_bytes());
        for e in &partial.entries {
            t_in.extend_from_slice(&e.segment.recording.0);
            t_in.extend_from_slice(&e.segment.index.to_be_bytes());
            t_in.extend_from_slice(e.r.compress().as_bytes());
            t_in.extend_from_slice(e.d.compress().as_bytes());
        }
        c.hex("transcript_input", &t_in);
        let t: [u8; 64] = sha2::Sha512::digest(&t_in).into();
        c.hex("T", t);
        let wseed: [u8; 64] =
            sha2::Sha512::digest([labels::PARTIAL_PROOF_WEIGHTS, &[0u8], &t].concat()).into();
        c.hex("weights_seed", wseed);
        let weights: Vec<Scalar> = (0..partial.entries.len() as u32)
            .map(|j| hash_to_scalar(&[&wseed, &j.to_be_bytes()]))
            .collect();
        c.set("weights", weights.iter().map(sc).collect::<Vec<_>>());
        let m: RistrettoPoint = weights
            .iter()
            .zip(&partial.entries)
            .map(|(w, e)| w * e.r)
            .sum();
        let zp: RistrettoPoint = weights
            .iter()
            .zip(&partial.entries)
            .map(|(w, e)| w * e.d)
            .sum();
        c.set("M", pt(&m));
        c.set("Z", pt(&zp));
        let w = wide_scalar(&rec.draws[0]);
        c.set("w", sc(&w));
        let (a1, a2) = (w * G, w * m);
        c.set("A1", pt(&a1));
        c.set("A2", pt(&a2));
        let ch = hash_to_scalar(&[
            labels::PARTIAL_PROOF,
            &[0u8],
            &t,
            m.compress().as_bytes(),
            zp.compress().as_bytes(),
            a1.compress().as_bytes(),
            a2.compress().as_bytes(),
        ]);
        assert_eq!(ch, partial.proof_c);
        let s_i = {
            let x = Scalar::from(idx);
            g.coefficients
                .iter()
                .rev()
                .fold(Scalar::ZERO, |acc, a| acc * x + a)
        };
        assert_eq!(partial.proof_z, w + ch * s_i);
        for e in &partial.entries {
            assert_eq!(e.d, s_i * e.r);
        }
        c.set("proof_c", sc(&partial.proof_c));
        c.set("proof_z", sc(&partial.proof_z));
        c.hex("signature", partial.signature);
        c.hex("partial", partial.to_bytes());
        let mut aad = Writer::with_preamble(
            labels::magic::PARTIAL_ENVELOPE,
            labels::VERSION,
            labels::SUITE_V1,
        );
        aad.u16(idx).bytes(&grant.request_hash);
        c.hex("envelope_aad", aad.as_slice());
        c.hex("envelope", env.to_bytes());
        assert_eq!(PartialEnvelope::from_bytes(&env.to_bytes()).unwrap(), env);
        partials_json.push(c.done());
        envelopes.push(env);
    }
    o.set("partials", partials_json);

    let expected: Vec<&SegmentRecord> = r.records.iter().collect();
    let combined = obhut_core::combine::combine(
        &g.pinned,
        &request,
        &grant,
        &expected,
        &envelopes,
        &requester.kem,
    )
    .expect("combine");
    assert!(combined.rejected.is_empty());
    let combined = combined.keys;
    let set = [1u16, 3];
    let lambdas: Vec<Scalar> = set.iter().map(|i| lagrange_at_zero(*i, &set)).collect();
    let mut cj = Obj::new(o.stored("combine"));
    cj.set("custodians", json!(set));
    cj.set("lagrange", lambdas.iter().map(sc).collect::<Vec<_>>());
    let mut segs = Vec::new();
    for (j, ((seg, a, c_value), rec)) in combined.iter().zip(&r.records).enumerate() {
        let r_j = point_from(&rec.header().fields.capsule.r);
        let s_r = g.coefficients[0] * r_j;
        let d1 = envelopes[0].open(&requester.kem).unwrap().entries[j].d;
        let d3 = envelopes[1].open(&requester.kem).unwrap().entries[j].d;
        assert_eq!(lambdas[0] * d1 + lambdas[1] * d3, s_r);
        assert_eq!(a.expose(), r.a[j].expose());
        assert_eq!(c_value.expose(), r.c[j].expose());
        segs.push(json!({
            "segment_index": seg.index,
            "sR": pt(&s_r),
            "a": hex::encode(a.expose()),
            "c": hex::encode(c_value.expose()),
        }));
    }
    cj.set("segments", segs);
    o.set("combine", cj.done());

    // A partial its custodian signed but whose proof fails (§8.4): custodian
    // 1's partial with D of its first entry replaced by D + G, re-signed by
    // custodian 1, sealed afresh to the requester.
    let mut tj = Obj::new(o.stored("tampered_partial"));
    tj.set(
        "description",
        "partials[0] with entries[0].D replaced by D + G (G the ristretto255 base point), signed again by custodian 1 and sealed to the requester: signature valid, proof invalid (Partial.BadProof, signed).",
    );
    let tseed = tj.input_n("seed", &[0x9d; 32]);
    let mut tampered = envelopes[0].open(&requester.kem).expect("open partials[0]");
    tampered.entries[0].d += G;
    tampered.sign(&g.custodians[0].sign);
    let mut rec = Rec::new(tseed);
    let tenv = PartialEnvelope::seal(&tampered, &request, &mut rec);
    tj.set("rng_draws", draws(&rec, &[d("envelope (HPKE)", 64)]));
    tj.hex("partial", tampered.to_bytes());
    tj.hex("envelope", tenv.to_bytes());
    o.set("tampered_partial", tj.done());

    // Custodian 3's partial with one share of c altered (Partial.BadShare,
    // signed), and with one share withheld (share_x 0: too few shares of
    // that segment's c for a combine with custodian 1).
    let mut share_cases = Vec::new();
    for (name, seed_byte, alter) in [
        (
            "tampered_share",
            0x9e,
            (|p: &mut obhut_core::partial::Partial| p.entries[1].share[0] ^= 0x01)
                as fn(&mut obhut_core::partial::Partial),
        ),
        (
            "withheld_share",
            0x9f,
            |p: &mut obhut_core::partial::Partial| {
                p.entries[2].share_x = 0;
                p.entries[2].share = [0; 32];
            },
        ),
    ] {
        let mut sj = Obj::new(o.stored(name));
        sj.set(
            "description",
            if name == "tampered_share" {
                "partials[1] (custodian 3) with the first byte of entries[1].share flipped, signed again by custodian 3 and sealed to the requester: its share no longer matches the record's share hash (Partial.BadShare naming segment 1, signed)."
            } else {
                "partials[1] (custodian 3) with entries[2] carrying no share (share_x 0, share zeros), signed again and sealed: with custodian 1's partial, segment 2's c has one share of the two it needs (Segment.TooFewShares)."
            },
        );
        let seed = sj.input_n("seed", &[seed_byte; 32]);
        let mut p = envelopes[1].open(&requester.kem).expect("open partials[1]");
        alter(&mut p);
        p.sign(&g.custodians[2].sign);
        let mut rec = Rec::new(seed);
        let env = PartialEnvelope::seal(&p, &request, &mut rec);
        sj.set("rng_draws", draws(&rec, &[d("envelope (HPKE)", 64)]));
        sj.hex("partial", p.to_bytes());
        sj.hex("envelope", env.to_bytes());
        o.set(name, sj.done());
        share_cases.push(env);
    }

    // The epoch release of b for the grant, and a standalone epoch wrap.
    let mut ew = Obj::new(o.stored("epoch_wrap"));
    ew.set("epoch", "record.json epoch.epoch_public");
    let b = Secret32::new(ew.input_n("b", &[0x81; 32]));
    let rid = RecordingId(ew.input_n("recording_id", &r.recording_id.0));
    let dk = VerifyKey::from_bytes(
        &ew.input_n("device_key", &r.device.public().sign_key.to_bytes()),
        "t",
        "k",
    )
    .unwrap();
    let idx = ew.input_u64("segment_index", 9) as u32;
    let seed = ew.input_n("seed", &seed_of(0xa0));
    let mut rec = Rec::new(seed);
    let wrap = r.epoch_public.wrap(&b, rid, &dk, idx, &mut rec);
    ew.set("rng_draws", draws(&rec, &[d("X-Wing encapsulation", 64)]));
    ew.hex(
        "info",
        [labels::EPOCH_WRAP_INFO, &r.epoch_public.epoch_id.0[..]].concat(),
    );
    ew.hex(
        "aad",
        [&rid.0[..], &dk.to_bytes(), &idx.to_be_bytes()].concat(),
    );
    let mut w = Writer::new();
    wrap.encode(&mut w);
    let wrap_bytes = w.into_vec();
    ew.hex("wrap", &wrap_bytes);
    assert_eq!(r.epoch.unwrap(&wrap, rid, &dk, idx).unwrap(), b);
    o.set("epoch_wrap", ew.done());

    let mut er = Obj::new(o.stored("epoch_release"));
    let seed = er.input_n("seed", &seed_of(0xa1));
    let mut rec = Rec::new(seed);
    let entries: Vec<ReleaseEntry> = r
        .records
        .iter()
        .zip(&r.b)
        .map(|(rc, b)| {
            ReleaseEntry::seal(
                b,
                rc.segment_ref(),
                &grant.request_hash,
                request.requester_kem(),
                &mut rec,
            )
        })
        .collect();
    let expected_draws: Vec<(String, usize)> = (0..entries.len())
        .map(|i| d(&format!("entry {i} (X-Wing encapsulation)"), 64))
        .collect();
    er.set("rng_draws", draws(&rec, &expected_draws));
    er.set(
        "entries_aad",
        r.records
            .iter()
            .map(|rc| {
                let s = rc.segment_ref();
                hex::encode(
                    [
                        &grant.request_hash[..],
                        &s.recording.0,
                        &s.index.to_be_bytes(),
                    ]
                    .concat(),
                )
            })
            .collect::<Vec<_>>(),
    );
    let release = EpochRelease {
        grant_log_index: grant.log_index,
        request_hash: grant.request_hash,
        requester_fpr: request.requester_fingerprint(),
        entries,
    };
    let rel_bytes = release.to_bytes();
    er.hex("release", &rel_bytes);
    let opened = EpochRelease::from_bytes(&rel_bytes)
        .unwrap()
        .open(&requester, grant.log_index, &grant.request_hash)
        .expect("requester opens the release");
    er.set(
        "b",
        opened
            .iter()
            .map(|(_, b)| hex::encode(b.expose()))
            .collect::<Vec<_>>(),
    );
    for ((_, b), want) in opened.iter().zip(&r.b) {
        assert_eq!(b, want);
    }
    o.set("epoch_release", er.done());

    // End to end: the requester opens every segment with the grant's keys.
    let refs: Vec<&SegmentRecord> = r.records.iter().collect();
    let keys = GrantKeys::recover(
        &g.pinned, &request, &grant, &refs, &envelopes, &release, &requester,
    )
    .expect("recover grant keys");
    for (rc, blob) in r.records.iter().zip(&r.blobs) {
        let mut out = Vec::new();
        keys.open_segment(rc, &blob[..], &mut out)
            .expect("open segment");
        assert_eq!(out, plaintext(rc.plaintext_len() as usize));
    }

    // A locked key file.
    let mut lk = Obj::new(o.stored("locked_key"));
    lk.set(
        "content",
        "OBPS (the requester's PersonSecret, identity.json persons[3].person_secret)",
    );
    let secret = SecretBytes::new(lk.input_hex("secret", requester.to_secret_bytes().expose()));
    let pass = lk.input_str("passphrase", "correct horse battery staple");
    let params = KdfParams {
        m_kib: lk.input_u64("m_kib", KdfParams::MINIMUM.m_kib.into()) as u32,
        t: lk.input_u64("t", KdfParams::MINIMUM.t.into()) as u32,
        p: lk.input_u64("p", KdfParams::MINIMUM.p.into()) as u32,
    };
    let seed = lk.input_n("seed", &seed_of(0xa2));
    let mut rec = Rec::new(seed);
    let file =
        locked::lock(Content::Person, &secret, pass.as_bytes(), params, &mut rec).expect("lock");
    lk.set("rng_draws", draws(&rec, &[d("salt", 16), d("nonce", 12)]));
    let salt: [u8; 16] = rec.draws[0].clone().try_into().unwrap();
    let mut key = [0u8; 32];
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(params.m_kib, params.t, params.p, Some(32)).unwrap(),
    )
    .hash_password_into(pass.as_bytes(), &salt, &mut key)
    .unwrap();
    lk.hex("argon2id_key", key);
    let header_len = 7 + 4 + 12 + 16 + 12;
    lk.hex(
        "aad",
        labels::signed_message(labels::LOCKED_KEY, &file[..header_len]),
    );
    lk.hex("file", &file);
    let (content, back) = locked::unlock(&file, pass.as_bytes()).expect("unlock");
    assert_eq!(content, Content::Person);
    assert_eq!(back.expose(), secret.expose());
    let cases: Vec<(&str, Value, Option<&str>, &str)> = vec![
        (
            "wrong passphrase",
            json!([]),
            Some("correct horse battery stapler"),
            "WrongPassphrase",
        ),
        (
            "content magic changed to OBDS",
            json!([op_replace(7, b"OBDS")]),
            None,
            "WrongPassphrase",
        ),
        (
            "salt byte flipped",
            json!([op_xor(7 + 16, &[0x01])]),
            None,
            "WrongPassphrase",
        ),
        (
            "sealed byte flipped",
            json!([op_xor(file.len() - 1, &[0x01])]),
            None,
            "WrongPassphrase",
        ),
        (
            "m_kib = 4096 (below 8 MiB)",
            json!([op_replace(11, &4096u32.to_be_bytes())]),
            None,
            "WeakKdfParameters",
        ),
        (
            "m_kib = 2^32 - 1 (above 4 GiB)",
            json!([op_replace(11, &u32::MAX.to_be_bytes())]),
            None,
            "WeakKdfParameters",
        ),
        (
            "t = 0",
            json!([op_replace(15, &0u32.to_be_bytes())]),
            None,
            "WeakKdfParameters",
        ),
        (
            "p = 17",
            json!([op_replace(19, &17u32.to_be_bytes())]),
            None,
            "WeakKdfParameters",
        ),
        (
            "unknown content magic",
            json!([op_replace(7, b"OBXX")]),
            None,
            "Malformed",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, ops, other_pass, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(lk.stored_item("invalid", i));
        c.set("name", cname);
        let ops = c.input("mutations", ops);
        let p = match other_pass {
            Some(p) => c.input_str("passphrase", p),
            None => pass.clone(),
        };
        let bytes = mutate(&file, &ops);
        c.set(
            "expected",
            expect_err(locked::unlock(&bytes, p.as_bytes()), err, cname),
        );
        inv.push(c.done());
    }
    lk.set("invalid", inv);
    o.set("locked_key", lk.done());

    // §8.6: custodian 1's signed approval of the request, its `approved`
    // log entry (§12), and decisions a reader must refuse.
    let mut dj = Obj::new(o.stored("decision"));
    dj.set(
        "signed_by",
        "group.json custodian 1 (persons[0]); Ed25519 is deterministic, so no draws",
    );
    let vault: [u8; 32] = dj
        .input_hex("vault", &[0x5a; 32])
        .try_into()
        .expect("vault: 32 bytes");
    let approval = DecisionContent {
        verdict: Verdict::Approve,
        vault,
        request_hash: request.request_hash(),
        request_index: dj.input_u64("request_index", 41),
        custodian: 1,
        segments: dj.input_u64("segments", 2) as u32,
        time_ms: dj.input_u64("time_ms", 1_767_000_000_000) as i64,
        reason: String::new(),
    }
    .sign(&g.custodians[0].sign)
    .expect("sign decision");
    let dbytes = approval.to_bytes();
    dj.hex("approval", &dbytes);
    assert_eq!(Decision::from_bytes(&dbytes).expect("verifies"), approval);
    let entry = LogEntry {
        time_ms: dj.input_u64("entry_time_ms", 1_767_000_000_500) as i64,
        actor: Actor {
            role: Role::Person,
            key: g.custodians[0].sign.verify_key().to_bytes(),
        },
        recording: Some(r.recording_id),
        event: Event::Approved {
            decision: approval.clone(),
        },
    };
    let ebytes = entry.to_bytes().expect("entry");
    dj.hex("approved_entry", &ebytes);
    let sig_at = dbytes.len() - 64;
    // verdict at 7; custodian at 7 + 1 + 32 + 32 + 8.
    let custodian_at = 7 + 1 + 32 + 32 + 8;
    let segments_at = custodian_at + 2;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "signature byte flipped",
            json!([op_xor(sig_at, &[0x01])]),
            "BadSignature",
        ),
        (
            "custodian index changed (signature no longer covers it)",
            json!([op_replace(custodian_at, &2u16.to_be_bytes())]),
            "BadSignature",
        ),
        (
            "unknown verdict 4",
            json!([op_replace(7, &[4])]),
            "Malformed",
        ),
        (
            "an approval of zero segments (checked before the signature)",
            json!([op_replace(segments_at, &0u32.to_be_bytes())]),
            "Malformed",
        ),
        (
            "last byte cut",
            json!([op_truncate(dbytes.len() - 1)]),
            "Truncated",
        ),
        ("a byte appended", json!([op_append(&[0])]), "TrailingBytes"),
        ("magic OBDX", json!([op_replace(0, b"OBDX")]), "BadMagic"),
    ];
    let mut inv = Vec::new();
    for (i, (cname, ops, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(dj.stored_item("invalid", i));
        c.set("name", cname);
        let ops = c.input("mutations", ops);
        let bytes = mutate(&dbytes, &ops);
        c.set(
            "expected",
            expect_err(Decision::from_bytes(&bytes), err, cname),
        );
        inv.push(c.done());
    }
    dj.set("invalid", inv);
    // The same decision logged under another actor: the entry is refused.
    let mut other = entry.clone();
    other.actor.key = g.custodians[1].sign.verify_key().to_bytes();
    let obytes = other.to_bytes().expect("entry");
    let mut c = Obj::new(dj.stored("invalid_entry"));
    c.set(
        "name",
        "approved entry whose actor is custodian 2, not the signer",
    );
    c.hex("entry", &obytes);
    c.set(
        "expected",
        expect_err(LogEntry::from_bytes(&obytes), "Malformed", "invalid_entry"),
    );
    dj.set("invalid_entry", c.done());
    o.set("decision", dj.done());

    // Refusals and combine failures.
    let mut narrow_j = Obj::new(o.stored("request_narrow"));
    let narrow = request_content(&mut narrow_j, g, r, 3_000, [0x72; 16])
        .sign(&requester)
        .expect("sign");
    narrow_j.hex("request", narrow.to_bytes());
    o.set("request_narrow", narrow_j.done());
    let env1_len = envelopes[0].to_bytes().len();
    let ctx = AccessCtx {
        g,
        r,
        requester: &requester,
        requests: [("request", &request), ("request_narrow", &narrow)],
        envelopes: &[
            envelopes[0].clone(),
            envelopes[1].clone(),
            tenv,
            share_cases[0].clone(),
            share_cases[1].clone(),
        ],
        wrap: &wrap_bytes,
        wrap_target: (rid, dk, idx),
        release: &rel_bytes,
    };
    let all = json!([0, 1, 2]);
    let plain = |p: usize| json!({"partial": p, "mutations": []});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "custodian 1 asked after expiry (now = expires_utc_ms)",
            json!({"operation": "custodian_partial", "custodian": 1, "request": "request",
                   "grant_log_index": log_index, "grant_request": "request", "records": all,
                   "now_utc_ms": request.expires_utc_ms}),
            "Refused.Expired",
        ),
        (
            "custodian 1 asked under request_narrow (media 0..3000): segment 1 is out of scope",
            json!({"operation": "custodian_partial", "custodian": 1, "request": "request_narrow",
                   "grant_log_index": log_index + 1, "grant_request": "request_narrow",
                   "records": all, "now_utc_ms": now}),
            "Refused.OutOfScope",
        ),
        (
            "custodian 1 given segment 0 twice",
            json!({"operation": "custodian_partial", "custodian": 1, "request": "request",
                   "grant_log_index": log_index, "grant_request": "request", "records": [0, 0],
                   "now_utc_ms": now}),
            "Refused.DuplicateSegment",
        ),
        (
            "custodian 1 given a grant naming request_narrow's hash",
            json!({"operation": "custodian_partial", "custodian": 1, "request": "request",
                   "grant_log_index": log_index, "grant_request": "request_narrow",
                   "records": all, "now_utc_ms": now}),
            "Refused.GrantMismatch",
        ),
        (
            "custodian 1 given segments 1 and 2 without the record that starts their custody run (segment 0)",
            json!({"operation": "custodian_partial", "custodian": 1, "request": "request",
                   "grant_log_index": log_index, "grant_request": "request", "records": [1, 2],
                   "runs": [1, 2], "now_utc_ms": now}),
            "Refused.MissingRun",
        ),
        (
            "combine with custodian 1's partial and custodian 3's with a share of c altered (tampered_share)",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(0), plain(3)]}),
            "NotEnoughPartials",
        ),
        (
            "combine with custodian 1's partial and custodian 3's withholding segment 2's share (withheld_share)",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(0), plain(4)]}),
            "Segment.TooFewShares",
        ),
        (
            "combine with only custodian 1's partial",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(0)]}),
            "NotEnoughPartials",
        ),
        (
            "combine with custodian 1's partial twice (counts once)",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(0), plain(0)]}),
            "NotEnoughPartials",
        ),
        (
            "combine with custodian 1's envelope's last sealed byte flipped",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [{"partial": 0, "mutations": [op_xor(env1_len - 1, &[0x01])]}, plain(1)]}),
            "NotEnoughPartials",
        ),
        (
            "combine with custodian 1's envelope relabelled as custodian 2's",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [{"partial": 0, "mutations": [op_replace(7, &2u16.to_be_bytes())]}, plain(1)]}),
            "NotEnoughPartials",
        ),
        (
            "combine expecting segments 0 and 1 only (the partials cover 0, 1, 2)",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": [0, 1],
                   "envelopes": [plain(0), plain(1)]}),
            "NotEnoughPartials",
        ),
        (
            "combine under another grant log index",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index + 1,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(0), plain(1)]}),
            "NotEnoughPartials",
        ),
        (
            "combine with custodian 1's tampered partial (signed, proof fails) and custodian 3's",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(2), plain(1)]}),
            "NotEnoughPartials",
        ),
        (
            "combine with custodian 1's envelope relabelled as custodian 9's (not in the group) and custodian 3's",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [{"partial": 0, "mutations": [op_replace(7, &9u16.to_be_bytes())]}, plain(1)]}),
            "NotEnoughPartials",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, spec, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_partials", i));
        c.set("name", cname);
        let spec = inputs_from(&mut c, spec);
        c.set("expected", expect_err(ctx.run(&spec), err, cname));
        inv.push(c.done());
    }
    o.set("invalid_partials", inv);

    // Combines that succeed although some partials fail (§8.4): the bad
    // ones are skipped and reported, the a values are combine's.
    let cases: Vec<(&str, Value)> = vec![
        (
            "custodian 1's tampered partial (signed, proof fails), then custodian 1's and custodian 3's",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(2), plain(0), plain(1)]}),
        ),
        (
            "custodian 3's partial with a share of c altered (tampered_share), then custodian 1's and custodian 3's",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [plain(3), plain(0), plain(1)]}),
        ),
        (
            "custodian 3's envelope with its last sealed byte flipped, custodian 1's, custodian 3's",
            json!({"operation": "combine", "request": "request", "grant_log_index": log_index,
                   "grant_request": "request", "expected_segments": all,
                   "envelopes": [{"partial": 1, "mutations": [op_xor(envelopes[1].to_bytes().len() - 1, &[0x01])]},
                                 plain(0), plain(1)]}),
        ),
    ];
    let mut ok = Vec::new();
    for (i, (cname, spec)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("combine_with_rejected", i));
        c.set("name", cname);
        let spec = inputs_from(&mut c, spec);
        let out = ctx
            .combine(&spec)
            .unwrap_or_else(|e| panic!("{cname}: {e}"));
        assert!(!out.rejected.is_empty(), "{cname}: nothing rejected");
        for (((_, a, c_value), want), want_c) in out.keys.iter().zip(&r.a).zip(&r.c) {
            assert_eq!(a.expose(), want.expose(), "{cname}");
            assert_eq!(c_value.expose(), want_c.expose(), "{cname}");
        }
        c.set(
            "expected",
            json!({"a": "combine.segments[*].a", "rejected": rejected_json(&out.rejected)}),
        );
        ok.push(c.done());
    }
    o.set("combine_with_rejected", ok);

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "epoch_wrap unwrapped for segment index 10 instead of 9",
            json!({"operation": "epoch_unwrap", "mutations": [], "segment_index": idx + 1}),
            "DecryptionFailed",
        ),
        (
            "epoch_wrap unwrapped for another recording",
            json!({"operation": "epoch_unwrap", "mutations": [],
                   "recording_id": hex::encode([0x62u8; 16])}),
            "DecryptionFailed",
        ),
        (
            "epoch_wrap ciphertext byte flipped",
            json!({"operation": "epoch_unwrap", "mutations": [op_xor(wrap_bytes.len() - 1, &[0x01])]}),
            "DecryptionFailed",
        ),
        (
            "epoch_wrap naming another epoch id",
            json!({"operation": "epoch_unwrap", "mutations": [op_xor(0, &[0x01])]}),
            "Malformed",
        ),
        (
            "epoch_release opened by custodian 1 instead of the requester",
            json!({"operation": "release_open", "mutations": [], "opened_by": "custodian 1",
                   "grant_log_index": log_index}),
            "Malformed",
        ),
        (
            "epoch_release opened for another grant log index",
            json!({"operation": "release_open", "mutations": [], "opened_by": "requester",
                   "grant_log_index": log_index + 1}),
            "Malformed",
        ),
        (
            "epoch_release with the last entry's ciphertext altered",
            json!({"operation": "release_open", "mutations": [op_xor(rel_bytes.len() - 1, &[0x01])],
                   "opened_by": "requester", "grant_log_index": log_index}),
            "DecryptionFailed",
        ),
        (
            "epoch_release with entry count 0",
            json!({"operation": "release_open", "mutations": [op_replace(7 + 8 + 32 + 32, &0u32.to_be_bytes())],
                   "opened_by": "requester", "grant_log_index": log_index}),
            "Malformed",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, spec, err)) in cases.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid_epoch", i));
        c.set("name", cname);
        let spec = inputs_from(&mut c, spec);
        c.set("expected", expect_err(ctx.run(&spec), err, cname));
        inv.push(c.done());
    }
    o.set("invalid_epoch", inv);
    with_header(head, o.done())
}

// ---------------------------------------------------------------------------
// rewrap.json: the re-wrap side structure (§5.5).

/// Offset of the reason byte in an `EpochRewrap`.
const REWRAP_REASON_AT: usize = 7 + 16 + 32 + 4 + 32;

fn build_rewrap(stored: Option<&Value>, r: &RecordFix) -> J {
    let head = header(
        "rewrap.json",
        &[
            "The re-wrap side structure (§5.5): the epoch part b of record.json's segments, unwrapped with record.json's epoch secret from the header's epoch_wrap and wrapped again to a new epoch key, without touching header, blob or record.",
            "EpochSecret::generate draws kem_seed (32); EpochRewrap::seal draws one X-Wing encapsulation (64). info = \"obhut/v1/epoch-rewrap\" || new_epoch_id; aad = the re-wrap's bytes from the magic through new_epoch_id (108 bytes); plaintext b.",
            "invalid: `parse` mutates cases[0].rewrap and parses it; `unwrap` parses the mutated cases[0].rewrap, then unwraps it against the header (record.json segments[header].record's header, with header_mutations applied to its 1452 bytes, then parsed) with the secret named by `secret` (new_epoch, or record.json's epoch). Checks in order: segment (recording, device, index), header hash, epoch id, then HPKE (DecryptionFailed).",
        ],
    );
    let mut o = Obj::new(stored);
    o.set(
        "uses",
        json!({"recording": "record.json", "old_epoch": "record.json epoch"}),
    );

    let mut ne = Obj::new(o.stored("new_epoch"));
    let eid = EpochId(ne.input_n("epoch_id", &[0x5e; 16]));
    let class = ne.input_str("retention_class", "legal-hold");
    let nb = ne.input_i64("not_before", T0);
    let na = ne.input_i64("not_after", T0 + 10 * 365 * 86_400_000);
    let seed = ne.input_n("seed", &seed_of(0xb0));
    let mut rec = Rec::new(seed);
    let new = EpochSecret::generate(eid, &mut rec);
    ne.set("rng_draws", draws(&rec, &[d("kem_seed", 32)]));
    let new_pub = new.public(&class, nb, na);
    ne.hex("epoch_public", new_pub.to_bytes());
    o.set("new_epoch", ne.done());

    let record_header = |i: usize| r.records[i].header().clone();
    let mut cases = Vec::new();
    let mut first = Vec::new();
    for (ci, (seg_default, reason_default, seed_byte)) in
        [(0u64, 1u64, 0xb1u8), (2, 2, 0xb2)].into_iter().enumerate()
    {
        let mut c = Obj::new(o.stored_item("cases", ci));
        let si = c.input_u64("segment", seg_default) as usize;
        let reason = RewrapReason::from_u8(c.input_u64("reason", reason_default) as u8)
            .expect("a defined reason");
        let seed = c.input_n("seed", &seed_of(seed_byte));
        let h = record_header(si);
        let fields = &h.fields;
        c.hex("header_hash", h.header_hash());
        let b = r
            .epoch
            .unwrap(
                &fields.epoch_wrap,
                fields.recording_id,
                &fields.device_key,
                fields.segment_index,
            )
            .expect("record.json's epoch unwraps its own segment");
        assert_eq!(b.expose(), r.b[si].expose());
        c.hex("b", b.expose());
        let mut rec = Rec::new(seed);
        let rw = EpochRewrap::seal(&b, &h, reason, &new_pub, &mut rec);
        c.set("rng_draws", draws(&rec, &[d("X-Wing encapsulation", 64)]));
        c.hex("info", [labels::EPOCH_REWRAP_INFO, &eid.0[..]].concat());
        let bytes = rw.to_bytes();
        c.hex("aad", &bytes[..REWRAP_AAD_LEN]);
        c.hex("rewrap", &bytes);
        assert_eq!(bytes.len(), REWRAP_LEN);
        assert_eq!(EpochRewrap::from_bytes(&bytes).unwrap(), rw);
        assert_eq!(rw.unwrap(&h, &new).unwrap().expose(), b.expose());
        if ci == 0 {
            first = bytes;
        }
        cases.push(c.done());
    }
    o.set("cases", cases);

    let identity_point = {
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    };
    let capture_at = 7 + 1 + 16 + 32 + 4 + 4 + 8 + 8;
    let parse = |m: Value| json!({"operation": "parse", "mutations": m});
    let unwrap = |m: Value, header: usize, hm: Value, secret: &str| {
        json!({"operation": "unwrap", "mutations": m, "header": header,
               "header_mutations": hm, "secret": secret})
    };
    let specs: Vec<(&str, Value, &str)> = vec![
        (
            "one byte short",
            parse(json!([op_truncate(REWRAP_LEN - 1)])),
            "Truncated",
        ),
        (
            "one byte appended",
            parse(json!([op_append(&[0])])),
            "TrailingBytes",
        ),
        (
            "wrong magic",
            parse(json!([op_replace(0, b"OBRX")])),
            "BadMagic",
        ),
        (
            "version 2",
            parse(json!([op_replace(4, &[2])])),
            "UnsupportedVersion",
        ),
        (
            "suite 0x0002",
            parse(json!([op_replace(5, &[0, 2])])),
            "UnsupportedSuite",
        ),
        (
            "reason 0",
            parse(json!([op_replace(REWRAP_REASON_AT, &[0])])),
            "Malformed",
        ),
        (
            "reason 3",
            parse(json!([op_replace(REWRAP_REASON_AT, &[3])])),
            "Malformed",
        ),
        (
            "device key of small order (the identity, y = 1)",
            parse(json!([op_replace(23, &identity_point)])),
            "InvalidSigningKey",
        ),
        (
            "used with segment 1's header",
            unwrap(json!([]), 1, json!([]), "new_epoch"),
            "Rewrap.WrongSegment",
        ),
        (
            "used with segment 1's header and the old epoch's secret: the segment is checked first",
            unwrap(json!([]), 1, json!([]), "record_epoch"),
            "Rewrap.WrongSegment",
        ),
        (
            "segment_index changed to 1",
            unwrap(
                json!([op_replace(55, &1u32.to_be_bytes())]),
                0,
                json!([]),
                "new_epoch",
            ),
            "Rewrap.WrongSegment",
        ),
        (
            "used with segment 0's header re-timed (capture_utc_ms + 1): same segment, another header",
            unwrap(
                json!([]),
                0,
                json!([op_xor(capture_at + 7, &[1])]),
                "record_epoch",
            ),
            "Rewrap.HeaderMismatch",
        ),
        (
            "unwrapped with the old epoch's secret",
            unwrap(json!([]), 0, json!([]), "record_epoch"),
            "Rewrap.WrongEpoch",
        ),
        (
            "new_epoch_id altered",
            unwrap(
                json!([op_xor(REWRAP_REASON_AT + 1, &[1])]),
                0,
                json!([]),
                "new_epoch",
            ),
            "Rewrap.WrongEpoch",
        ),
        (
            "reason changed from split (1) to hold (2): bound in the aad",
            unwrap(
                json!([op_replace(REWRAP_REASON_AT, &[2])]),
                0,
                json!([]),
                "new_epoch",
            ),
            "DecryptionFailed",
        ),
        (
            "last ciphertext byte flipped",
            unwrap(
                json!([op_xor(REWRAP_LEN - 1, &[1])]),
                0,
                json!([]),
                "new_epoch",
            ),
            "DecryptionFailed",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, spec, err)) in specs.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid", i));
        c.set("name", cname);
        let spec = c.input("input", spec);
        let bytes = mutate(&first, &spec["mutations"]);
        let result = match spec["operation"].as_str().expect("operation") {
            "parse" => EpochRewrap::from_bytes(&bytes).map(|_| ()),
            "unwrap" => {
                let hi = spec["header"].as_u64().expect("header") as usize;
                let hb = mutate(&record_header(hi).to_bytes(), &spec["header_mutations"]);
                let h = SegmentHeader::from_bytes(&hb).expect("the mutated header parses");
                let secret = match spec["secret"].as_str().expect("secret") {
                    "new_epoch" => &new,
                    "record_epoch" => &r.epoch,
                    other => panic!("unknown secret {other}"),
                };
                EpochRewrap::from_bytes(&bytes).and_then(|rw| rw.unwrap(&h, secret).map(|_| ()))
            }
            other => panic!("unknown operation {other}"),
        };
        c.set("expected", expect_err(result, err, cname));
        inv.push(c.done());
    }
    o.set("invalid", inv);
    with_header(head, o.done())
}

/// The metadata patch (§7.4): no keys, no randomness.
fn build_patch(stored: Option<&Value>) -> J {
    let head = header(
        "patch.json",
        &[
            "The metadata patch (§7.4): the original bytes of the descriptive metadata a cutter blanked out of an MP4, each at its file offset, as the plaintext of a kind-2 segment. No keys and no randomness: the inputs are file_len and the entries.",
            "valid: `patch` is the encoding of file_len and entries; `applied_sha256` is the SHA-256 of the plaintext of file_len bytes (byte i = i mod 251) with every entry's data written at its offset.",
            "invalid: `parse` mutates `patch` and parses it (structure left to right, then entry by entry Patch.OutOfBounds before Patch.Overlap); `apply` parses `patch` unchanged and applies it to a file of `file_len` bytes (Patch.LengthMismatch).",
        ],
    );
    let mut o = Obj::new(stored);
    let file_len = o.input_u64("file_len", 4096);
    let udta = [&[0, 0, 0, 16][..], b"udta", b"OFFICER1"].concat();
    let e0 = o.input_hex("entry_0_data", &udta);
    let e1 = o.input_hex("entry_1_data", b"\0\x02AB\0\x02CD");
    let off0 = o.input_u64("entry_0_offset", 40);
    let off1 = o.input_u64("entry_1_offset", 1000);
    let p = MetadataPatch::new(
        file_len,
        vec![
            PatchEntry {
                offset: off0,
                data: &e0,
            },
            PatchEntry {
                offset: off1,
                data: &e1,
            },
        ],
    )
    .expect("a valid patch");
    let bytes = p.to_bytes();
    assert_eq!(MetadataPatch::parse(&bytes).expect("parses"), p);
    o.hex("patch", &bytes);
    let mut file = plaintext(file_len as usize);
    p.apply_window(0, &mut file);
    o.hex("applied_sha256", sha2::Sha256::digest(&file));

    // Offsets in `patch`: preamble 0..7, file_len 7..15, entry_count
    // 15..19, entry 0 at 19 (offset, length, 16 bytes of data), entry 1
    // at 47.
    let (e0_at, e1_at) = (19usize, 19 + 12 + e0.len());
    let parse = |m: Value| json!({"operation": "parse", "mutations": m});
    let apply = |len: u64| json!({"operation": "apply", "file_len": len});
    let specs: Vec<(&str, Value, &str)> = vec![
        (
            "one byte short",
            parse(json!([op_truncate(bytes.len() - 1)])),
            "Truncated",
        ),
        (
            "one byte appended",
            parse(json!([op_append(&[0])])),
            "TrailingBytes",
        ),
        (
            "wrong magic",
            parse(json!([op_replace(0, b"OBMX")])),
            "BadMagic",
        ),
        (
            "version 2",
            parse(json!([op_replace(4, &[2])])),
            "UnsupportedVersion",
        ),
        (
            "suite 0x0002",
            parse(json!([op_replace(5, &[0, 2])])),
            "UnsupportedSuite",
        ),
        (
            "entry_count 0 (checked before the entries that follow)",
            parse(json!([op_replace(15, &0u32.to_be_bytes())])),
            "Malformed",
        ),
        (
            "entry_count 3, two entries present",
            parse(json!([op_replace(15, &3u32.to_be_bytes())])),
            "Truncated",
        ),
        (
            "entry 0's data length above 64 MiB (checked on the prefix)",
            parse(json!([op_replace(
                e0_at + 8,
                &((64u32 << 20) + 1).to_be_bytes()
            )])),
            "FieldTooLong",
        ),
        (
            "entry 0's data empty: its bytes then read as entry 1",
            parse(json!([op_replace(e0_at + 8, &0u32.to_be_bytes())])),
            "Malformed",
        ),
        (
            "entry 1 starts inside entry 0",
            parse(json!([op_replace(e1_at, &(off0 + 1).to_be_bytes())])),
            "Patch.Overlap",
        ),
        (
            "entry 1 before entry 0 (not sorted)",
            parse(json!([op_replace(e1_at, &0u64.to_be_bytes())])),
            "Patch.Overlap",
        ),
        (
            "entry 1 ends one byte past file_len",
            parse(json!([op_replace(
                e1_at,
                &(file_len - e1.len() as u64 + 1).to_be_bytes()
            )])),
            "Patch.OutOfBounds",
        ),
        (
            "entry 1 at offset 2^64 - 1 (the end overflows)",
            parse(json!([op_replace(e1_at, &u64::MAX.to_be_bytes())])),
            "Patch.OutOfBounds",
        ),
        (
            "file_len 1000: entry 1 out of bounds",
            parse(json!([op_replace(7, &1000u64.to_be_bytes())])),
            "Patch.OutOfBounds",
        ),
        (
            "entry 0 past file_len, entry 1 then before it: entry 0 is out of bounds first",
            parse(json!([op_replace(e0_at, &(file_len - 1).to_be_bytes())])),
            "Patch.OutOfBounds",
        ),
        (
            "applied to a file one byte shorter",
            apply(file_len - 1),
            "Patch.LengthMismatch",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, spec, err)) in specs.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid", i));
        c.set("name", cname);
        let spec = c.input("input", spec);
        let result = match spec["operation"].as_str().expect("operation") {
            "parse" => MetadataPatch::parse(&mutate(&bytes, &spec["mutations"])).map(|_| ()),
            "apply" => MetadataPatch::parse(&bytes)
                .and_then(|p| p.check_file_len(spec["file_len"].as_u64().expect("file_len"))),
            other => panic!("unknown operation {other}"),
        };
        c.set("expected", expect_err(result, err, cname));
        inv.push(c.done());
    }
    o.set("invalid", inv);
    with_header(head, o.done())
}

fn build_name(stored: Option<&Value>) -> J {
    use obhut_core::name::{NameClaim, Subject};
    let head = header(
        "name.json",
        &[
            "The display-name claim (§3.5) and its log entry (§12 kind 27). Ed25519 signing is deterministic: no randomness.",
            "valid: `person_claim` is the person key (seed `person_seed`) naming itself `person_name` at `time_ms`; `device_claim` is the custodian key (seed `custodian_seed`) naming the device key (seed `device_seed`) `device_name`; `entry` is the `name-set` log entry of `person_claim` (operator, zero key, `entry_time_ms`).",
            "invalid: each case mutates `person_claim` and parses it; errors in field order, the name's rules before the signature.",
        ],
    );
    let mut o = Obj::new(stored);
    let person = SignKey::from_seed(&Secret32::new(o.input_n("person_seed", &[0x51; 32])));
    let device = SignKey::from_seed(&Secret32::new(o.input_n("device_seed", &[0x52; 32])));
    let custodian = SignKey::from_seed(&Secret32::new(o.input_n("custodian_seed", &[0x53; 32])));
    let time_ms = o.input_i64("time_ms", T0);
    let person_name = o.input_str("person_name", "Kommissarin Anna Weiß");
    let device_name = o.input_str("device_name", "Bodycam 7, Wache Süd");
    let pc = NameClaim::sign_own(Subject::Person, &person_name, time_ms, &person).expect("valid");
    let bytes = pc.to_bytes();
    assert_eq!(NameClaim::from_bytes(&bytes).expect("parses"), pc);
    o.hex("person_key", person.verify_key().to_bytes());
    o.hex("person_claim", &bytes);
    let dc = NameClaim::sign(
        Subject::Device,
        &device.verify_key(),
        &device_name,
        time_ms,
        &custodian,
    )
    .expect("valid");
    assert!(!dc.self_signed());
    o.hex("device_key", device.verify_key().to_bytes());
    o.hex("custodian_key", custodian.verify_key().to_bytes());
    o.hex("device_claim", dc.to_bytes());
    let entry = LogEntry {
        time_ms: o.input_i64("entry_time_ms", T0 + 1000),
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::NameSet { claim: pc.clone() },
    }
    .to_bytes()
    .expect("an entry");
    o.hex("entry", &entry);

    // Offsets: preamble 0..7, subject_kind 7, subject 8..40, name length
    // 40..44, name 44.., then time_ms, signer, signature.
    let n = person_name.len();
    let time_at = 44 + n;
    let signer_at = time_at + 8;
    let sig_at = signer_at + 32;
    let mut small_order = [0u8; 32];
    small_order[0] = 1;
    let specs: Vec<(&str, Value, &str)> = vec![
        (
            "one byte short",
            json!([op_truncate(bytes.len() - 1)]),
            "Truncated",
        ),
        (
            "one byte appended",
            json!([op_append(&[0])]),
            "TrailingBytes",
        ),
        ("wrong magic", json!([op_replace(0, b"OBDX")]), "BadMagic"),
        (
            "version 2",
            json!([op_replace(4, &[2])]),
            "UnsupportedVersion",
        ),
        ("subject_kind 3", json!([op_replace(7, &[3])]), "Malformed"),
        (
            "subject of small order (the identity)",
            json!([op_replace(8, &small_order)]),
            "InvalidSigningKey",
        ),
        (
            "name length 65",
            json!([op_replace(40, &65u32.to_be_bytes())]),
            "FieldTooLong",
        ),
        (
            "name starts with a space",
            json!([op_replace(44, b" ")]),
            "Malformed",
        ),
        (
            "name holds ESC (a terminal escape)",
            json!([op_replace(45, &[0x1b])]),
            "Malformed",
        ),
        (
            "name holds U+202E (right-to-left override)",
            json!([op_replace(45, "\u{202E}".as_bytes())]),
            "Malformed",
        ),
        (
            "name not UTF-8",
            json!([op_replace(45, &[0xff])]),
            "Malformed",
        ),
        (
            "time_ms changed",
            json!([op_xor(time_at + 7, &[1])]),
            "BadSignature",
        ),
        (
            "signer of small order (the identity)",
            json!([op_replace(signer_at, &small_order)]),
            "InvalidSigningKey",
        ),
        (
            "signer replaced by another valid key (a substituted name)",
            json!([op_replace(signer_at, &custodian.verify_key().to_bytes())]),
            "BadSignature",
        ),
        (
            "signature flipped",
            json!([op_xor(sig_at, &[1])]),
            "BadSignature",
        ),
    ];
    let mut inv = Vec::new();
    for (i, (cname, m, err)) in specs.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid", i));
        c.set("name", cname);
        let m = c.input("mutations", m);
        let r = NameClaim::from_bytes(&mutate(&bytes, &m));
        c.set("expected", expect_err(r, err, cname));
        inv.push(c.done());
    }
    o.set("invalid", inv);
    with_header(head, o.done())
}

#[test]
fn name_vectors() {
    check_or_write("name.json", build_name);
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn patch_vectors() {
    check_or_write("patch.json", build_patch);
}

#[test]
fn rng_vectors() {
    check_or_write("rng.json", build_rng);
}

#[test]
fn identity_vectors() {
    check_or_write("identity.json", build_identity);
}

#[test]
fn kem_vectors() {
    check_or_write("kem.json", build_kem);
}

#[test]
fn segment_vectors() {
    check_or_write("segment.json", build_segment);
}

#[test]
fn group_vectors() {
    check_or_write("group.json", |s| build_group(s).0);
}

#[test]
fn record_vectors() {
    let group_stored = load("group.json");
    check_or_write("record.json", |s| {
        let (_, g) = build_group(group_stored.as_ref());
        build_record(s, &g).0
    });
}

#[test]
fn rewrap_vectors() {
    let group_stored = load("group.json");
    let record_stored = load("record.json");
    check_or_write("rewrap.json", |s| {
        let (_, g) = build_group(group_stored.as_ref());
        let (_, r) = build_record(record_stored.as_ref(), &g);
        build_rewrap(s, &r)
    });
}

#[test]
fn access_vectors() {
    let group_stored = load("group.json");
    let record_stored = load("record.json");
    check_or_write("access.json", |s| {
        let (_, g) = build_group(group_stored.as_ref());
        let (_, r) = build_record(record_stored.as_ref(), &g);
        build_access(s, &g, &r)
    });
}

// ---------------------------------------------------------------------------
// derived.json

fn build_derived(stored: Option<&Value>, g: &GroupFix) -> J {
    use obhut_core::artifact::{
        ArtifactContent, ArtifactKind, ArtifactRecord, Cascade, CascadeCause, SignerRole, Source,
    };
    use obhut_core::consent::{self, Consent, ConsentAction, ConsentStatement};
    let head = header(
        "derived.json",
        &[
            "Derived artifacts and consent (§13): an artifact record (a clip of record.json's recording, signed by the device of identity.json), a consent grant by custodians 1 and 2 of group.json's 2-of-3 group and a withdrawal by custodian 1, and the log entries of kinds 22 … 25 embedding them. No randomness: every input is stored.",
            "invalid: `artifact` mutates `artifact` and parses it (§13.1's order); `statement` mutates `grant_1` and parses it (§13.2); `recorded` checks the listed grants against group.json's descriptor at `now` (§13.2's order); `cascade` mutates `cascade_entry` and parses it as a log entry (§13.3).",
        ],
    );
    let mut o = Obj::new(stored);
    let device = device_secret(DEVICE.0, seed_of(DEVICE.1));
    let gid = g.pinned.group_id();
    let artifact_id = RecordingId(o.input_n("artifact_id", &[0xa1; 16]));
    let source = RecordingId(o.input_n("source_recording", &[0xb2; 16]));
    let created = o.input_i64("created_ms", T0);
    let content = ArtifactContent {
        artifact_id,
        group_id: gid,
        kind: ArtifactKind::Clip,
        name: o.input_str("name", "clip of the arrest"),
        purpose: o.input_str("purpose", "criminal investigation"),
        legal_basis: o.input_str("legal_basis", "§ 163 StPO"),
        consent_id: None,
        created_ms: created,
        sources: vec![Source::Segments {
            recording_id: source,
            first: 1,
            end: 3,
        }],
    };
    let rec = ArtifactRecord::sign(content, SignerRole::Device, &device.sign).expect("signs");
    let artifact = rec.to_bytes().expect("encodes");
    assert_eq!(ArtifactRecord::from_bytes(&artifact).expect("parses"), rec);
    o.hex("artifact", &artifact);

    let consent_id = o.input_n("consent_id", &[0xc3; 16]);
    let c = Consent {
        consent_id,
        group_id: gid,
        purposes: consent::PURPOSE_TRAINING,
        not_before: T0,
        not_after: T0 + 30 * 86_400_000,
    };
    let grant = |i: u16| {
        ConsentStatement::sign(
            ConsentAction::Grant(c.clone()),
            i,
            &g.custodians[usize::from(i) - 1].sign,
        )
        .expect("signs")
    };
    let (g1, g2) = (grant(1), grant(2));
    let withdraw = ConsentStatement::sign(
        ConsentAction::Withdraw {
            consent_id,
            group_id: gid,
            time_ms: T0 + 86_400_000,
        },
        1,
        &g.custodians[0].sign,
    )
    .expect("signs");
    let grant_1 = g1.to_bytes().expect("encodes");
    o.hex("grant_1", &grant_1);
    o.hex("grant_2", g2.to_bytes().expect("encodes"));
    o.hex("withdrawal", withdraw.to_bytes().expect("encodes"));
    let descriptor = g.pinned.descriptor();
    assert_eq!(
        consent::recorded_consent(descriptor, &[g1.clone(), g2.clone()], T0).expect("k grants"),
        c
    );

    let entry = |event: Event| {
        LogEntry {
            time_ms: T0,
            actor: Actor {
                role: Role::Vault,
                key: [0; 32],
            },
            recording: None,
            event,
        }
        .to_bytes()
        .expect("encodes")
    };
    o.hex(
        "registered_entry",
        entry(Event::ArtifactRegistered {
            record: artifact.clone(),
        }),
    );
    o.hex(
        "recorded_entry",
        entry(Event::ConsentRecorded {
            statements: vec![grant_1.clone(), g2.to_bytes().expect("encodes")],
        }),
    );
    o.hex(
        "withdrawn_entry",
        entry(Event::ConsentWithdrawn {
            statement: withdraw.to_bytes().expect("encodes"),
        }),
    );
    let cascade_entry = entry(Event::ArtifactsCascaded(Cascade {
        cause: CascadeCause::SourceExpired {
            recording_id: source,
            first: 0,
            end: 4,
        },
        deleted: vec![artifact_id],
        tainted: vec![RecordingId([0xd4; 16])],
    }));
    o.hex("cascade_entry", &cascade_entry);

    // Offsets in `artifact`: preamble 0..7, signer_role 7, signer_key
    // 8..40, artifact_id 40..56, group_id 56..72, kind 72, name at 73.
    let name_len = 4 + rec.content.name.len();
    let purpose_at = 73 + name_len;
    let legal_at = purpose_at + 4 + rec.content.purpose.len();
    let consent_at = legal_at + 4 + rec.content.legal_basis.len();
    let count_at = consent_at + 1 + 8;
    let src_at = count_at + 2;
    // Offsets in a grant: action 7, consent_id 8..24, group_id 24..40,
    // custodian 40..42, key 42..74, purposes 74.
    // In the cascade entry: the entry header is 7 + 1 + 8 + 1 + 32 + 1 =
    // 50 bytes, then cause 50, recording 51..67, first 67..71, end 71..75,
    // deleted_count 75..79.
    let art = |m: Value| json!({"operation": "artifact", "mutations": m});
    let st = |m: Value| json!({"operation": "statement", "mutations": m});
    let cas = |m: Value| json!({"operation": "cascade", "mutations": m});
    let specs: Vec<(&str, Value, &str)> = vec![
        (
            "artifact one byte short",
            art(json!([op_truncate(artifact.len() - 1)])),
            "Truncated",
        ),
        (
            "artifact one byte appended",
            art(json!([op_append(&[0])])),
            "TrailingBytes",
        ),
        (
            "artifact wrong magic",
            art(json!([op_replace(0, b"OBAX")])),
            "BadMagic",
        ),
        (
            "signer_role 3",
            art(json!([op_replace(7, &[3])])),
            "Malformed",
        ),
        ("kind 8", art(json!([op_replace(72, &[8])])), "Malformed"),
        (
            "name longer than 256 bytes (on the prefix)",
            art(json!([op_replace(73, &257u32.to_be_bytes())])),
            "FieldTooLong",
        ),
        (
            "has_consent 2",
            art(json!([op_replace(consent_at, &[2])])),
            "Malformed",
        ),
        (
            "source_count 0",
            art(json!([op_replace(count_at, &0u16.to_be_bytes())])),
            "Malformed",
        ),
        (
            "source tag 3",
            art(json!([op_replace(src_at, &[3])])),
            "Malformed",
        ),
        (
            "empty segment range (end = first)",
            art(json!([op_replace(src_at + 21, &1u32.to_be_bytes())])),
            "Malformed",
        ),
        (
            "the artifact its own source",
            art(json!([op_replace(src_at + 1, &artifact_id.0)])),
            "Malformed",
        ),
        (
            "kind model with a segment source",
            art(json!([op_replace(72, &[7])])),
            "Malformed",
        ),
        (
            "kind training-set without a consent",
            art(json!([op_replace(72, &[6])])),
            "Malformed",
        ),
        (
            "artifact signature flipped",
            art(json!([op_xor(artifact.len() - 1, &[1])])),
            "BadSignature",
        ),
        (
            "purpose changed after signing",
            art(json!([op_xor(purpose_at + 4, &[0x20])])),
            "BadSignature",
        ),
        ("action 3", st(json!([op_replace(7, &[3])])), "Malformed"),
        ("purposes 0", st(json!([op_replace(74, &[0])])), "Malformed"),
        ("purposes 4", st(json!([op_replace(74, &[4])])), "Malformed"),
        (
            "grant signature flipped",
            st(json!([op_xor(grant_1.len() - 1, &[1])])),
            "BadSignature",
        ),
        (
            "custodian index 3 with custodian 1's key",
            st(json!([op_replace(40, &3u16.to_be_bytes())])),
            "BadSignature",
        ),
        (
            "one grant of a 2-of-3 group",
            json!({"operation": "recorded", "grants": ["grant_1"], "now": T0}),
            "NotEnoughSignatures",
        ),
        (
            "a withdrawal among the grants",
            json!({"operation": "recorded", "grants": ["grant_1", "withdrawal"], "now": T0}),
            "Malformed",
        ),
        (
            "expired at not_after",
            json!({"operation": "recorded", "grants": ["grant_1", "grant_2"], "now": T0 + 30 * 86_400_000}),
            "Malformed",
        ),
        ("cause 4", cas(json!([op_replace(50, &[4])])), "Malformed"),
        (
            "empty range (first = end)",
            cas(json!([op_replace(67, &4u32.to_be_bytes())])),
            "Malformed",
        ),
        (
            "3073 ids",
            cas(json!([op_replace(75, &3073u32.to_be_bytes())])),
            "FieldTooLong",
        ),
    ];
    let named: std::collections::BTreeMap<&str, Vec<u8>> = [
        ("grant_1", grant_1.clone()),
        ("grant_2", g2.to_bytes().expect("encodes")),
        ("withdrawal", withdraw.to_bytes().expect("encodes")),
    ]
    .into();
    let mut inv = Vec::new();
    for (i, (cname, spec, err)) in specs.into_iter().enumerate() {
        let mut c = Obj::new(o.stored_item("invalid", i));
        c.set("name", cname);
        let spec = c.input("input", spec);
        let result = match spec["operation"].as_str().expect("operation") {
            "artifact" => {
                ArtifactRecord::from_bytes(&mutate(&artifact, &spec["mutations"])).map(|_| ())
            }
            "statement" => {
                ConsentStatement::from_bytes(&mutate(&grant_1, &spec["mutations"])).map(|_| ())
            }
            "cascade" => {
                LogEntry::from_bytes(&mutate(&cascade_entry, &spec["mutations"])).map(|_| ())
            }
            "recorded" => {
                let grants: Vec<ConsentStatement> = spec["grants"]
                    .as_array()
                    .expect("grants")
                    .iter()
                    .map(|n| {
                        ConsentStatement::from_bytes(&named[n.as_str().expect("a name")])
                            .expect("parses")
                    })
                    .collect();
                let now = spec["now"].as_i64().expect("now");
                consent::recorded_consent(descriptor, &grants, now).map(|_| ())
            }
            other => panic!("unknown operation {other}"),
        };
        c.set("expected", expect_err(result, err, cname));
        inv.push(c.done());
    }
    o.set("invalid", inv);
    with_header(head, o.done())
}

#[test]
fn derived_vectors() {
    let group_stored = load("group.json");
    check_or_write("derived.json", |s| {
        let (_, g) = build_group(group_stored.as_ref());
        build_derived(s, &g)
    });
}
