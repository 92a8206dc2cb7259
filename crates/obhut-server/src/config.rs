//! Server configuration in two stages: [`FileConfig`] (raw values from
//! `obhut.toml`, environment and flags, each optional) merged by
//! [`ServerConfig::load`], then [`ServerConfig::from_layers`] validates
//! into the config the server runs with.
//!
//! Precedence, highest first: command-line flags, `OBHUT_*` environment
//! variables, the config file (`--config FILE`, else `./obhut.toml` if it
//! exists), built-in defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::net::tls::TlsFiles;
use crate::net::{NetConfig, Timeouts};

/// The config file read when none is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "obhut.toml";
/// Default data directory.
pub const DEFAULT_DATA: &str = "./obhut-data";
/// Default keystore directory.
pub const DEFAULT_KEYS: &str = "./obhut-keys";
/// Default listen address (loopback; plain HTTP there is fine, anywhere
/// else set `tls_cert` and `tls_key` or put a TLS proxy in front).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8700";
/// Default epoch period of a retention class: one day.
pub const DEFAULT_EPOCH_PERIOD_SECS: u64 = 86_400;
/// Default largest segment blob accepted: 4 GiB.
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 4 << 30;
/// Default oldest capture time the vault still makes an epoch key for,
/// counted back from now: 30 days. A bodycam docked after a long leave or
/// a camera that was offline for weeks must still be able to upload.
pub const DEFAULT_MAX_CAPTURE_AGE_SECS: u64 = 30 * 86_400;
/// Default purposes an access request may state (docs/access.md §2).
pub const DEFAULT_ACCESS_PURPOSES: &[&str] = &[
    "criminal investigation",
    "prosecution",
    "internal investigation",
    "data subject request",
    "court order",
    "incident review",
];
/// Default longest validity of an access request: 30 days.
pub const DEFAULT_MAX_GRANT_DAYS: u64 = 30;

/// Default time between two sweeps: five minutes.
pub const DEFAULT_SWEEP_INTERVAL_SECS: u64 = 300;

/// A PostgreSQL URL (`database_url`, `OBHUT_DATABASE_URL`). Its Debug
/// form hides the password: configurations are logged.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// Whether it names PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    /// The URL, password included (to connect).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // scheme://user:password@host… → scheme://user:***@host…
        let shown = match (self.0.find("://"), self.0.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let userinfo = &self.0[s + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &self.0[..s + 3], &self.0[at..]),
                    None => self.0.clone(),
                }
            }
            _ => self.0.clone(),
        };
        write!(f, "DatabaseUrl({shown:?})")
    }
}

/// One layer of raw settings (file, environment or flags).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory (index and blobs).
    pub data: Option<PathBuf>,
    /// The index and audit log on PostgreSQL (`postgres://…`) instead of
    /// `DATA/obhut.sqlite`; blobs stay in the data directory.
    pub database_url: Option<DatabaseUrl>,
    /// Keystore directory.
    pub keys: Option<PathBuf>,
    /// Listen address.
    pub listen: Option<String>,
    /// Largest segment blob accepted, in bytes.
    pub max_segment_bytes: Option<u64>,
    /// Epoch period per retention class, in seconds.
    #[serde(default)]
    pub epoch_period_secs: BTreeMap<String, u64>,
    /// How long each retention class's footage is kept after its epoch
    /// ends (`[retention] cctv = "72 hours"`, `evidence = "until
    /// released"`); unlisted classes are kept until released.
    #[serde(default)]
    pub retention: BTreeMap<String, String>,
    /// The file epoch key holder's directory (default: beside the
    /// keystore, `KEYS.epoch-holder`); keep it out of the keystore's
    /// backups.
    pub epoch_holder_dir: Option<PathBuf>,
    /// Seconds between two runs of the sweeper.
    pub sweep_interval_secs: Option<u64>,
    /// The PKCS#11 module holding epoch wrapping keys (e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`); unset: the file holder. The
    /// user PIN comes from `OBHUT_PKCS11_PIN`, never from the file.
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the PKCS#11 token.
    pub pkcs11_token: Option<String>,
    /// How old a capture time may be for the vault to still issue the epoch
    /// key covering it (late-docked footage), in seconds.
    pub max_capture_age_secs: Option<u64>,
    /// Audit-log origin (docs/log.md): set once before the first start.
    pub log_origin: Option<String>,
    /// Days an audit entry's body is kept (unset: for ever). The tree,
    /// checkpoints and proofs stay verifiable after pruning.
    pub log_retention_days: Option<u64>,
    /// Witnesses the vault asks to cosign each checkpoint (`[[witness]]`).
    #[serde(default)]
    pub witness: Vec<WitnessFile>,
    /// Purposes an access request may state (docs/access.md §2); unset:
    /// [`DEFAULT_ACCESS_PURPOSES`].
    pub access_purposes: Option<Vec<String>>,
    /// Longest an access request may stay valid, in days.
    pub max_grant_days: Option<u64>,
    /// Whether a custodian's approval of its own request counts (default
    /// false: the requester is never one of the k).
    pub allow_self_approval: Option<bool>,
    /// Address of the operations listener (`/metrics`, `/healthz`,
    /// `/readyz`); unset: no operations listener, and no `/metrics`.
    pub ops_listen: Option<String>,
    /// Connection limits (`[net]`).
    #[serde(default)]
    pub net: NetFile,
    /// PEM certificate chain the API listener serves TLS with (with
    /// `tls_key`; reloaded on SIGHUP); unset: plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates the vault's own HTTP client (the witnesses)
    /// trusts besides Mozilla's roots and the system store.
    pub ca_cert: Option<PathBuf>,
    /// Where segment blobs go: `s3://bucket/prefix` for an S3-compatible
    /// object store; unset: `DATA/blobs/` (docs/vault.md §6.2).
    pub blob_url: Option<String>,
    /// The S3 store's `object_store` options (`[s3]`: `endpoint`,
    /// `region`, `allow_http`, …), over what the `AWS_*` environment sets.
    /// Keep credentials in the environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`) rather than here.
    #[serde(default)]
    pub s3: BTreeMap<String, String>,
}

/// The `[net]` table: connection limits (docs/vault.md §7), each
/// optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetFile {
    /// Connections served at once on the API listener (default: from
    /// `RLIMIT_NOFILE`).
    pub max_connections: Option<usize>,
    /// Seconds to send a request head.
    pub header_timeout_secs: Option<u64>,
    /// Seconds a keep-alive connection may idle between requests.
    pub idle_timeout_secs: Option<u64>,
    /// Longest gap in a request body, or in the client's reading of an
    /// answer, in seconds.
    pub body_gap_secs: Option<u64>,
    /// Lowest average rate of a request body, bytes per second (0: none).
    pub body_min_rate: Option<u64>,
    /// Unauthenticated requests per second per source address.
    pub anon_per_sec: Option<u32>,
    /// Their burst.
    pub anon_burst: Option<u32>,
}

impl NetFile {
    fn overridden_by(self, over: NetFile) -> NetFile {
        NetFile {
            max_connections: over.max_connections.or(self.max_connections),
            header_timeout_secs: over.header_timeout_secs.or(self.header_timeout_secs),
            idle_timeout_secs: over.idle_timeout_secs.or(self.idle_timeout_secs),
            body_gap_secs: over.body_gap_secs.or(self.body_gap_secs),
            body_min_rate: over.body_min_rate.or(self.body_min_rate),
            anon_per_sec: over.anon_per_sec.or(self.anon_per_sec),
            anon_burst: over.anon_burst.or(self.anon_burst),
        }
    }

    fn from_env(get: &impl Fn(&str) -> Option<String>) -> Result<NetFile, ConfigError> {
        Ok(NetFile {
            max_connections: env_num(get, "OBHUT_NET_MAX_CONNECTIONS")?,
            header_timeout_secs: env_num(get, "OBHUT_NET_HEADER_TIMEOUT_SECS")?,
            idle_timeout_secs: env_num(get, "OBHUT_NET_IDLE_TIMEOUT_SECS")?,
            body_gap_secs: env_num(get, "OBHUT_NET_BODY_GAP_SECS")?,
            body_min_rate: env_num(get, "OBHUT_NET_BODY_MIN_RATE")?,
            anon_per_sec: env_num(get, "OBHUT_NET_ANON_PER_SEC")?,
            anon_burst: env_num(get, "OBHUT_NET_ANON_BURST")?,
        })
    }

    fn validate(self) -> Result<NetConfig, ConfigError> {
        use std::time::Duration;
        let d = NetConfig::default();
        let secs = |v: Option<u64>, default: Duration, setting: &'static str| match v {
            None => Ok(default),
            Some(s) if (1..=86_400).contains(&s) => Ok(Duration::from_secs(s)),
            Some(s) => Err(ConfigError::Invalid {
                setting,
                value: s.to_string(),
                reason: "must be between 1 second and 1 day",
            }),
        };
        let nonzero = |v: Option<u32>, default, setting: &'static str| match v {
            None => Ok(default),
            Some(n) => std::num::NonZeroU32::new(n).ok_or(ConfigError::Invalid {
                setting,
                value: "0".into(),
                reason: "must be positive",
            }),
        };
        if self.max_connections == Some(0) {
            return Err(ConfigError::Invalid {
                setting: "net.max_connections",
                value: "0".into(),
                reason: "must be positive (leave it unset to derive it from the open-file limit)",
            });
        }
        Ok(NetConfig {
            max_connections: self.max_connections,
            timeouts: Timeouts {
                header: secs(
                    self.header_timeout_secs,
                    d.timeouts.header,
                    "net.header_timeout_secs",
                )?,
                idle: secs(
                    self.idle_timeout_secs,
                    d.timeouts.idle,
                    "net.idle_timeout_secs",
                )?,
                body_gap: secs(self.body_gap_secs, d.timeouts.body_gap, "net.body_gap_secs")?,
                body_min_rate: self.body_min_rate.unwrap_or(d.timeouts.body_min_rate),
            },
            anon_per_sec: nonzero(self.anon_per_sec, d.anon_per_sec, "net.anon_per_sec")?,
            anon_burst: nonzero(self.anon_burst, d.anon_burst, "net.anon_burst")?,
        })
    }
}

/// One `[[witness]]` table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFile {
    /// Base URL of the witness (`http://dpo.example:8701`); the vault POSTs
    /// to `URL/add-checkpoint`.
    pub url: String,
    /// The witness's cosignature vkey (type 0x04), from `obhut witness init`.
    pub vkey: String,
}

/// A validated witness.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// Base URL.
    pub url: String,
    /// Its cosignature key.
    pub vkey: obhut_log::VerifierKey,
}

/// Configuration errors, each naming the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A value is invalid.
    #[error("{setting} = {value:?}: {reason}")]
    Invalid {
        /// Setting name.
        setting: &'static str,
        /// Value given.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

/// A layer of [`ServerConfig::load`] refused; the message is the
/// [`ConfigError`]'s own, the variant says which layer to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The config file that was named.
    #[error(transparent)]
    File(ConfigError),
    /// [`DEFAULT_CONFIG_FILE`], read because none was named and it exists.
    #[error(transparent)]
    DefaultFile(ConfigError),
    /// An `OBHUT_*` environment variable.
    #[error(transparent)]
    Env(ConfigError),
    /// The merged settings (from any layer) do not validate.
    #[error(transparent)]
    Invalid(ConfigError),
}

impl FileConfig {
    /// Read a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Read the `OBHUT_*` variable of every key (`OBHUT_` and the key in
    /// upper case; `OBHUT_NET_*` for the `[net]` keys; maps and lists as
    /// `;`-separated items: `OBHUT_RETENTION`, `OBHUT_EPOCH_PERIOD_SECS`
    /// as `class=value`, `OBHUT_WITNESSES` as `URL VKEY`,
    /// `OBHUT_ACCESS_PURPOSES`; `OBHUT_BLOB_URL`; `OBHUT_DATABASE_URL`, whose value is never
    /// echoed in an error) from `get` (the environment in
    /// production).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let max_segment_bytes = match get("OBHUT_MAX_SEGMENT_BYTES") {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| ConfigError::Invalid {
                setting: "OBHUT_MAX_SEGMENT_BYTES",
                value: v,
                reason: "not a whole number of bytes",
            })?),
        };
        Ok(FileConfig {
            data: get("OBHUT_DATA").map(PathBuf::from),
            database_url: get("OBHUT_DATABASE_URL").map(DatabaseUrl),
            keys: get("OBHUT_KEYS").map(PathBuf::from),
            listen: get("OBHUT_LISTEN"),
            max_segment_bytes,
            epoch_period_secs: match get("OBHUT_EPOCH_PERIOD_SECS") {
                None => BTreeMap::new(),
                Some(v) => parse_periods_env(&v)?,
            },
            retention: match get("OBHUT_RETENTION") {
                None => BTreeMap::new(),
                Some(v) => parse_retention_env(&v)?,
            },
            epoch_holder_dir: get("OBHUT_EPOCH_HOLDER_DIR").map(PathBuf::from),
            sweep_interval_secs: env_num(&get, "OBHUT_SWEEP_INTERVAL_SECS")?,
            pkcs11_module: get("OBHUT_PKCS11_MODULE").map(PathBuf::from),
            pkcs11_token: get("OBHUT_PKCS11_TOKEN"),
            max_capture_age_secs: env_num(&get, "OBHUT_MAX_CAPTURE_AGE_SECS")?,
            log_origin: get("OBHUT_LOG_ORIGIN"),
            log_retention_days: env_num(&get, "OBHUT_LOG_RETENTION_DAYS")?,
            witness: match get("OBHUT_WITNESSES") {
                None => Vec::new(),
                Some(v) => parse_witnesses_env(&v)?,
            },
            access_purposes: get("OBHUT_ACCESS_PURPOSES")
                .map(|v| env_list(&v).map(str::to_owned).collect()),
            max_grant_days: env_num(&get, "OBHUT_MAX_GRANT_DAYS")?,
            allow_self_approval: env_bool(&get, "OBHUT_ALLOW_SELF_APPROVAL")?,
            ops_listen: get("OBHUT_OPS_LISTEN"),
            net: NetFile::from_env(&get)?,
            tls_cert: get("OBHUT_TLS_CERT").map(PathBuf::from),
            tls_key: get("OBHUT_TLS_KEY").map(PathBuf::from),
            ca_cert: get("OBHUT_CA_CERT").map(PathBuf::from),
            blob_url: get("OBHUT_BLOB_URL"),
            s3: BTreeMap::new(),
        })
    }

    /// `self` with every setting `over` has replaced.
    pub fn overridden_by(mut self, over: FileConfig) -> Self {
        self.data = over.data.or(self.data);
        self.database_url = over.database_url.or(self.database_url);
        self.keys = over.keys.or(self.keys);
        self.listen = over.listen.or(self.listen);
        self.max_segment_bytes = over.max_segment_bytes.or(self.max_segment_bytes);
        self.epoch_period_secs.extend(over.epoch_period_secs);
        self.retention.extend(over.retention);
        self.epoch_holder_dir = over.epoch_holder_dir.or(self.epoch_holder_dir);
        self.sweep_interval_secs = over.sweep_interval_secs.or(self.sweep_interval_secs);
        self.pkcs11_module = over.pkcs11_module.or(self.pkcs11_module);
        self.pkcs11_token = over.pkcs11_token.or(self.pkcs11_token);
        self.max_capture_age_secs = over.max_capture_age_secs.or(self.max_capture_age_secs);
        self.log_origin = over.log_origin.or(self.log_origin);
        self.log_retention_days = over.log_retention_days.or(self.log_retention_days);
        if !over.witness.is_empty() {
            self.witness = over.witness;
        }
        self.access_purposes = over.access_purposes.or(self.access_purposes);
        self.max_grant_days = over.max_grant_days.or(self.max_grant_days);
        self.allow_self_approval = over.allow_self_approval.or(self.allow_self_approval);
        self.ops_listen = over.ops_listen.or(self.ops_listen);
        self.net = self.net.overridden_by(over.net);
        self.tls_cert = over.tls_cert.or(self.tls_cert);
        self.tls_key = over.tls_key.or(self.tls_key);
        self.ca_cert = over.ca_cert.or(self.ca_cert);
        self.blob_url = over.blob_url.or(self.blob_url);
        self.s3.extend(over.s3);
        self
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// PostgreSQL's URL when the index is there; `None`: SQLite in the
    /// data directory.
    pub database_url: Option<DatabaseUrl>,
    /// Keystore directory.
    pub keys_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Largest segment blob accepted.
    pub max_segment_bytes: u64,
    /// Epoch period per class (ms); classes not listed use the default.
    pub epoch_period_ms: BTreeMap<String, i64>,
    /// Period of unlisted classes (ms).
    pub default_epoch_period_ms: i64,
    /// How long each class's footage is kept after its epoch ends (ms);
    /// `None`: until released. Unlisted classes: until released.
    pub retention_ms: BTreeMap<String, Option<i64>>,
    /// The file epoch key holder's directory; `None`: beside the keystore.
    pub epoch_holder_dir: Option<PathBuf>,
    /// Time between two sweeps (ms).
    pub sweep_interval_ms: i64,
    /// A PKCS#11 token holding the epoch wrapping keys: (module, token
    /// label); `None`: the file holder.
    pub pkcs11: Option<(PathBuf, String)>,
    /// Oldest capture time, back from now, for which an epoch is issued (ms).
    pub max_capture_age_ms: i64,
    /// Audit-log origin; `None`: derived from the log key (docs/log.md).
    pub log_origin: Option<String>,
    /// How long audit entry bodies are kept (ms); `None`: for ever.
    pub log_retention_ms: Option<i64>,
    /// Witnesses asked to cosign every checkpoint.
    pub witnesses: Vec<WitnessConfig>,
    /// Purposes an access request may state.
    pub access_purposes: Vec<String>,
    /// Longest an access request may stay valid (ms from when it is
    /// stored).
    pub max_grant_ms: i64,
    /// Whether the requester's own approval counts towards k.
    pub allow_self_approval: bool,
    /// The operations listener's address (`/metrics`, health).
    pub ops_listen: Option<SocketAddr>,
    /// Connection limits.
    pub net: NetConfig,
    /// The API listener's certificate and key; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// CA certificates the vault's HTTP client trusts besides the
    /// defaults (`ca_cert`).
    pub ca_cert: Option<PathBuf>,
    /// Where segment blobs go (the data directory, or an S3 bucket).
    pub blobs: obhut_store::BlobConfig,
}

impl ServerConfig {
    /// The settings that decide who may do what and how long things are
    /// kept, as one canonical line: logged whenever it changes (docs/log.md).
    pub fn policy(&self) -> String {
        let witnesses: Vec<String> = self.witnesses.iter().map(|w| w.vkey.to_string()).collect();
        format!(
            "access_purposes={:?}; max_grant_days={}; allow_self_approval={}; log_retention_days={}; witnesses={:?}; epoch_period_secs={:?} (default {}); max_capture_age_secs={}; retention_secs={:?} (unlisted: until released)",
            self.access_purposes,
            self.max_grant_ms / 86_400_000,
            self.allow_self_approval,
            self.log_retention_ms
                .map_or_else(|| "forever".to_owned(), |m| (m / 86_400_000).to_string()),
            witnesses,
            self.epoch_period_ms
                .iter()
                .map(|(c, ms)| (c.as_str(), ms / 1000))
                .collect::<Vec<_>>(),
            self.default_epoch_period_ms / 1000,
            self.max_capture_age_ms / 1000,
            self.retention_ms
                .iter()
                .map(|(c, ms)| (c.as_str(), ms.map(|m| m / 1000)))
                .collect::<Vec<_>>(),
        )
    }

    /// Merge the layers, lowest precedence first: the config file (`file`,
    /// else [`DEFAULT_CONFIG_FILE`] in the working directory if it exists),
    /// the environment (`env`, e.g. `|k| std::env::var(k).ok()`), then
    /// `flags`; then validate.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: FileConfig,
    ) -> Result<Self, LoadError> {
        Self::from_layers(Self::merge(file, env, flags)?).map_err(LoadError::Invalid)
    }

    /// The layers of [`ServerConfig::load`] merged, not yet validated
    /// (what `obhut serve --print-config` prints).
    pub fn merge(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: FileConfig,
    ) -> Result<FileConfig, LoadError> {
        let file = match file {
            Some(p) => FileConfig::from_file(p).map_err(LoadError::File)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                FileConfig::from_file(Path::new(DEFAULT_CONFIG_FILE))
                    .map_err(LoadError::DefaultFile)?
            }
            None => FileConfig::default(),
        };
        let env = FileConfig::from_env(env).map_err(LoadError::Env)?;
        Ok(file.overridden_by(env).overridden_by(flags))
    }

    /// Validate merged layers, filling defaults.
    pub fn from_layers(c: FileConfig) -> Result<Self, ConfigError> {
        let listen_s = c.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_s.parse().map_err(|_| ConfigError::Invalid {
            setting: "listen",
            value: listen_s.clone(),
            reason: "not an address:port such as 127.0.0.1:8700",
        })?;
        let mut epoch_period_ms = BTreeMap::new();
        for (class, secs) in c.epoch_period_secs {
            if !(60..=366 * 86_400).contains(&secs) {
                return Err(ConfigError::Invalid {
                    setting: "epoch_period_secs",
                    value: format!("{class} = {secs}"),
                    reason: "must be between 60 seconds and 366 days",
                });
            }
            if class.is_empty() || class.len() > obhut_core::epoch::MAX_CLASS_LEN {
                return Err(ConfigError::Invalid {
                    setting: "epoch_period_secs",
                    value: class,
                    reason: "a retention class name has 1 to 64 bytes",
                });
            }
            epoch_period_ms.insert(class, (secs * 1000) as i64);
        }
        let mut retention_ms = BTreeMap::new();
        for (class, text) in c.retention {
            if class.is_empty() || class.len() > obhut_core::epoch::MAX_CLASS_LEN {
                return Err(ConfigError::Invalid {
                    setting: "retention",
                    value: class,
                    reason: "a retention class name has 1 to 64 bytes",
                });
            }
            let keep = parse_keep(&text).ok_or(ConfigError::Invalid {
                setting: "retention",
                value: format!("{class} = {text}"),
                reason: "a retention is \"N minutes|hours|days\" (at least 1 minute, at most 100 years) or \"until released\"",
            })?;
            retention_ms.insert(class, keep);
        }
        let sweep_interval_secs = c.sweep_interval_secs.unwrap_or(DEFAULT_SWEEP_INTERVAL_SECS);
        if !(1..=86_400).contains(&sweep_interval_secs) {
            return Err(ConfigError::Invalid {
                setting: "sweep_interval_secs",
                value: sweep_interval_secs.to_string(),
                reason: "must be between 1 second and 1 day",
            });
        }
        let max_segment_bytes = c.max_segment_bytes.unwrap_or(DEFAULT_MAX_SEGMENT_BYTES);
        if max_segment_bytes == 0 {
            return Err(ConfigError::Invalid {
                setting: "max_segment_bytes",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        let max_capture_age_secs = c
            .max_capture_age_secs
            .unwrap_or(DEFAULT_MAX_CAPTURE_AGE_SECS);
        if !(60..=3660 * 86_400).contains(&max_capture_age_secs) {
            return Err(ConfigError::Invalid {
                setting: "max_capture_age_secs",
                value: max_capture_age_secs.to_string(),
                reason: "must be between 60 seconds and 10 years",
            });
        }
        if let Some(o) = &c.log_origin
            && (o.is_empty()
                || o.len() > 255
                || !o.bytes().all(|b| b.is_ascii_graphic())
                || o.contains('+'))
        {
            return Err(ConfigError::Invalid {
                setting: "log_origin",
                value: o.clone(),
                reason: "an origin is 1 to 255 printable ASCII characters without spaces or '+', such as vault.example.org/obhut",
            });
        }
        if let Some(d) = c.log_retention_days
            && !(1..=36_500).contains(&d)
        {
            return Err(ConfigError::Invalid {
                setting: "log_retention_days",
                value: d.to_string(),
                reason: "must be between 1 and 36500 days (leave it unset to keep entries for ever)",
            });
        }
        let mut witnesses = Vec::new();
        for w in &c.witness {
            let vkey = obhut_log::VerifierKey::parse(&w.vkey)
                .ok()
                .filter(|k| k.alg() == obhut_log::note::ALG_COSIGNATURE_V1)
                .ok_or_else(|| ConfigError::Invalid {
                    setting: "witness.vkey",
                    value: w.vkey.clone(),
                    reason: "not a cosignature verifier key (the vkey printed by `obhut witness init`)",
                })?;
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    setting: "witness.url",
                    value: w.url.clone(),
                    reason: "must start with http:// or https://",
                });
            }
            witnesses.push(WitnessConfig {
                url: w.url.trim_end_matches('/').to_owned(),
                vkey,
            });
        }
        let access_purposes = c.access_purposes.unwrap_or_else(|| {
            DEFAULT_ACCESS_PURPOSES
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        });
        if access_purposes.is_empty() {
            return Err(ConfigError::Invalid {
                setting: "access_purposes",
                value: "[]".into(),
                reason: "list at least one purpose (or leave it unset for the defaults)",
            });
        }
        if let Some(p) = access_purposes
            .iter()
            .find(|p| p.is_empty() || p.len() > obhut_core::request::MAX_PURPOSE_LEN)
        {
            return Err(ConfigError::Invalid {
                setting: "access_purposes",
                value: p.clone(),
                reason: "a purpose has 1 to 256 bytes",
            });
        }
        let max_grant_days = c.max_grant_days.unwrap_or(DEFAULT_MAX_GRANT_DAYS);
        if !(1..=3660).contains(&max_grant_days) {
            return Err(ConfigError::Invalid {
                setting: "max_grant_days",
                value: max_grant_days.to_string(),
                reason: "must be between 1 and 3660 days",
            });
        }
        let ops_listen = match c.ops_listen {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| ConfigError::Invalid {
                setting: "ops_listen",
                value: s.clone(),
                reason: "not an address:port such as 127.0.0.1:9700",
            })?),
        };
        let tls = match (c.tls_cert, c.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (cert, _) => {
                return Err(ConfigError::Invalid {
                    setting: if cert.is_some() {
                        "tls_key"
                    } else {
                        "tls_cert"
                    },
                    value: String::new(),
                    reason: "TLS needs both tls_cert and tls_key (PEM files)",
                });
            }
        };
        let database_url = match c.database_url {
            Some(u) if !u.is_postgres() => {
                return Err(ConfigError::Invalid {
                    setting: "database_url",
                    // Not echoed: it may hold a password.
                    value: String::new(),
                    reason: "not a postgres:// or postgresql:// URL (unset it for the embedded SQLite index)",
                });
            }
            u => u,
        };
        if let Some(url) = &c.blob_url
            && !url.starts_with("s3://")
        {
            return Err(ConfigError::Invalid {
                setting: "blob_url",
                value: url.clone(),
                reason: "a blob store URL is s3://bucket/prefix (unset: the data directory)",
            });
        }
        Ok(ServerConfig {
            database_url,
            tls,
            ca_cert: c.ca_cert,
            blobs: obhut_store::BlobConfig {
                url: c.blob_url,
                options: c.s3.into_iter().collect(),
            },
            ops_listen,
            net: c.net.validate()?,
            access_purposes,
            max_grant_ms: (max_grant_days * 86_400_000) as i64,
            allow_self_approval: c.allow_self_approval.unwrap_or(false),
            witnesses,
            log_origin: c.log_origin,
            log_retention_ms: c.log_retention_days.map(|d| (d * 86_400_000) as i64),
            data_dir: c.data.unwrap_or_else(|| DEFAULT_DATA.into()),
            keys_dir: c.keys.unwrap_or_else(|| DEFAULT_KEYS.into()),
            listen,
            max_segment_bytes,
            epoch_period_ms,
            retention_ms,
            epoch_holder_dir: c.epoch_holder_dir,
            sweep_interval_ms: (sweep_interval_secs * 1000) as i64,
            pkcs11: match (c.pkcs11_module, c.pkcs11_token) {
                (None, None) => None,
                (Some(m), Some(t)) => Some((m, t)),
                (m, _) => {
                    return Err(ConfigError::Invalid {
                        setting: if m.is_some() {
                            "pkcs11_token"
                        } else {
                            "pkcs11_module"
                        },
                        value: String::new(),
                        reason: "a PKCS#11 key holder needs both pkcs11_module and pkcs11_token",
                    });
                }
            },
            default_epoch_period_ms: (DEFAULT_EPOCH_PERIOD_SECS * 1000) as i64,
            max_capture_age_ms: (max_capture_age_secs * 1000) as i64,
        })
    }

    /// How long `class`'s footage is kept after its epoch ends (ms);
    /// `None`: until released.
    pub fn keep_of(&self, class: &str) -> Option<i64> {
        self.retention_ms.get(class).copied().flatten()
    }

    /// When an epoch of `class` ending at `not_after` expires: its footage
    /// is deleted by the first sweep at or after this time, so no segment
    /// outlives its class's retention by more than one epoch period plus
    /// one sweep interval (docs/vault.md §9).
    pub fn expiry_of(&self, class: &str, not_after: i64) -> Option<i64> {
        self.keep_of(class).map(|k| not_after.saturating_add(k))
    }

    /// The epoch period of `class` (ms).
    pub fn period_of(&self, class: &str) -> i64 {
        self.epoch_period_ms
            .get(class)
            .copied()
            .unwrap_or(self.default_epoch_period_ms)
    }
}

mod text;
use text::{
    env_bool, env_list, env_num, parse_periods_env, parse_retention_env, parse_witnesses_env,
};
pub use text::{parse_class_pair, parse_keep, parse_witness};

#[cfg(test)]
mod tests;
