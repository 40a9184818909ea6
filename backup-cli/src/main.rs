//! `ic-backup`: the operator CLI. See `ic-backup --help`.

fn main() {
    backup_cli::main();
}
