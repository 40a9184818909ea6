//! The names the derive gives: each map's endpoints and static, the
//! generated methods' Candid and Rust names, the admin set's static. One
//! place that validation (the clash check) and expansion both read; it
//! makes no tokens beyond identifiers.

use crate::ast::Map;
use quote::format_ident;
use syn::Ident;

/// Whether a method is a query or an update.
#[derive(Clone, Copy)]
pub enum Kind {
    Query,
    Update,
}

/// Which generated guard admits a method's callers.
#[derive(Clone, Copy)]
pub enum Guard {
    Admin,
    Raw,
}

/// One generated canister method: its Candid name and how it is exported.
/// The Rust function behind it has a private name, so it never clashes with
/// the author's own items.
pub struct Method {
    pub candid: String,
    pub kind: Kind,
    pub guard: Guard,
    /// Replies with bytes the runtime encoded (`manual_reply`).
    pub manual_reply: bool,
    /// Reads its argument with this function of the runtime (`decode_with`).
    pub decode_with: Option<String>,
}

impl Method {
    pub fn new(candid: impl Into<String>, kind: Kind, guard: Guard) -> Self {
        Method {
            candid: candid.into(),
            kind,
            guard,
            manual_reply: false,
            decode_with: None,
        }
    }

    /// The Rust name of the function: `__backupable_<candid name>`.
    pub fn ident(&self) -> Ident {
        format_ident!("__backupable_{}", self.candid)
    }
}

/// The methods of every map, by their Candid names: the one list the clash
/// check and the expansion both read.
#[derive(Clone, Copy)]
pub enum MapMethod {
    Backup,
    BackupPage,
    BackupSplits,
    Restore,
    Validate,
    Clear,
}

impl MapMethod {
    pub const ALL: [MapMethod; 6] = [
        MapMethod::Backup,
        MapMethod::BackupPage,
        MapMethod::BackupSplits,
        MapMethod::Restore,
        MapMethod::Validate,
        MapMethod::Clear,
    ];

    /// The method of the map whose endpoint suffix is `base`.
    pub fn of(self, base: &str) -> Method {
        let (candid, kind) = match self {
            MapMethod::Backup => (format!("backup_{base}"), Kind::Query),
            MapMethod::BackupPage => (format!("backup_{base}_page"), Kind::Query),
            MapMethod::BackupSplits => (format!("backup_{base}_splits"), Kind::Query),
            MapMethod::Restore => (format!("restore_{base}"), Kind::Update),
            MapMethod::Validate => (format!("validate_{base}"), Kind::Query),
            MapMethod::Clear => (format!("clear_{base}"), Kind::Update),
        };
        Method {
            manual_reply: matches!(self, MapMethod::Backup | MapMethod::BackupPage),
            ..Method::new(candid, kind, Guard::Admin)
        }
    }
}

/// The static a field declares: its name in upper case (`PROFILES` for
/// `profiles`), without a raw identifier's `r#`.
pub fn static_name(field: &Ident) -> Ident {
    let name = field.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_uppercase();
    Ident::new(&name, field.span())
}

/// The name of the static that holds the admin set.
pub fn admins_static() -> Ident {
    Ident::new("__BACKUP_ADMINS", proc_macro2::Span::call_site())
}

impl Map<'_> {
    /// The suffix of this map's endpoints (a raw identifier's `r#` dropped).
    pub fn endpoint_base(&self) -> String {
        let base = self
            .attrs
            .rename
            .as_ref()
            .map_or_else(|| self.ident.to_string(), |rename| rename.value.to_string());
        base.strip_prefix("r#").map(str::to_string).unwrap_or(base)
    }

    /// `PROFILES` for field `profiles`.
    pub fn static_name(&self) -> Ident {
        static_name(self.ident)
    }

    /// The Candid names of this map's methods.
    pub fn endpoint_names(&self) -> [String; MapMethod::ALL.len()] {
        let base = self.endpoint_base();
        MapMethod::ALL.map(|method| method.of(&base).candid)
    }
}
