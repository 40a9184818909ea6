//! `check-upgrade`: whether a new module reads the data a canister holds,
//! found out on a copy before the upgrade, never on the canister.
//!
//! The steps, on a copy of the stable memory in a folder of its own (the
//! image or snapshot it came from is not written): the current module
//! opened over it; where each map is and how it is stored, from the current
//! module's first page (as an offline backup finds it); the upgrade itself
//! (`canister_pre_upgrade` of the current module, `canister_post_upgrade` of
//! the new one), a trap reported as the upgrade's failure; then every value
//! of every map decoded natively with the new module's types (each one that
//! does not decode named by map and key), every map read to its end
//! through the new module's own pages (its code, its types), and the types'
//! changes from the current module's interface to the new one's.

use super::backup::{backup, native_plan, BackupOptions};
use super::{notice, output};
use crate::error::{Error, Result};
use crate::interface::Interface;
use crate::json::{to_json, Format};
use crate::native::{Flow, NotNative};
use crate::target::{Offline, Operator, Target};
use crate::versions::{relate, Change};
use candid::IDLArgs;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// At most this many undecodable values are named per map (all are counted).
const NAMED: usize = 20;

/// What `check-upgrade` runs on.
pub struct CheckUpgrade<'a> {
    /// The module the canister runs now.
    pub current: &'a Path,
    /// Its stable memory: an image file.
    pub image: &'a Path,
    /// The module to upgrade to.
    pub new: &'a Path,
    pub operator: Operator,
    pub json: bool,
}

/// A folder of its own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "ic-backup-check-upgrade-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|source| Error::io(&dir, source))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One map's findings.
struct MapReport {
    map: String,
    entries: u64,
    changes: Vec<Change>,
    /// Values that do not decode as the new type: (key, why).
    undecodable: Vec<(Value, String)>,
    undecodable_count: u64,
    /// Why reading the map through the new module's pages failed.
    pages: Option<String>,
    /// Why the values could not be read natively (then only the pages say).
    not_native: Option<String>,
}

/// Runs the check; `Err(Mismatch)` when the upgrade would trap or a value
/// would not decode (after the report is printed).
pub fn check_upgrade(options: CheckUpgrade) -> Result<()> {
    let CheckUpgrade {
        current,
        image,
        new,
        operator,
        json,
    } = options;
    let new_module = std::fs::read(new).map_err(|source| Error::io(new, source))?;
    let scratch = Scratch::new()?;
    let copy = scratch.0.join("stable_memory.bin");
    std::fs::copy(image, &copy).map_err(|source| Error::io(image, source))?;
    let mut offline = Offline::open(current, &copy, operator)?;
    let old = Interface::of(&mut offline, None)?;
    // Where each map is, from the current module's first page.
    let mut plans = Vec::new();
    for map in old.maps() {
        let types = old.map(&map)?;
        let plan = native_plan(
            &mut offline,
            &old,
            &types,
            &map,
            // One entry proves where the map is and how it is stored; the
            // rest are what this command checks.
            Some(1),
        )?;
        plans.push((map, plan));
    }
    let upgraded = match offline.canister().upgrade(&new_module, b"DIDL\x00\x00") {
        // Not a module to upgrade to: bad input, not the upgrade's verdict.
        Err(
            canister_runner::RunnerError::BadModule(why)
            | canister_runner::RunnerError::MissingExport(why),
        ) => {
            return Err(Error::Input(format!(
                "{}: not a canister module to upgrade to: {why}",
                new.display()
            )))
        }
        upgraded => upgraded.map_err(|error| error.to_string()),
    };
    if let Err(trap) = &upgraded {
        output(
            json,
            json!({ "upgrade": "traps", "why": trap, "ok": false }),
            || format!("the upgrade traps (on a copy; nothing was changed): {trap}"),
        );
        return Err(Error::Mismatch(format!(
            "{} would not upgrade to {}: {trap}",
            image.display(),
            new.display()
        )));
    }
    let upgraded_to = Interface::of(&mut offline, None)?;
    let mut reports = Vec::new();
    for map in upgraded_to.maps() {
        let types = upgraded_to.map(&map)?;
        let mut report = MapReport {
            map: map.clone(),
            entries: 0,
            changes: Vec::new(),
            undecodable: Vec::new(),
            undecodable_count: 0,
            pages: None,
            not_native: None,
        };
        let before = old.map(&map).ok();
        if let Some(before) = &before {
            report.changes = relate(
                (&old.env, &before.key),
                (&upgraded_to.env, &types.key),
                &Default::default(),
                "key",
            );
            report.changes.extend(relate(
                (&old.env, &before.value),
                (&upgraded_to.env, &types.value),
                &Default::default(),
                "value",
            ));
        }
        // Every value, decoded natively as the new type.
        let plan = plans
            .iter()
            .find(|(name, _)| *name == map)
            .and_then(|(_, plan)| plan.as_ref());
        match (plan, offline.stable_memory()) {
            (Some(plan), Some(memory)) => match plan.open(memory) {
                Ok(native) => {
                    let walked = native.structure.walk(None, None, &mut |key, value| {
                        report.entries += 1;
                        let decoded = IDLArgs::from_bytes_with_types(
                            value,
                            &upgraded_to.env,
                            std::slice::from_ref(&types.value),
                        );
                        if let Err(error) = decoded {
                            report.undecodable_count += 1;
                            if report.undecodable.len() < NAMED {
                                let key = native
                                    .key
                                    .stored
                                    .to_wire(native.key.wire, key)
                                    .ok()
                                    .and_then(|key| {
                                        let before = before.as_ref()?;
                                        to_json(&old.env, &before.key, &key, Format::Lossless).ok()
                                    })
                                    .unwrap_or_else(|| json!(hex::encode(key)));
                                report.undecodable.push((key, error.to_string()));
                            }
                        }
                        Ok(Flow::Go)
                    });
                    if let Err(NotNative(why)) = walked {
                        report.not_native = Some(why);
                    }
                }
                Err(NotNative(why)) => report.not_native = Some(why),
            },
            _ => {
                report.not_native =
                    Some("its first page did not show where it is and how it is stored".into())
            }
        }
        // The map to its end through the new module's own pages.
        let file = scratch.0.join(format!("{map}.json"));
        let read = backup(
            &mut offline,
            &upgraded_to,
            BackupOptions {
                map: &map,
                output: &file,
                format: Format::Lossless,
                max_bytes: None,
                parallel: 1,
                stop_after: None,
                through_wasm: true,
                layout: None,
                json: true,
            },
        );
        if let Err(error) = read {
            report.pages = Some(error.to_string());
        }
        reports.push(report);
    }
    let failed = reports
        .iter()
        .any(|report| report.undecodable_count > 0 || report.pages.is_some());
    output(
        json,
        json!({
            "upgrade": "runs",
            "ok": !failed,
            "maps": reports.iter().map(|report| json!({
                "map": report.map,
                "entries": report.entries,
                "changes": report.changes.iter().map(Change::as_upgrade).collect::<Vec<_>>(),
                "undecodable": report.undecodable_count,
                "first_undecodable": report.undecodable.iter().map(|(key, why)| json!({ "key": key, "why": why })).collect::<Vec<_>>(),
                "pages_fail": report.pages,
                "not_read_natively": report.not_native,
            })).collect::<Vec<_>>(),
        }),
        || {
            let mut text = format!(
                "{} upgraded to {} on a copy (nothing was changed): the upgrade hooks ran\n",
                image.display(),
                new.display()
            );
            for report in &reports {
                text.push_str(&format!("\n{}: {} entries\n", report.map, report.entries));
                for change in &report.changes {
                    text.push_str(&format!("  {}\n", change.as_upgrade()));
                }
                for (key, why) in &report.undecodable {
                    text.push_str(&format!("  does not decode: key {key}: {why}\n"));
                }
                if report.undecodable_count > report.undecodable.len() as u64 {
                    text.push_str(&format!(
                        "  ... {} values in all do not decode\n",
                        report.undecodable_count
                    ));
                }
                if let Some(why) = &report.pages {
                    text.push_str(&format!("  the new module's pages fail: {why}\n"));
                }
                if let Some(why) = &report.not_native {
                    text.push_str(&format!("  (not read natively: {why}; its pages decide)\n"));
                }
                if report.undecodable_count == 0 && report.pages.is_none() {
                    text.push_str("  every value reads as the new type\n");
                }
            }
            text.trim_end().to_string()
        },
    );
    if failed {
        notice(json, "the new module does not read every value the canister holds: upgrading would trap its first reader");
        return Err(Error::Mismatch(format!(
            "{} holds values {} does not read",
            image.display(),
            new.display()
        )));
    }
    Ok(())
}
