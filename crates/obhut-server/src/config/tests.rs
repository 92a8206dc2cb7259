//! The settings' layers and their checks (config.rs).

use super::*;

/// `OBHUT_DATABASE_URL` selects PostgreSQL over the file's setting;
/// another scheme is refused without echoing it; the Debug form (the
/// configuration is logged) hides the password.
#[test]
fn the_database_url_selects_postgres_and_hides_its_password() {
    let env = |k: &str| {
        (k == "OBHUT_DATABASE_URL").then(|| "postgres://vault:s3cret@db:5432/obhut".to_owned())
    };
    let file = FileConfig {
        database_url: Some(DatabaseUrl("postgres://other@db/x".into())),
        ..FileConfig::default()
    };
    let c =
        ServerConfig::from_layers(file.overridden_by(FileConfig::from_env(env).unwrap())).unwrap();
    let url = c.database_url.as_ref().expect("set");
    assert_eq!(url.expose(), "postgres://vault:s3cret@db:5432/obhut");
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("postgres://vault:***@db:5432/obhut"),
        "{shown}"
    );
    assert!(
        ServerConfig::from_layers(FileConfig::default())
            .unwrap()
            .database_url
            .is_none(),
        "unset: the embedded index"
    );
    let e = ServerConfig::from_layers(FileConfig {
        database_url: Some(DatabaseUrl("mysql://u:pw@h/d".into())),
        ..FileConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("database_url") && !e.contains("pw"), "{e}");
}

#[test]
fn the_blob_url_comes_from_the_file_or_the_environment_and_names_s3() {
    let file: FileConfig =
        toml::from_str("blob_url = \"s3://b/p\"\n[s3]\nregion = \"eu-1\"\n").unwrap();
    let c = ServerConfig::from_layers(file.clone()).unwrap();
    assert_eq!(c.blobs.url.as_deref(), Some("s3://b/p"));
    assert_eq!(c.blobs.options, [("region".to_owned(), "eu-1".to_owned())]);
    let env =
        FileConfig::from_env(|k| (k == "OBHUT_BLOB_URL").then(|| "s3://e/x".to_owned())).unwrap();
    let c = ServerConfig::from_layers(file.overridden_by(env)).unwrap();
    assert_eq!(c.blobs.url.as_deref(), Some("s3://e/x"), "env over file");
    assert!(
        ServerConfig::from_layers(FileConfig {
            blob_url: Some("/srv/blobs".into()),
            ..FileConfig::default()
        })
        .is_err()
    );
    let default = ServerConfig::from_layers(FileConfig::default()).unwrap();
    assert_eq!(default.blobs.url, None, "the data directory");
}
