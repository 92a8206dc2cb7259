//! One module per subcommand, each with its own clap `Args` and a `run`.

pub mod admin;
pub mod agent;
pub mod approve;
pub mod audit;
pub mod check;
pub mod custody;
pub mod demo;
pub mod deny;
pub mod enrol;
pub mod erase;
pub mod export;
pub mod hold;
pub mod ingest;
pub mod keygen;
pub mod lineage;
pub mod open;
pub mod pending;
pub mod pin_log;
pub mod reclassify;
pub mod request;
pub mod seal;
pub mod serve;
pub mod serve_settings;
pub mod verify;
pub mod verify_bundle;
pub mod witness;
