//! The book's links resolve: every relative link in the README, in
//! `docs/**/*.md` and in each crate's README names a file that exists, and
//! an `#anchor` that a heading of that file produces (GitHub's slugs); and
//! every chapter under `docs/` is linked from `docs/README.md`, its table of
//! contents. Plain string parsing: enough for the Markdown this project
//! writes (inline links, reference definitions, fenced code, code spans).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Folders that hold no documentation of ours.
const NOT_OURS: [&str; 3] = ["target", ".git", "node_modules"];

/// The README, every Markdown file under `docs/`, and every other
/// `README.md` of the workspace (the crates').
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut found = BTreeSet::new();
    walk(root, &mut |path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let in_docs = path.starts_with(root.join("docs"));
        if name == "README.md" || (in_docs && name.ends_with(".md")) {
            found.insert(path.to_path_buf());
        }
    });
    found.into_iter().collect()
}

fn walk(dir: &Path, each: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !NOT_OURS.iter().any(|skip| name == *skip) {
                walk(&path, each);
            }
        } else {
            each(&path);
        }
    }
}

/// A link found in a document: its line and its target as written.
struct Link {
    line: usize,
    target: String,
}

/// The lines of `text` outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let run = |c: char| trimmed.chars().take_while(|&x| x == c).count();
        let opening = ['`', '~'].into_iter().find(|&c| run(c) >= 3);
        match (fence, opening) {
            (None, Some(c)) => fence = Some((c, run(c))),
            (Some((c, len)), Some(d))
                if c == d && run(d) >= len && trimmed.trim_matches(d).trim().is_empty() =>
            {
                fence = None
            }
            (None, None) => lines.push((index + 1, line)),
            _ => {}
        }
    }
    lines
}

/// `line` without its code spans (`` `...` ``), whose brackets are no links.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let closing = "`".repeat(ticks);
        match after.find(&closing) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Inline links and images (`[text](target)`, `![alt](target)`) and
/// reference definitions (`[label]: target`).
fn links(text: &str) -> Vec<Link> {
    let mut found = Vec::new();
    for (line_number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if let Some(end) = trimmed.find("]:") {
                let target = trimmed[end + 2..].split_whitespace().next().unwrap_or("");
                found.push(Link {
                    line: line_number,
                    target: target.trim_matches(['<', '>']).to_string(),
                });
                continue;
            }
        }
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let (target, consumed) = if let Some(angled) = after.strip_prefix('<') {
                let end = angled.find('>').unwrap_or(angled.len());
                (&angled[..end], end + 2)
            } else {
                // Balanced parentheses, then an optional title after a space.
                let mut depth = 0usize;
                let mut end = after.len();
                for (i, c) in after.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => {
                            end = i;
                            break;
                        }
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
                let inside = &after[..end];
                (inside.split_whitespace().next().unwrap_or(""), end + 1)
            };
            found.push(Link {
                line: line_number,
                target: target.to_string(),
            });
            rest = after.get(consumed..).unwrap_or("");
        }
    }
    found
}

/// The anchor GitHub gives a heading: its text as rendered, in lower case,
/// every character but letters, digits, spaces, `-` and `_` dropped, and
/// each space made a `-`.
fn slug(heading: &str) -> String {
    let text = rendered_text(heading);
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if c == ' ' {
            slug.push('-');
        } else if c == '-' || c == '_' {
            slug.push(c);
        }
    }
    slug
}

/// A heading's Markdown as text: code spans keep their content, links their
/// text, HTML tags go.
fn rendered_text(heading: &str) -> String {
    let mut out = String::new();
    let mut chars = heading.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {}
            '<' => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            ']' if chars.peek() == Some(&'(') => {
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
            }
            '[' => {}
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

/// Every anchor a document's headings produce (a repeated heading's as
/// GitHub numbers it: `x`, `x-1`, `x-2`), and any `id` or `name` of an HTML
/// anchor.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
            let heading = trimmed[level..].trim().trim_end_matches('#').trim();
            let base = slug(heading);
            let mut anchor = base.clone();
            let mut n = 0;
            while anchors.contains(&anchor) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
            anchors.insert(anchor);
        }
        for attribute in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(start) = rest.find(attribute) {
                let after = &rest[start + attribute.len()..];
                let end = after.find('"').unwrap_or(after.len());
                anchors.insert(after[..end].to_string());
                rest = &after[end..];
            }
        }
    }
    anchors
}

/// `%20` and the like, as a browser reads a link.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` with `.` and `..` taken away, without asking the file system.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether `target` is an address on the web (or mail) rather than a file.
fn is_external(target: &str) -> bool {
    match target.find(':') {
        Some(colon) => !target[..colon].contains(['/', '#']),
        None => false,
    }
}

/// Where a relative link of `document` leads, and its anchor.
fn resolve(document: &Path, target: &str) -> (PathBuf, Option<String>) {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor.to_string())),
        None => (target, None),
    };
    let file = if path.is_empty() {
        document.to_path_buf()
    } else {
        let base = document.parent().unwrap_or(Path::new(""));
        normal(&base.join(percent_decoded(path)))
    };
    (file, anchor)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_relative_link_names_a_file_and_a_heading_that_exist() {
    let root = root();
    let documents = documents(&root);
    assert!(
        documents.contains(&root.join("README.md"))
            && documents.contains(&root.join("docs/README.md")),
        "expected README.md and docs/README.md among {documents:?}"
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in &documents {
        let text = std::fs::read_to_string(document).expect("a document reads as UTF-8");
        for link in links(&text) {
            if link.target.is_empty() || is_external(&link.target) {
                continue;
            }
            checked += 1;
            let at = format!(
                "{}:{}: `{}`",
                relative(&root, document),
                link.line,
                link.target
            );
            let (file, anchor) = resolve(document, &link.target);
            if !file.exists() {
                broken.push(format!(
                    "{at}: expected a file at {}, found none",
                    relative(&root, &file)
                ));
                continue;
            }
            let Some(anchor) = anchor.filter(|a| !a.is_empty()) else {
                continue;
            };
            if file.extension().and_then(|e| e.to_str()) != Some("md") {
                continue;
            }
            let target_text =
                std::fs::read_to_string(&file).expect("a linked document reads as UTF-8");
            let known = anchors(&target_text);
            if !known.contains(&anchor) {
                broken.push(format!(
                    "{at}: expected a heading of {} whose anchor is `#{anchor}`, found only: {}",
                    relative(&root, &file),
                    known
                        .iter()
                        .map(|a| format!("#{a}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        }
    }
    assert!(checked > 0, "expected some relative links, found none");
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn every_chapter_is_in_the_table_of_contents() {
    let root = root();
    let contents_path = root.join("docs/README.md");
    let contents = std::fs::read_to_string(&contents_path).expect("docs/README.md");
    let linked: BTreeSet<PathBuf> = links(&contents)
        .iter()
        .filter(|link| !is_external(&link.target))
        .map(|link| resolve(&contents_path, &link.target).0)
        .collect();
    let missing: Vec<String> = documents(&root)
        .into_iter()
        .filter(|path| path.starts_with(root.join("docs")) && *path != contents_path)
        .filter(|path| !linked.contains(path))
        .map(|path| relative(&root, &path))
        .collect();
    assert!(
        missing.is_empty(),
        "expected docs/README.md to link to every chapter; not linked: {}",
        missing.join(", ")
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("What each format keeps"), "what-each-format-keeps");
    assert_eq!(
        slug("Serving an image: `ic-backup serve`"),
        "serving-an-image-ic-backup-serve"
    );
    assert_eq!(
        slug("Adopting the article's stable memory (V1 maps)"),
        "adopting-the-articles-stable-memory-v1-maps"
    );
    assert_eq!(
        slug("backup_name_page and `max_bytes`"),
        "backup_name_page-and-max_bytes"
    );
    assert_eq!(slug("A [link](x.md) in a heading"), "a-link-in-a-heading");
    assert_eq!(slug("Ünïcode, kept"), "ünïcode-kept");
    let text = "# Title\n\n## Same\n\n```\n## not a heading\n```\n\n## Same\n";
    let found = anchors(text);
    assert_eq!(found, ["title", "same", "same-1"].map(String::from).into());
}

#[test]
fn links_in_code_are_not_links() {
    let text = "See [a](a.md#x) and `[b](b.md)`.\n\n```\n[c](c.md)\n```\n[d]: d.md\n![e](img/e.png \"title\")\n";
    let targets: Vec<String> = links(text).into_iter().map(|l| l.target).collect();
    assert_eq!(targets, ["a.md#x", "d.md", "img/e.png"]);
    assert!(is_external("https://example.org/a.md"));
    assert!(is_external("mailto:someone@example.org"));
    assert!(!is_external("../docs/a.md#b"));
}
