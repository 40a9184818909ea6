//! What users see when the derive refuses their struct. (The structs it
//! accepts are the `pass/` tests, each a crate of its own built and run with
//! the workspace's tests.)
//!
//! The `.stderr` files match the toolchain pinned in `rust-toolchain.toml`;
//! after a toolchain change, regenerate them with `TRYBUILD=overwrite` and
//! read the diff.

#[test]
fn derive_refuses() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}

/// Each case says how many errors it must produce (`// errors: N` on its
/// first line): one per mistake. Every error points at the case's own code,
/// never into generated code or the runtime.
#[test]
fn one_error_per_mistake_on_the_users_tokens() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let expected: usize = source
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("// errors: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{} does not start with `// errors: N`", path.display()));
        let stderr = std::fs::read_to_string(path.with_extension("stderr")).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let lines: Vec<&str> = stderr.lines().collect();
        let errors: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("error"))
            .collect();
        assert_eq!(
            errors.len(),
            expected,
            "{name}: {} errors, expected {expected}:\n{stderr}",
            errors.len()
        );
        for &i in &errors {
            let location = lines[i + 1..]
                .iter()
                .find(|line| line.trim_start().starts_with("-->"))
                .unwrap_or_else(|| panic!("{name}: an error without a location"));
            assert!(
                location.contains(&format!("ui/{name}")),
                "{name}: an error points elsewhere than the user's code: {location}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} cases");
}
