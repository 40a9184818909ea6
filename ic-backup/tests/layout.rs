//! Canisters built without the derive, backed up through a layout file:
//! the club built plain (the same types in the same memories, no backup
//! endpoints) gives, structure by structure, the very file the derived
//! build's endpoints give; a layout that names the wrong type or kind for
//! a memory is refused, naming the memory and the first value that does
//! not decode, and writes nothing.

use crate::common;

use common::*;
use std::path::{Path, PathBuf};

const STRUCTURES: [&str; 6] = ["config", "members", "dues", "posts", "audit", "jobs"];

/// The layout file of the plain club, as shipped beside it.
fn layout() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/club-plain/club.toml"),
    )
    .unwrap()
}

/// The files in `dir` beside an output, other than the output itself.
fn leftovers(dir: &Path, output: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(output)
        })
        .collect()
}

#[test]
fn the_plain_builds_snapshot_through_a_layout_gives_the_derived_builds_backups() {
    let derived = seeded_club("club", 70);
    let plain = seeded_club("club_plain", 70);
    let layout_file = plain.path("club.toml");
    std::fs::write(&layout_file, layout()).unwrap();
    let folder = plain.path("snapshot");
    snapshot_folder(&plain, &folder);
    for name in STRUCTURES {
        let expected = derived.path(&format!("{name}.json"));
        derived.ok(&["backup", name, "-o", expected.to_str().unwrap()]);
        // From the snapshot folder, and from the image with its wasm.
        let from_folder = plain.path(&format!("{name}-folder.json"));
        let said = run_ok(&[
            "--snapshot",
            folder.to_str().unwrap(),
            "backup",
            name,
            "-o",
            from_folder.to_str().unwrap(),
            "--layout",
            layout_file.to_str().unwrap(),
        ]);
        assert!(said.contains("read from the image"), "{name}: {said}");
        let from_image = plain.path(&format!("{name}-image.json"));
        plain.ok(&[
            "backup",
            name,
            "-o",
            from_image.to_str().unwrap(),
            "--layout",
            layout_file.to_str().unwrap(),
            "--max-bytes",
            "700",
        ]);
        let expected = std::fs::read_to_string(&expected).unwrap();
        for file in [&from_folder, &from_image] {
            assert_eq!(
                std::fs::read_to_string(file).unwrap(),
                expected,
                "{name}: {} differs from the derived build's backup",
                file.display()
            );
        }
    }
}

/// Runs the ic-backup binary with `args`, which must succeed.
fn run_ok(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ic-backup {args:?}: {text}");
    text
}

#[test]
fn a_layout_naming_the_wrong_type_or_kind_is_refused_and_writes_nothing() {
    let plain = seeded_club("club_plain", 30);
    let before = std::fs::read(&plain.image).unwrap();
    let layout = layout();
    let refuse = |file: &str, edited: String, name: &str, expected: &[&str]| {
        let path = plain.path(file);
        std::fs::write(&path, edited).unwrap();
        let output = format!("{file}.json");
        let said = plain.fails(
            &[
                "backup",
                name,
                "-o",
                plain.path(&output).to_str().unwrap(),
                "--layout",
                path.to_str().unwrap(),
                "--max-bytes",
                "500",
            ],
            2,
        );
        for part in expected {
            assert!(said.contains(part), "{file}: expected `{part}` in: {said}");
        }
        assert_eq!(
            leftovers(plain.dir.path(), &output),
            Vec::<PathBuf>::new(),
            "{file}: a refused backup left files"
        );
        plain.assert_image_unchanged(&before);
    };
    // The posts' memory named as holding events: its first value does not
    // decode.
    refuse(
        "wrong-type.toml",
        layout.replace(
            "memory_id = 3\nvalue = \"Post\"",
            "memory_id = 3\nvalue = \"Event\"",
        ),
        "posts",
        &[
            "memory 3",
            "the value at 0",
            "does not decode as Event",
            "nothing was written",
        ],
    );
    // A value type whose variant lacks the last event's case: every value
    // before it decodes, the configure event (index 30) does not.
    refuse(
        "late-value.toml",
        layout.replace("  Configured;\n", ""),
        "audit",
        &[
            "memories 4 and 5",
            "the value at 30",
            "no backup file was written",
        ],
    );
    // The vec's memory named as a log's index, the set's as a cell.
    refuse(
        "wrong-kind.toml",
        layout.replace(
            "name = \"posts\"\nkind = \"vec\"",
            "name = \"posts\"\nkind = \"min-heap\"",
        ),
        "posts",
        &["memory 3", "expected magic `SMH`", "found `SVC`"],
    );
    refuse(
        "map-as-cell.toml",
        layout.replace(
            "name = \"dues\"\nkind = \"map\"\nmemory_id = 2\nkey = \"principal\"\n",
            "name = \"dues\"\nkind = \"cell\"\nmemory_id = 2\n",
        ),
        "dues",
        &["memory 2", "StableCell", "found"],
    );
    // What a layout file must say.
    refuse(
        "no-key.toml",
        layout.replace("memory_id = 1\nkey = \"principal\"", "memory_id = 1"),
        "members",
        &["the set `members` needs `key`"],
    );
    refuse(
        "unknown.toml",
        layout.clone(),
        "ledger",
        &[
            "names no structure `ledger`",
            "config, members, dues, posts, audit, jobs",
        ],
    );
    refuse(
        "bad-types.toml",
        layout.replace("type Post = record", "type Post = recrod"),
        "posts",
        &["the layout file's types"],
    );
}

/// The running plain build, served: `backup --consistent --layout` takes a
/// snapshot, reads the structure from the snapshot's stable memory and
/// deletes the snapshot; the file is the offline image's.
#[test]
fn a_consistent_cut_of_the_running_plain_build_backs_up_through_the_layout() {
    use common::serving::{whoami, write_keys, Served};
    let plain = seeded_club("club_plain", 40);
    let layout_file = plain.path("club.toml");
    std::fs::write(&layout_file, layout()).unwrap();
    let layout_arg = layout_file.to_str().unwrap();
    let offline_file = plain.path("audit-offline.json");
    plain.ok(&[
        "backup",
        "audit",
        "-o",
        offline_file.to_str().unwrap(),
        "--layout",
        layout_arg,
    ]);
    let (admin, _) = write_keys(plain.dir.path());
    let served = Served::start(&plain, &plain.image, &["--controller", &whoami(&admin)]);
    let cut_file = plain.path("audit-cut.json");
    let said = run_ok(&[
        "--network",
        &served.url,
        "--canister",
        &served.canister,
        "--pem",
        admin.to_str().unwrap(),
        "backup",
        "audit",
        "-o",
        cut_file.to_str().unwrap(),
        "--consistent",
        "--layout",
        layout_arg,
    ]);
    served.stop();
    assert!(said.contains("41 entries of `audit`"), "{said}");
    assert_eq!(
        std::fs::read(&cut_file).unwrap(),
        std::fs::read(&offline_file).unwrap(),
        "the consistent cut's backup is not the image's"
    );
    // The cut's folder and its snapshot are gone.
    assert_eq!(
        leftovers(plain.dir.path(), "audit-cut.json"),
        vec![cut_file.clone()]
    );
}

/// `inspect --layout` proposes a layout file: for the derived build, its
/// own (module metadata and interface types), which backs up as the
/// endpoints do; for the plain build, each memory's structure by its magic
/// with `?` for the types, refused until filled in, and then read.
#[test]
fn inspect_proposes_a_layout_that_backs_up_once_its_types_are_filled_in() {
    let derived = seeded_club("club", 20);
    let folder = derived.path("snapshot");
    snapshot_folder(&derived, &folder);
    let proposed = derived.path("derived.toml");
    std::fs::write(
        &proposed,
        run_ok(&["inspect", folder.to_str().unwrap(), "--layout"]),
    )
    .unwrap();
    let (endpoints, through_layout) = (
        derived.path("posts.json"),
        derived.path("posts-layout.json"),
    );
    derived.ok(&["backup", "posts", "-o", endpoints.to_str().unwrap()]);
    derived.ok(&[
        "backup",
        "posts",
        "-o",
        through_layout.to_str().unwrap(),
        "--layout",
        proposed.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&endpoints).unwrap(),
        std::fs::read(&through_layout).unwrap(),
        "the derived module's layout does not back up as its endpoints do"
    );

    let plain = seeded_club("club_plain", 20);
    let proposal = plain.ok(&["inspect", plain.image.to_str().unwrap(), "--layout"]);
    for part in [
        "name = \"memory_0\"\nkind = \"cell\"",
        "name = \"memory_1\"\nkind = \"map\"",
        "kind = \"vec\"\nmemory_id = 3\nvalue = \"?\"",
        "kind = \"log\"\nmemory_id = 4\ndata_memory_id = 5",
        "kind = \"min-heap\"\nmemory_id = 6",
        "20 elements",
    ] {
        assert!(proposal.contains(part), "expected `{part}` in:\n{proposal}");
    }
    let file = plain.path("proposed.toml");
    std::fs::write(&file, &proposal).unwrap();
    let output = plain.path("memory_3.json");
    let args = [
        "backup",
        "memory_3",
        "-o",
        output.to_str().unwrap(),
        "--layout",
        file.to_str().unwrap(),
    ];
    let said = plain.fails(&args, 2);
    assert!(said.contains("still `?`"), "{said}");
    // The types filled in (those of the shipped layout file).
    let shipped = layout();
    let types = &shipped[shipped.find("types = ").unwrap()..shipped.find("[[structure]]").unwrap()];
    let filled = proposal.replace("types = \"\"\"\n\"\"\"\n", types).replace(
        "memory_id = 3\nvalue = \"?\"",
        "memory_id = 3\nvalue = \"Post\"",
    );
    std::fs::write(&file, filled).unwrap();
    plain.ok(&args);
    let shipped_file = plain.path("club.toml");
    std::fs::write(&shipped_file, &shipped).unwrap();
    let posts = plain.path("posts.json");
    plain.ok(&[
        "backup",
        "posts",
        "-o",
        posts.to_str().unwrap(),
        "--layout",
        shipped_file.to_str().unwrap(),
    ]);
    assert_eq!(entries(&output), entries(&posts));
    assert_eq!(entries(&output).as_array().unwrap().len(), 20);
}

/// What the club's own queries say: how many of each, the job its heap
/// pops first, its configuration.
fn state(club: &Offline) -> Vec<String> {
    ["counts", "next_job", "config"]
        .into_iter()
        .map(|query| club.ok(&["call", query]))
        .collect()
}

/// The derived build's backups restored through the layout file into the
/// plain build's image (and a snapshot folder): the plain canister then
/// answers its own queries as the derived one, and its backups through the
/// layout are the derived build's files. A file that breaks a kind's rule
/// is refused, naming the entry, and the image is unchanged.
#[test]
fn a_layout_restore_into_the_plain_builds_image_gives_back_every_structure() {
    let source = seeded_club("club", 50);
    let layout_file = source.path("club.toml");
    std::fs::write(&layout_file, layout()).unwrap();
    let layout_arg = layout_file.to_str().unwrap();
    let target = Offline::new("club_plain");
    target.ok(&["call", "counts"]);
    let folder = target.path("snapshot");
    for name in STRUCTURES {
        let file = source.path(&format!("{name}.json"));
        source.ok(&["backup", name, "-o", file.to_str().unwrap()]);
        let said = target.ok(&[
            "restore",
            name,
            "-i",
            file.to_str().unwrap(),
            "--layout",
            layout_arg,
        ]);
        assert!(said.contains("`ic-backup load`"), "{said}");
    }
    assert_eq!(state(&target), state(&source));
    snapshot_folder(&target, &folder);
    for name in STRUCTURES {
        let (file, again) = (
            source.path(&format!("{name}.json")),
            target.path(&format!("{name}-again.json")),
        );
        target.ok(&[
            "backup",
            name,
            "-o",
            again.to_str().unwrap(),
            "--layout",
            layout_arg,
        ]);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            std::fs::read(&again).unwrap(),
            "{name}: the restored image's backup differs"
        );
        // Restored again with --replace into the snapshot folder: the same.
        run_ok(&[
            "--snapshot",
            folder.to_str().unwrap(),
            "restore",
            name,
            "-i",
            file.to_str().unwrap(),
            "--replace",
            "--layout",
            layout_arg,
        ]);
    }
    assert_eq!(
        std::fs::read(folder.join("stable_memory.bin"))
            .unwrap()
            .len(),
        std::fs::read(&target.image).unwrap().len()
    );
    let from_folder = target.path("posts-folder.json");
    run_ok(&[
        "--snapshot",
        folder.to_str().unwrap(),
        "backup",
        "posts",
        "-o",
        from_folder.to_str().unwrap(),
        "--layout",
        layout_arg,
    ]);
    assert_eq!(entries(&from_folder), entries(&source.path("posts.json")));

    // Refusals, the image unchanged: a log entry that differs from the one
    // at its index, a vec with a gap past its end.
    let other = seeded_club("club_plain", 3);
    let before = std::fs::read(&other.image).unwrap();
    let cases = [
        ("audit", "already holds another value"),
        ("posts", "past the end"),
    ];
    for (name, expected) in cases {
        let file = source.path(&format!("{name}.json"));
        let edited = other.path(&format!("{name}-edited.json"));
        let mut document: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        if name == "posts" {
            let rest: Vec<serde_json::Value> =
                document["entries"].as_array().unwrap()[10..].to_vec();
            document["entries"] = serde_json::Value::Array(rest);
        }
        std::fs::write(&edited, serde_json::to_vec(&document).unwrap()).unwrap();
        let said = other.fails(
            &[
                "restore",
                name,
                "-i",
                edited.to_str().unwrap(),
                "--layout",
                layout_arg,
            ],
            2,
        );
        assert!(said.contains(expected), "{name}: {said}");
        other.assert_image_unchanged(&before);
    }
}
