//! One module per subcommand.

pub mod check;
pub mod exec;
pub mod export;
pub mod keygen;
pub mod lock;
pub mod new;
pub mod run;
pub mod schema;
pub mod sign;
pub mod verify_log;
