use super::derive;
use std::collections::BTreeMap;
use syn::{parse_quote, DeriveInput, Item};

/// Every generated method by its Candid name, with its kind
/// (`query`/`update`) and guard.
fn methods(input: DeriveInput) -> BTreeMap<String, (String, String)> {
    let output = derive(&input).unwrap_or_else(|errors| panic!("{}", errors[0]));
    let file: syn::File = syn::parse2(output).expect("the expansion parses as items");
    let mut methods = BTreeMap::new();
    for item in file.items {
        let Item::Fn(function) = item else { continue };
        for attr in &function.attrs {
            let kind = attr.path().segments.last().unwrap().ident.to_string();
            if kind != "query" && kind != "update" {
                continue;
            }
            let (mut guard, mut name) = (String::new(), String::new());
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("guard") {
                    guard = meta.value()?.parse::<syn::LitStr>()?.value();
                } else if meta.path.is_ident("name") {
                    name = meta.value()?.parse::<syn::LitStr>()?.value();
                } else {
                    meta.value()?.parse::<syn::Expr>()?;
                }
                Ok(())
            })
            .unwrap();
            // The Rust name is private; the Candid name is the method's.
            assert_eq!(function.sig.ident, format!("__backupable_{name}"));
            methods.insert(name, (kind.clone(), guard));
        }
    }
    methods
}

#[test]
fn every_endpoint_of_the_design_with_its_kind_and_guard() {
    let methods = methods(parse_quote! {
        pub struct Stable {
            #[backup(memory_id = 0, key = text)]
            profiles: StableBTreeMap<Principal, Profile, Memory>,
            #[backup(memory_id = 1, skip)]
            cache: StableBTreeMap<u64, u64, Memory>,
        }
    });
    let expected = [
        ("backup_profiles", "query", "is_authorized"),
        ("backup_profiles_page", "query", "is_authorized"),
        ("backup_profiles_splits", "query", "is_authorized"),
        ("restore_profiles", "update", "is_authorized"),
        ("validate_profiles", "query", "is_authorized"),
        ("clear_profiles", "update", "is_authorized"),
        ("authorize", "update", "is_authorized"),
        ("deauthorize", "update", "is_authorized"),
        ("list_authorized", "query", "is_authorized"),
        ("stable_authorize", "update", "is_stable_authorized"),
        ("stable_deauthorize", "update", "is_stable_authorized"),
        ("stable_size", "query", "is_stable_authorized"),
        ("stable_read", "query", "is_stable_authorized"),
        ("stable_write", "update", "is_stable_authorized"),
        ("stable_digest", "query", "is_stable_authorized"),
    ];
    let expected: BTreeMap<String, (String, String)> = expected
        .iter()
        .map(|(name, kind, guard)| (name.to_string(), (kind.to_string(), guard.to_string())))
        .collect();
    assert_eq!(
        methods, expected,
        "no endpoint for the skipped map, none unguarded"
    );
}

#[test]
fn rename_changes_the_endpoint_names_only() {
    let methods = methods(parse_quote! {
        struct Ledger {
            #[backup(memory_id = 2, rename = "transfers")]
            transfer_log: StableBTreeMap<u64, Transfer, Memory>,
        }
    });
    for name in [
        "backup_transfers",
        "backup_transfers_page",
        "backup_transfers_splits",
        "restore_transfers",
        "validate_transfers",
        "clear_transfers",
    ] {
        assert!(methods.contains_key(name), "{name} missing: {methods:?}");
    }
}

#[test]
fn every_mistake_is_reported_and_none_panics() {
    let input: DeriveInput = parse_quote! {
        #[backup(auth_memory_id = 999, bogus)]
        struct Broken {
            #[backup(memory_id = 1)]
            a: StableBTreeMap<u64, u64, Memory>,
            #[backup(memory_id = 1, key = base64)]
            b: StableBTreeMap<u64, u64, Memory>,
            c: Vec<u8>,
            #[backup(memory_id = "seven")]
            d: StableBTreeMap<u64, u64, Memory>,
        }
    };
    let errors = derive(&input).expect_err("the struct is refused");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for expected in [
        "unknown backup struct attribute `bogus`",
        "expected auth_memory_id between 0 and 254, found 999",
        "unknown key mode `base64`",
        "duplicate memory_id 1",
        "expected a collection of ic-stable-structures for field `c`",
        "found `Vec<u8>`",
        "expected integer literal",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "`{expected}` not in {messages:#?}"
        );
    }
}

/// Each kind's options: a log's data memory, a cell's default, text keys
/// only on keyed structures; the ids of a log's two memories checked too.
#[test]
fn each_kind_takes_its_own_options() {
    let input: DeriveInput = parse_quote! {
        struct Mixed {
            #[backup(memory_id = 1)]
            log: StableLog<u64, Memory, Memory>,
            #[backup(memory_id = 2, data_memory_id = 3)]
            vec: StableVec<u64, Memory>,
            #[backup(memory_id = 4, default = 5)]
            set: StableBTreeSet<u64, Memory>,
            #[backup(memory_id = 5, key = text)]
            heap: StableMinHeap<u64, Memory>,
            #[backup(memory_id = 6, data_memory_id = 6)]
            log_twice: StableLog<u64, Memory, Memory>,
            #[backup(memory_id = 7, data_memory_id = 4)]
            log_taken: StableLog<u64, Memory, Memory>,
            #[backup(memory_id = 8, data_memory_id = 255)]
            log_far: StableLog<u64, Memory, Memory>,
        }
    };
    let errors = derive(&input).expect_err("the struct is refused");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for expected in [
        "missing `#[backup(data_memory_id = N)]` on field `log`",
        "`data_memory_id` is for a StableLog's data memory; a StableVec has one memory",
        "`default` is a StableCell's value in a new memory; a StableBTreeSet starts empty",
        "`key = text` is for the keys of a map or set; a StableMinHeap travels by index",
        "duplicate memory_id 6: the field's other memory already uses it",
        "duplicate memory_id 4: field `set` already uses it",
        "expected data_memory_id between 0 and 254, found 255",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "`{expected}` not in {messages:#?}"
        );
    }
    assert_eq!(messages.len(), 7, "one error per mistake: {messages:#?}");
}

/// A struct of every kind expands, each with the six endpoints.
#[test]
fn every_kind_gets_the_six_endpoints() {
    let tokens = derive(&parse_quote! {
        struct All {
            #[backup(memory_id = 0, default = Config::new())]
            config: StableCell<Config, Memory>,
            #[backup(memory_id = 1)]
            members: StableBTreeSet<Principal, Memory>,
            #[backup(memory_id = 3)]
            posts: StableVec<Post, Memory>,
            #[backup(memory_id = 4, data_memory_id = 5)]
            audit: StableLog<Event, Memory, Memory>,
            #[backup(memory_id = 6)]
            jobs: StableMinHeap<Job, Memory>,
        }
    })
    .expect("the struct is accepted")
    .to_string();
    for name in ["config", "members", "posts", "audit", "jobs"] {
        for method in [
            format!("\"backup_{name}\""),
            format!("\"backup_{name}_page\""),
            format!("\"backup_{name}_splits\""),
            format!("\"restore_{name}\""),
            format!("\"validate_{name}\""),
            format!("\"clear_{name}\""),
        ] {
            assert!(tokens.contains(&method), "{method} missing");
        }
    }
    assert!(
        tokens.contains("Config :: new ()"),
        "the cell's default is used"
    );
}

#[test]
fn enums_unions_and_unit_structs_are_refused() {
    for input in [
        parse_quote!(
            enum E {
                A,
            }
        ),
        parse_quote!(union U { a: u8 }),
        parse_quote!(
            struct S;
        ),
        parse_quote!(
            struct S {}
        ),
    ] {
        let input: DeriveInput = input;
        assert!(derive(&input).is_err(), "{} accepted", input.ident);
    }
}
