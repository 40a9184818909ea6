//! Restore across canister versions, the ways Candid's subtyping allows:
//! version 1 of the members canister (`name`, `legacy_score : nat32`,
//! `plan : variant { Free; Pro }`) and version 2 (`legacy_score` removed,
//! `bio : opt text` added, a plan `Team` added).

use crate::common;

use common::*;
use std::path::Path;

const MEMBERS: [(u64, &str, u32, &str); 4] = [
    (1, "ada", 7, "Free"),
    (2, "grace", 0, "Pro"),
    (3, "edsger", 4_000_000_000, "Pro"),
    (4, "barbara", 12, "Free"),
];

/// An offline members canister of `version`, its image made.
fn members(version: u32) -> Offline {
    let offline = Offline::new(&format!("members_v{version}"));
    let said = offline.ok(&["call", "members_version"]);
    assert!(said.contains(&format!("({version} : nat32)")), "{said}");
    offline
}

/// Version 1 holding `MEMBERS`, and its backups in every form.
fn version_1_backups() -> (Offline, Vec<(&'static str, std::path::PathBuf)>) {
    let v1 = members(1);
    for (id, name, score, plan) in MEMBERS {
        v1.ok(&[
            "call",
            "put_member",
            &format!(
                "({id} : nat64, record {{ name = \"{name}\"; legacy_score = {score} : nat32; plan = variant {{ {plan} }} }})"
            ),
        ]);
    }
    let files = ["lossless", "json", "agent-js"]
        .into_iter()
        .map(|format| {
            let file = v1.path(&format!("v1-{format}.json"));
            v1.ok(&[
                "backup",
                "members",
                "-o",
                file.to_str().unwrap(),
                "--format",
                format,
            ]);
            (format, file)
        })
        .collect();
    (v1, files)
}

fn restore<'a>(file: &'a Path, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["restore", "members", "-i", file.to_str().unwrap()];
    args.extend(more);
    args
}

/// Each form of version 1's backup restores into a fresh version 2 exactly
/// when the removed field is dropped, and only then: refused first, naming
/// the field and how many values it holds, the image unchanged byte for
/// byte; dropped on request and counted; `bio` null; the plans kept.
#[test]
fn version_1_backups_restore_into_version_2_dropping_only_what_is_named() {
    let (_v1, files) = version_1_backups();
    for (format, file) in files {
        let v2 = members(2);
        let before = std::fs::read(&v2.image).unwrap();
        let refused = v2.fails(&restore(&file, &[]), 2);
        assert!(
            refused.contains("`legacy_score`")
                && refused.contains("4 values")
                && refused.contains("--drop-field legacy_score"),
            "{format}: {refused}"
        );
        assert!(
            std::fs::read(&v2.image).unwrap() == before,
            "{format}: refused, unchanged"
        );
        let report = v2.ok(&["--json"]
            .into_iter()
            .chain(restore(&file, &["--drop-field", "legacy_score"]))
            .collect::<Vec<_>>());
        assert!(
            report.contains("\"dropped\":{\"legacy_score\":4}"),
            "{format}: {report}"
        );
        for (id, name, _, plan) in MEMBERS {
            let member = v2.ok(&["call", "get_member", &format!("({id} : nat64)")]);
            assert!(
                member.contains(&format!("name = \"{name}\""))
                    && member.contains("bio = null")
                    && member.contains(&format!("plan = variant {{ {plan} }}")),
                "{format}: {member}"
            );
        }
    }
}

/// Version 2's backup does not go back into version 1: a field version 1
/// lacks and a plan it lacks are each named, before anything is written.
#[test]
fn version_2_backups_are_refused_by_version_1_naming_what_it_lacks() {
    let v2 = members(2);
    v2.ok(&[
        "call",
        "put_member",
        "(5 : nat64, record { name = \"alan\"; bio = null; plan = variant { Team } })",
    ]);
    let file = v2.path("v2.json");
    v2.ok(&["backup", "members", "-o", file.to_str().unwrap()]);
    let v1 = members(1);
    let before = std::fs::read(&v1.image).unwrap();
    // From the types the file recorded, before its entries are read.
    let refused = v1.fails(&restore(&file, &[]), 2);
    for named in [
        "added    value.legacy_score : nat32 (required",
        "removed  value.bio : opt text",
        "missing  case Team of value.plan",
    ] {
        assert!(refused.contains(named), "`{named}` not in {refused}");
    }
    // A file that has the field version 1 requires (its recorded types
    // too): the plan version 1 lacks is named at the entry that uses it.
    let text = std::fs::read_to_string(&file).unwrap();
    let with_score = text
        .replace("\"bio\": []", "\"legacy_score\": 3")
        .replace("bio : opt text", "legacy_score : nat32");
    assert_ne!(with_score, text, "{text}");
    let file = v2.path("v2-with-score.json");
    std::fs::write(&file, with_score).unwrap();
    let refused = v1.fails(&restore(&file, &[]), 2);
    assert!(
        refused.contains("`Team`") && refused.contains("entry 0"),
        "{refused}"
    );
    assert!(std::fs::read(&v1.image).unwrap() == before);
}

/// A field renamed between versions is mapped with `--rename old=new`.
#[test]
fn a_renamed_field_is_restored_through_the_mapping() {
    let (_v1, files) = version_1_backups();
    let (_, lossless) = &files[0];
    let text = std::fs::read_to_string(lossless).unwrap();
    let renamed = text.replace("\"name\"", "\"full_name\"");
    assert_ne!(renamed, text);
    let file = lossless.with_file_name("renamed.json");
    std::fs::write(&file, renamed).unwrap();
    let v2 = members(2);
    let refused = v2.fails(&restore(&file, &["--drop-field", "legacy_score"]), 2);
    assert!(refused.contains("`full_name`"), "{refused}");
    v2.ok(&restore(
        &file,
        &["--drop-field", "legacy_score", "--rename", "full_name=name"],
    ));
    let member = v2.ok(&["call", "get_member", "(3 : nat64)"]);
    assert!(member.contains("name = \"edsger\""), "{member}");
}

/// `--dry-run` prints how the types the file recorded relate to the
/// canister's and what a restore would write, and sends nothing; a type
/// change Candid does not allow (version 3's `legacy_score : text`) is
/// refused before anything is read, naming the field and both types.
#[test]
fn a_dry_run_shows_the_type_relation_and_sends_nothing() {
    let (_v1, files) = version_1_backups();
    let (_, lossless) = &files[0];
    let header = std::fs::read_to_string(lossless).unwrap();
    assert!(
        header.contains("\"types\": \"type Member = record {"),
        "{header}"
    );
    let v2 = members(2);
    let before = std::fs::read(&v2.image).unwrap();
    let out = v2.run(&restore(lossless, &["--dry-run"]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for line in [
        "removed  value.legacy_score : nat32",
        "added    value.bio : opt text (the file has none: restored as null)",
        "added    case Team of value.plan",
    ] {
        assert!(said.contains(line), "`{line}` not in {said}");
    }
    let said = v2.ok(&restore(
        lossless,
        &["--dry-run", "--drop-field", "legacy_score"],
    ));
    assert!(
        said.contains("its values are dropped, as asked")
            && said.contains("a restore would write 4 entries into `members`")
            && said.contains("nothing was sent"),
        "{said}"
    );
    assert!(
        std::fs::read(&v2.image).unwrap() == before,
        "a dry run changes nothing"
    );

    let v3 = members(3);
    let before = std::fs::read(&v3.image).unwrap();
    let refused = v3.fails(&restore(lossless, &[]), 2);
    assert!(
        refused.contains("changed  value.legacy_score: nat32 in the file, text in the canister"),
        "{refused}"
    );
    assert!(std::fs::read(&v3.image).unwrap() == before);
}

/// `check-upgrade` over an image, on a copy: version 1 → 2 passes, with
/// the type changes listed; → 3 (`nat32` become `text`) fails, naming the
/// map and every key; a value planted undecodable is named by its key even
/// for the upgrade Candid allows. The image is never changed.
#[test]
fn check_upgrade_names_what_the_new_module_cannot_read() {
    let (v1, _) = version_1_backups();
    let before = std::fs::read(&v1.image).unwrap();
    let new = |version: u32| wasm(&format!("members_v{version}"));
    let said = v1.ok(&["check-upgrade", new(2).to_str().unwrap()]);
    for line in [
        "members: 4 entries",
        "removed  value.legacy_score : nat32",
        "added    value.bio : opt text",
        "added    case Team of value.plan",
        "every value reads as the new type",
    ] {
        assert!(said.contains(line), "`{line}` not in {said}");
    }
    let out = v1.run(&["check-upgrade", new(3).to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("changed  value.legacy_score: nat32 before, text after"),
        "{said}"
    );
    for id in [1, 2, 3, 4] {
        assert!(
            said.contains(&format!("does not decode: key \"{id}\"")),
            "{said}"
        );
    }
    assert!(said.contains("the new module's pages fail"), "{said}");
    assert!(
        std::fs::read(&v1.image).unwrap() == before,
        "the image is unchanged"
    );
    // Version 4 reads every member in its `post_upgrade`: the upgrade traps.
    let out = v1.run(&["check-upgrade", new(4).to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("the upgrade traps"), "{said}");
    assert!(std::fs::read(&v1.image).unwrap() == before);

    // One value damaged in the image: its type table says `nat` where it
    // said `text`.
    let mut image = before.clone();
    let name = image.windows(6).position(|w| w == b"edsger").unwrap();
    let header = image[..name]
        .windows(4)
        .rposition(|w| w == b"DIDL")
        .unwrap();
    let text = header + image[header..name].iter().position(|&b| b == 0x71).unwrap();
    image[text] = 0x7d;
    std::fs::write(&v1.image, &image).unwrap();
    let out = v1.run(&["check-upgrade", new(2).to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("does not decode: key \"3\""), "{said}");
    assert!(
        !said.contains("key \"1\""),
        "only the damaged value: {said}"
    );
    assert!(
        std::fs::read(&v1.image).unwrap() == image,
        "the image is unchanged"
    );
}

/// Mistakes in the options are refused before anything is read or sent,
/// saying what was expected; a module or image that is not there is named.
#[test]
fn bad_mappings_and_missing_modules_are_refused_saying_what_was_expected() {
    let (v1, files) = version_1_backups();
    let (_, lossless) = &files[0];
    let v2 = members(2);
    let before = std::fs::read(&v2.image).unwrap();
    let refused = v2.fails(&restore(lossless, &["--rename", "legacy_score"]), 2);
    assert!(refused.contains("expected --rename OLD=NEW"), "{refused}");
    let refused = v2.fails(
        &restore(
            lossless,
            &["--rename", "name=full_name", "--drop-field", "name"],
        ),
        2,
    );
    assert!(refused.contains("both renamed"), "{refused}");
    assert!(std::fs::read(&v2.image).unwrap() == before);
    let image = std::fs::read(&v1.image).unwrap();
    let missing = v1.path("no-such.wasm");
    let out = v1.run(&["check-upgrade", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no-such.wasm"), "{said}");
    let not_wasm = v1.path("not.wasm");
    std::fs::write(&not_wasm, b"not a module").unwrap();
    let refused = v1.fails(&["check-upgrade", not_wasm.to_str().unwrap()], 2);
    assert!(
        refused.contains("not a canister module to upgrade to") && refused.contains("\\0asm"),
        "{refused}"
    );
    assert!(
        std::fs::read(&v1.image).unwrap() == image,
        "the image is unchanged"
    );
}
