//! The user's folders that the runner and the CLI keep files in.

use std::path::PathBuf;

/// The user's cache folder: `$XDG_CACHE_HOME`, else `$HOME/.cache` (an
/// empty variable counts as unset); `None` without either.
pub fn user_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))
}
