//! One module per command: its options (`Args`, as clap reads them) and
//! its `run`, which turns them into the library's operation.

pub mod auth;
pub mod backup;
pub mod call;
pub mod dump;
pub mod inspect;
pub mod load;
pub mod migrate;
pub mod restore;
pub mod serve;
pub mod snapshot;
pub mod verify;
pub mod whoami;

use backup_client::connect::Connection;

/// What every command is given besides its own options: where its calls
/// go, and whether it prints JSON.
pub struct Global {
    pub connection: Connection,
    pub json: bool,
}

/// `--parallel`: queries in flight, 1 to 1024.
fn in_flight() -> impl clap::builder::TypedValueParser<Value = usize> {
    clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..=1024), |n| n as usize)
}

/// `--format`: the forms of a backup file.
fn format() -> impl clap::builder::TypedValueParser<Value = backup_client::json::Format> {
    use backup_client::json::Format;
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values =
        Format::ALL.map(|format| PossibleValue::new(format.name()).help(format.description()));
    PossibleValuesParser::new(values).try_map(|name| {
        Format::from_name(&name).ok_or_else(|| format!("expected a format, found `{name}`"))
    })
}
