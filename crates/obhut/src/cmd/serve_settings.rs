//! The flags of `obhut serve` that set a vault setting: one per key of
//! `obhut.toml` (docs/vault.md), each also an `OBHUT_*` variable. A flag
//! beats its variable, which beats the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use obhut_server::config::{
    DatabaseUrl, FileConfig, NetFile, WitnessFile, parse_class_pair, parse_witness,
};

fn class_pair(s: &str) -> Result<(String, String), String> {
    parse_class_pair(s).ok_or_else(|| format!("`{s}` is not CLASS=VALUE"))
}

fn witness(s: &str) -> Result<WitnessFile, String> {
    parse_witness(s).ok_or_else(|| format!("`{s}` is not \"URL VKEY\""))
}

/// Every setting's flag (besides --data, --keys, --listen,
/// --max-segment-bytes, --tls-cert and --tls-key, and the global
/// --ca-cert).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Settings (each also a key in obhut.toml and an OBHUT_* variable)")]
pub struct Settings {
    /// PostgreSQL index and audit log instead of the embedded SQLite
    /// (postgres://USER@HOST:PORT/DB) [key database_url; OBHUT_DATABASE_URL]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Segment blobs in an S3-compatible bucket instead of DATA/blobs
    /// (s3://BUCKET/PREFIX; endpoint and credentials from AWS_*)
    /// [key blob_url; OBHUT_BLOB_URL]
    #[arg(long, value_name = "URL")]
    pub blob_url: Option<String>,
    /// Operations listener (/metrics, /healthz, /readyz) [key ops_listen]
    #[arg(long, value_name = "ADDR")]
    pub ops_listen: Option<String>,
    /// Epoch period of a retention class, in seconds; repeat per class
    /// [key epoch_period_secs; OBHUT_EPOCH_PERIOD_SECS="cctv=3600;…"]
    #[arg(long, value_name = "CLASS=SECS", value_parser = class_pair)]
    pub epoch_period: Vec<(String, String)>,
    /// Retention of a class ("72 hours", "until released"); repeat per class
    /// [key retention; OBHUT_RETENTION="cctv=72 hours;…"]
    #[arg(long, value_name = "CLASS=KEEP", value_parser = class_pair)]
    pub retention: Vec<(String, String)>,
    /// The file epoch key holder's directory [key epoch_holder_dir]
    #[arg(long, value_name = "DIR")]
    pub epoch_holder_dir: Option<PathBuf>,
    /// Seconds between two sweeps [key sweep_interval_secs]
    #[arg(long, value_name = "SECS")]
    pub sweep_interval_secs: Option<u64>,
    /// PKCS#11 module holding the epoch wrapping keys [key pkcs11_module]
    #[arg(long, value_name = "FILE")]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token (PIN in OBHUT_PKCS11_PIN) [key pkcs11_token]
    #[arg(long, value_name = "LABEL")]
    pub pkcs11_token: Option<String>,
    /// Oldest capture time, in seconds back from now, the vault still issues
    /// an epoch for [key max_capture_age_secs]
    #[arg(long, value_name = "SECS")]
    pub max_capture_age_secs: Option<u64>,
    /// Audit-log origin, set once before the first start [key log_origin]
    #[arg(long, value_name = "ORIGIN")]
    pub log_origin: Option<String>,
    /// Days an audit entry's body is kept [key log_retention_days]
    #[arg(long, value_name = "DAYS")]
    pub log_retention_days: Option<u64>,
    /// A witness to ask for cosignatures; repeat per witness (replaces the
    /// file's list) [key [[witness]]; OBHUT_WITNESSES="URL VKEY;…"]
    #[arg(long, value_name = "URL VKEY", value_parser = witness)]
    pub witness: Vec<WitnessFile>,
    /// A purpose an access request may state; repeat per purpose
    /// [key access_purposes; OBHUT_ACCESS_PURPOSES="a;b"]
    #[arg(long, value_name = "PURPOSE")]
    pub access_purpose: Vec<String>,
    /// Longest validity of an access request, in days [key max_grant_days]
    #[arg(long, value_name = "DAYS")]
    pub max_grant_days: Option<u64>,
    /// Whether a requester's own approval counts [key allow_self_approval]
    #[arg(long, value_name = "BOOL")]
    pub allow_self_approval: Option<bool>,
    /// Connections served at once [key net.max_connections]
    #[arg(long, value_name = "N")]
    pub net_max_connections: Option<usize>,
    /// Seconds to send a request head [key net.header_timeout_secs]
    #[arg(long, value_name = "SECS")]
    pub net_header_timeout_secs: Option<u64>,
    /// Seconds a keep-alive connection may idle [key net.idle_timeout_secs]
    #[arg(long, value_name = "SECS")]
    pub net_idle_timeout_secs: Option<u64>,
    /// Longest gap in a body, in seconds [key net.body_gap_secs]
    #[arg(long, value_name = "SECS")]
    pub net_body_gap_secs: Option<u64>,
    /// Lowest average body rate, bytes per second [key net.body_min_rate]
    #[arg(long, value_name = "BYTES")]
    pub net_body_min_rate: Option<u64>,
    /// Unauthenticated requests per second per source [key net.anon_per_sec]
    #[arg(long, value_name = "N")]
    pub net_anon_per_sec: Option<u32>,
    /// Their burst [key net.anon_burst]
    #[arg(long, value_name = "N")]
    pub net_anon_burst: Option<u32>,
}

impl Settings {
    /// `base` (the command's own flags) with these set over it, as the
    /// flags' layer.
    pub fn layer(&self, base: FileConfig) -> Result<FileConfig, String> {
        let mut periods = BTreeMap::new();
        for (class, secs) in &self.epoch_period {
            let secs: u64 = secs
                .parse()
                .map_err(|_| format!("--epoch-period {class}={secs}: not a whole number"))?;
            periods.insert(class.clone(), secs);
        }
        Ok(FileConfig {
            database_url: self.database_url.clone().map(DatabaseUrl),
            blob_url: self.blob_url.clone(),
            ops_listen: self.ops_listen.clone(),
            epoch_period_secs: periods,
            retention: self.retention.iter().cloned().collect(),
            epoch_holder_dir: self.epoch_holder_dir.clone(),
            sweep_interval_secs: self.sweep_interval_secs,
            pkcs11_module: self.pkcs11_module.clone(),
            pkcs11_token: self.pkcs11_token.clone(),
            max_capture_age_secs: self.max_capture_age_secs,
            log_origin: self.log_origin.clone(),
            log_retention_days: self.log_retention_days,
            witness: self.witness.clone(),
            access_purposes: (!self.access_purpose.is_empty()).then(|| self.access_purpose.clone()),
            max_grant_days: self.max_grant_days,
            allow_self_approval: self.allow_self_approval,
            net: NetFile {
                max_connections: self.net_max_connections,
                header_timeout_secs: self.net_header_timeout_secs,
                idle_timeout_secs: self.net_idle_timeout_secs,
                body_gap_secs: self.net_body_gap_secs,
                body_min_rate: self.net_body_min_rate,
                anon_per_sec: self.net_anon_per_sec,
                anon_burst: self.net_anon_burst,
            },
            ..base
        })
    }
}
