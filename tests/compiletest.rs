//! What users see when the derive accepts or refuses their struct.
//!
//! The `.stderr` files match the toolchain pinned in `rust-toolchain.toml`;
//! after a toolchain change, regenerate them with `TRYBUILD=overwrite` and
//! read the diff.

#[test]
fn derive_accepts_and_refuses() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("ui/*.rs");
}
