//! The workspace's structure as its README and book describe it: crates
//! whose arrows point one way (down the layers below), and no circle of
//! imports between the files of any crate.
//!
//! The file graph is read as text, as a reader sees it: a file imports the
//! module files its `crate::` and `super::` paths name (a parent's `mod`
//! declarations and its own children's paths do not count).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace's crates, each with its layer: a crate depends only on
/// crates of lower layers.
const LAYERS: &[(&str, u32)] = &[
    ("backup-common", 0),
    ("backup-derive", 1),
    ("canister-runner", 1),
    // restic repositories, through rustic_core: no workspace crate below it.
    ("backup-repo", 1),
    // It re-exports the derive, which generates code that calls it.
    ("backup-runtime", 2),
    ("backup-client", 3),
    ("backup-serve", 4),
    ("ic-backup", 5),
    ("backup-bench", 5),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The workspace crates a crate's `[dependencies]` name.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if !in_dependencies {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
        if LAYERS.iter().any(|(crate_name, _)| *crate_name == name) {
            found.push(name.to_string());
        }
    }
    found
}

#[test]
fn every_crate_depends_only_on_lower_layers() {
    for (name, layer) in LAYERS {
        let manifest = std::fs::read_to_string(root().join(name).join("Cargo.toml"))
            .unwrap_or_else(|error| panic!("{name}/Cargo.toml: {error}"));
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "the directory {name}/ holds the package {name}"
        );
        for dependency in dependencies(&manifest) {
            let below = LAYERS
                .iter()
                .find(|(other, _)| *other == dependency)
                .map(|(_, layer)| *layer)
                .unwrap_or(u32::MAX);
            assert!(
                below < *layer,
                "{name} (layer {layer}) depends on {dependency} (layer {below}): arrows point down"
            );
        }
    }
}

/// The module path of each source file of a crate (`src/a/b.rs` and
/// `src/a/b/mod.rs` are `a::b`), tests left out.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "bin") {
                    dirs.push(path);
                }
                continue;
            }
            let Ok(relative) = path.strip_prefix(src) else {
                continue;
            };
            let text = relative.to_string_lossy().replace('\\', "/");
            let Some(text) = text.strip_suffix(".rs") else {
                continue;
            };
            let mut parts: Vec<String> = text.split('/').map(str::to_string).collect();
            if parts.last().is_some_and(|last| last == "tests") {
                continue;
            }
            if parts
                .last()
                .is_some_and(|last| ["mod", "lib", "main"].contains(&last.as_str()))
            {
                parts.pop();
            }
            found.insert(parts, path);
        }
    }
    found
}

/// The code of a file without its comments, its re-exports (`pub use`:
/// a module's surface, not what it uses) and its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("//") && !line.starts_with("pub use")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names from `crate::` or `super::`, as module parts
/// from the crate's root; groups (`crate::a::{b, c::d}`) opened.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            // The base module, and the rest of the path as written.
            let mut base: Vec<String> = if start == "crate::" {
                Vec::new()
            } else {
                // `super` of `a::b` (`a/b.rs` or `a/b/mod.rs`) is `a`.
                module[..module.len().saturating_sub(1)].to_vec()
            };
            let mut rest = &code[from..];
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            for path in expand(rest) {
                let mut whole = base.clone();
                whole.extend(path);
                found.push(whole);
            }
        }
    }
    found
}

/// The paths named through `name::` (a module imported by that name, at
/// `module`).
fn through(code: &str, name: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let start = format!("{name}::");
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find(&start) {
        let at = from + at;
        from = at + start.len();
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue;
        }
        for path in expand(&code[from..]) {
            let mut whole = module.to_vec();
            whole.extend(path);
            found.push(whole);
        }
    }
    found
}

/// `a::b::{c, d::e}` as `[a, b, c]`, `[a, b, d, e]`; a plain path as its
/// identifiers.
fn expand(text: &str) -> Vec<Vec<String>> {
    let mut parts = Vec::new();
    let mut rest = text;
    if let Some(group) = rest.strip_prefix('{') {
        let close = matching_brace(group);
        return split_top(&group[..close])
            .into_iter()
            .flat_map(|item| expand(item.trim()))
            .collect();
    }
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            parts.push(rest[..end].to_string());
        }
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix("::") {
            if let Some(group) = after.strip_prefix('{') {
                let close = matching_brace(group);
                let mut all = Vec::new();
                for item in split_top(&group[..close]) {
                    for tail in expand(item.trim()) {
                        let mut whole = parts.clone();
                        whole.extend(tail);
                        all.push(whole);
                    }
                }
                return all;
            }
            rest = after;
            continue;
        }
        return vec![parts];
    }
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// The circles of a graph (its strongly connected parts of more than one
/// node), by Tarjan's algorithm.
fn circles(graph: &BTreeMap<usize, BTreeSet<usize>>, nodes: usize) -> Vec<Vec<usize>> {
    struct State<'a> {
        graph: &'a BTreeMap<usize, BTreeSet<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(state: &mut State, node: usize) {
        state.index[node] = Some(state.next);
        state.low[node] = state.next;
        state.next += 1;
        state.stack.push(node);
        state.on_stack[node] = true;
        let targets: Vec<usize> = state
            .graph
            .get(&node)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        for target in targets {
            match state.index[target] {
                None => {
                    visit(state, target);
                    state.low[node] = state.low[node].min(state.low[target]);
                }
                Some(index) if state.on_stack[target] => {
                    state.low[node] = state.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if Some(state.low[node]) == state.index[node] {
            let mut part = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack[top] = false;
                part.push(top);
                if top == node {
                    break;
                }
            }
            if part.len() > 1 {
                state.found.push(part);
            }
        }
    }
    let mut state = State {
        graph,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in 0..nodes {
        if state.index[node].is_none() {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn no_file_of_any_crate_is_in_an_import_circle() {
    let mut every_circle = Vec::new();
    for (name, _) in LAYERS {
        let src = root().join(name).join("src");
        let modules = modules(&src);
        let ids: Vec<(&Vec<String>, &PathBuf)> = modules.iter().collect();
        let id_of = |path: &[String]| {
            // The deepest module the path names.
            (0..=path.len()).rev().find_map(|len| {
                ids.iter()
                    .position(|(module, _)| module.as_slice() == &path[..len])
            })
        };
        let mut graph: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for (from, (module, file)) in ids.iter().enumerate() {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let code = code(&text);
            let mut paths = named_paths(&code, module);
            // A module imported by name (`use crate::cmd;`, `use
            // crate::target::{self, ..}`) and named through it (`cmd::auth`).
            let aliases: Vec<Vec<String>> = paths
                .iter()
                .map(|path| match path.last().map(String::as_str) {
                    Some("self") => path[..path.len() - 1].to_vec(),
                    _ => path.clone(),
                })
                .filter(|path| !path.is_empty() && modules.contains_key(path))
                .collect();
            for alias in aliases {
                let name = alias.last().map(String::as_str).unwrap_or_default();
                paths.extend(through(&code, name, &alias));
            }
            for path in paths {
                if let Some(to) = id_of(&path) {
                    if to != from {
                        graph.entry(from).or_default().insert(to);
                    }
                }
            }
        }
        for circle in circles(&graph, ids.len()) {
            let files: Vec<String> = circle
                .iter()
                .map(|id| {
                    ids[*id]
                        .1
                        .strip_prefix(root())
                        .unwrap_or(ids[*id].1)
                        .display()
                        .to_string()
                })
                .collect();
            every_circle.push(files.join(" -> "));
        }
    }
    assert!(
        every_circle.is_empty(),
        "import circles:\n{}",
        every_circle.join("\n")
    );
}

/// The reader finds a circle where there is one.
#[test]
fn a_circle_is_found() {
    let mut graph = BTreeMap::new();
    graph.insert(0, BTreeSet::from([1]));
    graph.insert(1, BTreeSet::from([2]));
    graph.insert(2, BTreeSet::from([0]));
    graph.insert(3, BTreeSet::from([0]));
    assert_eq!(circles(&graph, 4).len(), 1);
    let module = vec!["ops".to_string(), "restore".to_string()];
    assert_eq!(
        named_paths(
            "use super::{backup::X, raw};\nuse crate::target::{self, Target};",
            &module
        ),
        vec![
            vec!["target".to_string(), "self".to_string()],
            vec!["target".to_string(), "Target".to_string()],
            vec!["ops".to_string(), "backup".to_string(), "X".to_string()],
            vec!["ops".to_string(), "raw".to_string()],
        ]
    );
}
