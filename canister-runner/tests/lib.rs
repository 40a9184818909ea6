//! Nothing: the package holds the runner's tests (`main.rs`, `allocation.rs`).
