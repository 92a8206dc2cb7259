//! `obhut serve --print-config`: the settings a vault would run with,
//! every key with the value its layers gave it or its default, as TOML an
//! operator can keep as `obhut.toml`; secrets redacted.
//!
//! What counts as a secret here: the password (or token) in a URL's user
//! part (a witness behind basic authentication, a PostgreSQL
//! `database_url`), an `[s3]` option that names a secret, token or
//! password (credentials belong in the environment), and the PKCS#11 PIN,
//! which is never a key but whose presence is worth showing. A printed
//! configuration is pasted into tickets and chat; nothing in it may open
//! anything.

use crate::config::{ConfigError, DatabaseUrl, FileConfig, NetFile, ServerConfig, WitnessFile};

/// What a secret is printed as.
pub const REDACTED: &str = "<redacted>";

/// `url` with the password (or, without a `:`, the whole user part) of
/// its authority replaced by [`REDACTED`].
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let Some((user, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = match user.split_once(':') {
        Some((name, _)) => format!("{name}:{REDACTED}"),
        None => REDACTED.to_owned(),
    };
    format!("{scheme}://{user}@{host}{path}")
}

/// The merged layers `c` validated, with every default written out.
pub fn effective(c: FileConfig) -> Result<FileConfig, ConfigError> {
    let v = ServerConfig::from_layers(c.clone())?;
    let t = v.net.timeouts;
    Ok(FileConfig {
        data: Some(v.data_dir),
        keys: Some(v.keys_dir),
        database_url: c.database_url.map(|u| DatabaseUrl(redact_url(u.expose()))),
        listen: Some(v.listen.to_string()),
        max_segment_bytes: Some(v.max_segment_bytes),
        epoch_period_secs: c.epoch_period_secs,
        retention: c.retention,
        epoch_holder_dir: c.epoch_holder_dir,
        sweep_interval_secs: Some(v.sweep_interval_ms.unsigned_abs() / 1000),
        pkcs11_module: c.pkcs11_module,
        pkcs11_token: c.pkcs11_token,
        max_capture_age_secs: Some(v.max_capture_age_ms.unsigned_abs() / 1000),
        log_origin: c.log_origin,
        log_retention_days: c.log_retention_days,
        witness: c
            .witness
            .into_iter()
            .map(|w| WitnessFile {
                url: redact_url(&w.url),
                vkey: w.vkey,
            })
            .collect(),
        access_purposes: Some(v.access_purposes),
        max_grant_days: Some(v.max_grant_ms.unsigned_abs() / 86_400_000),
        allow_self_approval: Some(v.allow_self_approval),
        ops_listen: v.ops_listen.map(|a| a.to_string()),
        net: NetFile {
            max_connections: Some(
                v.net
                    .max_connections
                    .unwrap_or_else(crate::net::default_max_connections),
            ),
            header_timeout_secs: Some(t.header.as_secs()),
            idle_timeout_secs: Some(t.idle.as_secs()),
            body_gap_secs: Some(t.body_gap.as_secs()),
            body_min_rate: Some(t.body_min_rate),
            anon_per_sec: Some(v.net.anon_per_sec.get()),
            anon_burst: Some(v.net.anon_burst.get()),
        },
        blob_url: c.blob_url,
        s3: c
            .s3
            .into_iter()
            .map(|(k, v)| {
                let secret = ["secret", "token", "password"]
                    .iter()
                    .any(|w| k.to_ascii_lowercase().contains(w));
                (k, if secret { REDACTED.to_owned() } else { v })
            })
            .collect(),
        tls_cert: c.tls_cert,
        tls_key: c.tls_key,
        ca_cert: c.ca_cert,
    })
}

/// The text `--print-config` prints: [`effective`] as TOML, then whether
/// the PKCS#11 PIN is set (`pin_set`), never its value.
pub fn print(c: FileConfig, pin_set: bool) -> Result<String, ConfigError> {
    let e = effective(c)?;
    // A struct of strings, numbers, lists and maps always serializes.
    let mut out = toml::to_string(&e).unwrap_or_default();
    out.push_str(if pin_set {
        "\n# OBHUT_PKCS11_PIN = <redacted> (set in the environment)\n"
    } else {
        "\n# OBHUT_PKCS11_PIN is not set\n"
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_password_is_redacted_and_nothing_else() {
        assert_eq!(
            redact_url("https://dpo:s3cret@witness.example:8701/w?x=1"),
            "https://dpo:<redacted>@witness.example:8701/w?x=1"
        );
        assert_eq!(
            redact_url("https://tok3n@witness.example/"),
            "https://<redacted>@witness.example/"
        );
        assert_eq!(
            redact_url("http://witness.example/a@b"),
            "http://witness.example/a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
