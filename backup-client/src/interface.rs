//! The canister's Candid interface, and the types of its backed-up maps.

use crate::error::{Error, Result};
use candid::types::{Type, TypeInner};
use candid::TypeEnv;
use candid_parser::utils::CandidSource;

/// A parsed service interface.
pub struct Interface {
    pub env: TypeEnv,
    service: Type,
    /// The SHA-256 of the interface's text, so resume state can be bound to
    /// the exact types a run used.
    pub sha256: String,
    /// The interface's text.
    pub source: String,
}

/// The Candid types of one map's endpoints.
#[derive(Clone, Debug)]
pub struct MapTypes {
    /// `K` as it travels (text under `key = text`).
    pub key: Type,
    pub value: Type,
    /// `vec record { K; V }`, the argument of `restore_<name>`.
    pub entries: Type,
    /// The record `backup_<name>_page` returns.
    pub page: Type,
}

/// A label candid 0.10 cannot carry through a decode: a record field
/// named `_` (dropped), a variant case whose name holds a comma (a panic),
/// found in `ty` or a type it refers to. `None` when there is none.
fn unsafe_label(env: &TypeEnv, ty: &Type, seen: &mut Vec<String>) -> Option<String> {
    use candid::types::Label;
    match ty.as_ref() {
        TypeInner::Var(name) => {
            if seen.contains(name) {
                return None;
            }
            seen.push(name.clone());
            let found = env.find_type(name).ok()?.clone();
            unsafe_label(env, &found, seen)
        }
        TypeInner::Opt(inner) | TypeInner::Vec(inner) => unsafe_label(env, inner, seen),
        TypeInner::Record(fields) | TypeInner::Variant(fields) => {
            let variant = matches!(ty.as_ref(), TypeInner::Variant(_));
            // Two labels with one JSON name would become one key: a field
            // known by its id `2` and one named "2" (or "_2_" in agent-js).
            for agent_js in [false, true] {
                let name = |label: &Label| match label {
                    Label::Named(name) => name.clone(),
                    Label::Id(id) | Label::Unnamed(id) if agent_js => format!("_{id}_"),
                    Label::Id(id) | Label::Unnamed(id) => id.to_string(),
                };
                for (i, field) in fields.iter().enumerate() {
                    for other in &fields[..i] {
                        if name(&field.id) == name(&other.id) {
                            return Some(format!(
                                "two labels, {} and {}, that a backup file would write as one name, `{}` (in {ty}), so one would be lost",
                                other.id,
                                field.id,
                                name(&field.id)
                            ));
                        }
                    }
                }
            }
            for field in fields {
                if let Label::Named(name) = field.id.as_ref() {
                    if !variant && name == "_" {
                        return Some(format!(
                            "a record field named `_` (in {ty}): candid drops such a field when it decodes, so the backup would lose it"
                        ));
                    }
                    if variant && name.contains(',') {
                        return Some(format!(
                            "a variant case named `{name}` (in {ty}): candid cannot decode a case whose name holds a comma"
                        ));
                    }
                }
                if let Some(found) = unsafe_label(env, &field.ty, seen) {
                    return Some(found);
                }
            }
            None
        }
        _ => None,
    }
}

impl MapTypes {
    /// Refuses a map whose key or value type candid cannot carry through a
    /// backup and restore unchanged (see `unsafe_label`), before anything
    /// is downloaded.
    pub fn check_carried(&self, env: &TypeEnv, map: &str) -> Result<()> {
        for (part, ty) in [("key", &self.key), ("value", &self.value)] {
            if let Some(why) = unsafe_label(env, ty, &mut Vec::new()) {
                return Err(Error::Input(format!(
                    "the map `{map}`'s {part} type has {why}; nothing was downloaded"
                )));
            }
        }
        Ok(())
    }
}

impl Interface {
    /// The canister's interface: from the file `did` when given, else the
    /// `candid:service` metadata the canister publishes.
    pub fn of(
        target: &mut dyn crate::target::Target,
        did: Option<&std::path::Path>,
    ) -> Result<Interface> {
        let text = match did {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?
            }
            None => target.candid()?.ok_or_else(|| {
                Error::Input(
                    "the canister publishes no Candid interface (no candid:service metadata); pass it with --did <file>".into(),
                )
            })?,
        };
        Interface::parse(&text)
    }

    /// Parses a `.did` text with a service.
    pub fn parse(text: &str) -> Result<Self> {
        let (env, service) = CandidSource::Text(text)
            .load()
            .map_err(|error| Error::Input(format!("cannot read the Candid interface: {error}")))?;
        let service = service.ok_or_else(|| {
            Error::Input("the Candid interface has no `service` declaration".into())
        })?;
        let sha256 = crate::ops::sha256_hex(text.as_bytes());
        Ok(Interface {
            env,
            service,
            sha256,
            source: text.to_string(),
        })
    }

    /// The methods of the service.
    pub fn methods(&self) -> Vec<String> {
        match self.env.as_service(&self.service) {
            Ok(methods) => methods.iter().map(|(name, _)| name.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The signature of `method`.
    pub fn method(&self, method: &str) -> Result<candid::types::Function> {
        self.env
            .get_method(&self.service, method)
            .cloned()
            .map_err(|_| {
                Error::Input(format!(
                    "the canister has no method `{method}`; it has: {}",
                    self.methods().join(", ")
                ))
            })
    }

    /// The maps the canister backs up: every `backup_<name>_page` method.
    pub fn maps(&self) -> Vec<String> {
        self.methods()
            .into_iter()
            .filter_map(|method| {
                method
                    .strip_prefix("backup_")?
                    .strip_suffix("_page")
                    .map(str::to_string)
            })
            .collect()
    }

    /// The types of map `name`, read from `backup_<name>_page`.
    pub fn map(&self, name: &str) -> Result<MapTypes> {
        let method = format!("backup_{name}_page");
        let signature = self.env.get_method(&self.service, &method).map_err(|_| {
            Error::Input(format!(
                "the canister backs up no map `{name}` (no method `{method}`); its maps: {}",
                self.maps().join(", ")
            ))
        })?;
        let unexpected = || {
            Error::Input(format!(
                "`{method}` does not return a backup page: {signature}"
            ))
        };
        let page = signature.rets.first().ok_or_else(unexpected)?.clone();
        let TypeInner::Record(fields) = self
            .env
            .trace_type(&page)
            .map_err(|_| unexpected())?
            .as_ref()
            .clone()
        else {
            return Err(unexpected());
        };
        let entries = fields
            .iter()
            .find(|field| field.id.get_id() == candid::idl_hash("entries"))
            .ok_or_else(unexpected)?
            .ty
            .clone();
        let TypeInner::Vec(entry) = self
            .env
            .trace_type(&entries)
            .map_err(|_| unexpected())?
            .as_ref()
            .clone()
        else {
            return Err(unexpected());
        };
        let TypeInner::Record(pair) = self
            .env
            .trace_type(&entry)
            .map_err(|_| unexpected())?
            .as_ref()
            .clone()
        else {
            return Err(unexpected());
        };
        let [key, value] = [0, 1].map(|i| {
            pair.iter()
                .find(|f| f.id.get_id() == i)
                .map(|f| f.ty.clone())
        });
        Ok(MapTypes {
            key: key.ok_or_else(unexpected)?,
            value: value.ok_or_else(unexpected)?,
            entries,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types candid would mangle are refused before a backup, naming them.
    #[test]
    fn labels_candid_cannot_carry_are_refused_by_name() {
        let did = |value: &str| {
            format!(
                "type Page = record {{ entries : vec record {{ nat64; V }}; next : opt nat64; len : nat64; skipped : vec nat64 }};\ntype V = {value};\nservice : {{ backup_m_page : (opt nat64, opt nat64, opt nat64) -> (Page) query }}"
            )
        };
        let check = |value: &str| {
            let interface = Interface::parse(&did(value)).unwrap();
            let types = interface.map("m").unwrap();
            types.check_carried(&interface.env, "m")
        };
        assert!(check("record { a : nat; b : opt V }").is_ok());
        let error = check("record { a : nat; \"_\" : text }")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("field named `_`") && error.contains("nothing was downloaded"),
            "{error}"
        );
        let error = check("record { a : vec variant { ok; \"a,b\" } }")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`a,b`") && error.contains("comma"),
            "{error}"
        );
        // Labels that a file would write as one name.
        let error = check("record { 2 : nat16; \"2\" : nat16 }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("as one name, `2`"), "{error}");
        let error = check("variant { 3 : null; \"_3_\" : null }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("as one name, `_3_`"), "{error}");
        assert!(check("record { 2 : nat16; \"two\" : nat16 }").is_ok());
        // Found through a recursive type's name too.
        let error = check("record { next : opt V; tag : variant { \"x,y\" : nat } }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`x,y`"), "{error}");
    }
}
