//! One module per subcommand, each with its own clap `Args` and a `run`.

pub mod custody;
pub mod keygen;
pub mod partial;
pub mod release;
pub mod request;
pub mod seal;
pub mod unseal;
pub mod verify;
