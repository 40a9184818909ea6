//! How the types a backup was written with relate to a canister's types:
//! what a lossless file records (`types`, with `key` and `value`), and
//! the relation `restore` checks before anything is sent and `restore
//! --dry-run` prints.
//!
//! The relation follows Candid's subtyping from the file's type to the
//! canister's: a record field the canister's type has as `opt` (or `null`,
//! `reserved`) and the file lacks becomes null; a field the file has and
//! the canister's type lacks is data a restore would drop (`--drop-field`),
//! or a field renamed since (`--rename`); a variant case the canister's type
//! adds is fine, one it lacks refuses the entries that use it; numbers and
//! other primitives only as Candid allows (`nat` into `int`, anything into
//! `reserved`).

use crate::error::{Error, Result};
use crate::json::FieldMap;
use candid::types::{Field, Type, TypeEnv, TypeInner};
use candid_parser::utils::CandidSource;
use std::collections::BTreeSet;
use std::fmt;

/// The Candid text of the named types `types` use, for a backup file.
pub fn types_text(env: &TypeEnv, types: &[&Type]) -> String {
    let mut names = BTreeSet::new();
    let mut stack: Vec<Type> = types.iter().map(|ty| (*ty).clone()).collect();
    while let Some(ty) = stack.pop() {
        match ty.as_ref() {
            TypeInner::Var(name) if names.insert(name.clone()) => {
                if let Ok(def) = env.find_type(name) {
                    stack.push(def.clone());
                }
            }
            TypeInner::Opt(t) | TypeInner::Vec(t) => stack.push(t.clone()),
            TypeInner::Record(fields) | TypeInner::Variant(fields) => {
                stack.extend(fields.iter().map(|field| field.ty.clone()))
            }
            TypeInner::Func(func) => {
                stack.extend(func.args.iter().cloned());
                stack.extend(func.rets.iter().cloned());
            }
            TypeInner::Service(methods) => stack.extend(methods.iter().map(|(_, t)| t.clone())),
            TypeInner::Class(args, t) => {
                stack.extend(args.iter().cloned());
                stack.push(t.clone());
            }
            _ => {}
        }
    }
    let sub = TypeEnv(
        names
            .into_iter()
            .filter_map(|name| env.find_type(&name).ok().map(|ty| (name, ty.clone())))
            .collect(),
    );
    candid::pretty::candid::compile(&sub, &None)
}

/// The types a lossless file says it was written with.
pub struct FileTypes {
    pub env: TypeEnv,
    pub key: Type,
    pub value: Type,
}

impl FileTypes {
    /// From a lossless file's header: `types` (the definitions), `key` and
    /// `value`; `None` for a file written before files recorded them.
    pub fn of_header(names: &std::collections::BTreeMap<String, String>) -> Result<Option<Self>> {
        let (Some(types), Some(key), Some(value)) =
            (names.get("types"), names.get("key"), names.get("value"))
        else {
            return Ok(None);
        };
        let text = format!(
            "{types}\ntype ic_backup_file_key = {key};\ntype ic_backup_file_value = {value};\n"
        );
        let (env, _) = CandidSource::Text(&text).load().map_err(|error| {
            Error::Input(format!(
                "the file's recorded types (`types`, `key`, `value`) do not read as Candid: {error}"
            ))
        })?;
        let named = |name: &str| -> Result<Type> {
            env.find_type(name)
                .cloned()
                .map_err(|error| Error::Input(error.to_string()))
        };
        Ok(Some(FileTypes {
            key: named("ic_backup_file_key")?,
            value: named("ic_backup_file_value")?,
            env,
        }))
    }
}

/// One way the file's type and the canister's differ, at a path such as
/// `value.plan`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A field the canister's type has and the file's lacks: null (an
    /// `opt`, `null` or `reserved` field), or required (refused).
    Added {
        path: String,
        ty: String,
        required: bool,
    },
    /// A field the file's type has and the canister's lacks: dropped with
    /// `--drop-field` (`dropped`), else refused if the file holds values.
    Removed {
        path: String,
        ty: String,
        dropped: bool,
    },
    /// A field renamed with `--rename`.
    Renamed {
        path: String,
        from: String,
        to: String,
    },
    /// A case the canister's type has and the file's lacks.
    CaseAdded { path: String, case: String },
    /// A case the file's type has and the canister's lacks: entries using
    /// it are refused.
    CaseMissing { path: String, case: String },
    /// A type Candid's subtyping does not take for the other.
    Changed {
        path: String,
        from: String,
        to: String,
    },
}

impl Change {
    /// Whether the change refuses the restore before anything is read.
    pub fn refuses(&self) -> bool {
        matches!(
            self,
            Change::Added { required: true, .. } | Change::Changed { .. }
        )
    }
}

impl Change {
    /// The change as an upgrade meets it: the current module's types
    /// before, the new module's after, and what the old values become.
    pub fn as_upgrade(&self) -> String {
        match self {
            Change::Added { path, ty, required: false } => {
                format!("added    {path} : {ty} (values stored before read it as null)")
            }
            Change::Added { path, ty, required: true } => {
                format!("added    {path} : {ty} (required: values stored before do not decode)")
            }
            Change::Removed { path, ty, .. } => {
                format!("removed  {path} : {ty} (values stored before keep it, unread)")
            }
            Change::Renamed { path, from, to } => format!("renamed  {path}: `{from}` to `{to}`"),
            Change::CaseAdded { path, case } => format!("added    case {case} of {path}"),
            Change::CaseMissing { path, case } => format!(
                "removed  case {case} of {path} (a value stored before that uses it does not decode)"
            ),
            Change::Changed { path, from, to } => format!(
                "changed  {path}: {from} before, {to} after (not a Candid subtype: values stored before do not decode)"
            ),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { path, ty, required: false } => {
                write!(f, "added    {path} : {ty} (the file has none: restored as null)")
            }
            Change::Added { path, ty, required: true } => write!(
                f,
                "added    {path} : {ty} (required, and the file has none: refused)"
            ),
            Change::Removed { path, ty, dropped: true } => {
                write!(f, "removed  {path} : {ty} (its values are dropped, as asked, and counted)")
            }
            Change::Removed { path, ty, dropped: false } => write!(
                f,
                "removed  {path} : {ty} (its values would be lost: refused unless --drop-field {})",
                path.rsplit('.').next().unwrap_or(path)
            ),
            Change::Renamed { path, from, to } => write!(f, "renamed  {path}: `{from}` in the file is `{to}` (--rename)"),
            Change::CaseAdded { path, case } => write!(f, "added    case {case} of {path}"),
            Change::CaseMissing { path, case } => write!(
                f,
                "missing  case {case} of {path} (the canister's type lacks it: an entry that uses it is refused)"
            ),
            Change::Changed { path, from, to } => write!(
                f,
                "changed  {path}: {from} in the file, {to} in the canister (not a Candid subtype: refused)"
            ),
        }
    }
}

/// How values of the file's type `from` relate to the canister's type
/// `to`, under the file's and the canister's type environments.
pub fn relate(
    file: (&TypeEnv, &Type),
    canister: (&TypeEnv, &Type),
    fields: &FieldMap,
    path: &str,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut seen = BTreeSet::new();
    walk(file, canister, fields, path, &mut changes, &mut seen);
    changes
}

fn traced(env: &TypeEnv, ty: &Type) -> Type {
    env.trace_type(ty).unwrap_or_else(|_| ty.clone())
}

fn label(field: &Field) -> String {
    field.id.to_string()
}

fn walk(
    (fenv, fty): (&TypeEnv, &Type),
    (cenv, cty): (&TypeEnv, &Type),
    fields: &FieldMap,
    path: &str,
    changes: &mut Vec<Change>,
    seen: &mut BTreeSet<(String, String)>,
) {
    // Recursive types: each pair of named types once.
    if let (TypeInner::Var(a), TypeInner::Var(b)) = (fty.as_ref(), cty.as_ref()) {
        if !seen.insert((a.clone(), b.clone())) {
            return;
        }
    }
    let (f, c) = (traced(fenv, fty), traced(cenv, cty));
    let changed = |changes: &mut Vec<Change>| {
        changes.push(Change::Changed {
            path: path.to_string(),
            from: f.to_string(),
            to: c.to_string(),
        })
    };
    match (f.as_ref(), c.as_ref()) {
        (_, TypeInner::Reserved) => {}
        (TypeInner::Opt(a), TypeInner::Opt(b)) | (TypeInner::Vec(a), TypeInner::Vec(b)) => {
            walk((fenv, a), (cenv, b), fields, path, changes, seen)
        }
        // A value into `opt`: Candid takes it as the option's value.
        (_, TypeInner::Opt(b)) if !matches!(f.as_ref(), TypeInner::Null) => {
            walk((fenv, &f), (cenv, b), fields, path, changes, seen)
        }
        (TypeInner::Null, TypeInner::Opt(_)) => {}
        (TypeInner::Nat, TypeInner::Int) => {}
        (TypeInner::Record(from), TypeInner::Record(to)) => {
            let renamed = |name: &str| fields.renames.get(name).cloned();
            for field in to.iter() {
                let name = label(field);
                let given = from.iter().find(|g| {
                    label(g) == name || renamed(&label(g)).as_deref() == Some(name.as_str())
                });
                let at = format!("{path}.{name}");
                match given {
                    Some(given) => {
                        if label(given) != name {
                            changes.push(Change::Renamed {
                                path: at.clone(),
                                from: label(given),
                                to: name.clone(),
                            });
                        }
                        walk(
                            (fenv, &given.ty),
                            (cenv, &field.ty),
                            fields,
                            &at,
                            changes,
                            seen,
                        )
                    }
                    None => changes.push(Change::Added {
                        path: at,
                        ty: field.ty.to_string(),
                        required: !matches!(
                            traced(cenv, &field.ty).as_ref(),
                            TypeInner::Opt(_) | TypeInner::Null | TypeInner::Reserved
                        ),
                    }),
                }
            }
            for field in from.iter() {
                let name = label(field);
                let kept = to.iter().any(|t| {
                    label(t) == name || renamed(&name).as_deref() == Some(label(t).as_str())
                });
                if !kept {
                    changes.push(Change::Removed {
                        path: format!("{path}.{name}"),
                        ty: field.ty.to_string(),
                        dropped: fields.drops.contains(&name),
                    });
                }
            }
        }
        (TypeInner::Variant(from), TypeInner::Variant(to)) => {
            for case in from.iter() {
                match to.iter().find(|t| t.id == case.id) {
                    Some(target) => walk(
                        (fenv, &case.ty),
                        (cenv, &target.ty),
                        fields,
                        &format!("{path}.{}", label(case)),
                        changes,
                        seen,
                    ),
                    None => changes.push(Change::CaseMissing {
                        path: path.to_string(),
                        case: label(case),
                    }),
                }
            }
            for case in to.iter().filter(|t| !from.iter().any(|f| f.id == t.id)) {
                changes.push(Change::CaseAdded {
                    path: path.to_string(),
                    case: label(case),
                });
            }
        }
        (a, b) if a == b => {}
        _ => changed(changes),
    }
}
