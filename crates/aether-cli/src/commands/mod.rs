//! One module per subcommand.

pub mod check;
pub mod keygen;
pub mod lock;
pub mod run;
pub mod sign;
pub mod verify_log;
