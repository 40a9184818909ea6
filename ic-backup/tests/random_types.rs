//! The property test of every backup format over random Candid types and
//! values, natively: each value goes through the format's writer, the text
//! of a file (`serde_json`), the reader the restore uses
//! (`stream::parse_value`, strict and unbounded in depth) and back to a
//! Candid value, which is compared with the original by its Candid bytes
//! (so NaN payloads and every number width count).
//!
//! Types are drawn at random: every primitive, `opt`, `vec`, records with
//! named, numeric and Unicode labels, variants, and a recursive type (a list
//! kept as nested options) whose values go hundreds of levels deep. A type a
//! backup cannot carry (a field named `_`, a case with a comma, two labels
//! that one JSON name would merge) must be refused by the check `backup`
//! makes before it downloads anything, naming why.
//!
//! The lossless form must give back every value exactly; each difference in
//! the other forms must be a documented loss (the README's "What each
//! format keeps"), and they are counted and printed. The real canister's
//! side of the same promise is `formats.rs`.
//!
//! The seed is fixed (settable with `FORMATS_TEST_SEED`).

use backup_client::interface::MapTypes;
use backup_client::json::{Codec, Format};
use backup_client::stream::parse_value;
use candid::types::value::{IDLArgs, IDLField, IDLValue, VariantValue};
use candid::types::{Field, Label, Type, TypeInner};
use candid::{Int, Nat, Principal, TypeEnv};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::str::FromStr;

const TYPES: usize = 3_000;
const VALUES_PER_TYPE: usize = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
    fn text(&mut self, max: usize) -> String {
        const CHARS: [char; 16] = [
            'a',
            'Z',
            '_',
            ' ',
            '"',
            '\\',
            '\n',
            '\u{0}',
            'é',
            '中',
            '\u{202e}',
            '🙂',
            '𝄞',
            '\u{10ffff}',
            '\u{301}',
            '2',
        ];
        let len = self.below(max + 1);
        (0..len).map(|_| self.pick(&CHARS)).collect()
    }
    fn digits(&mut self) -> String {
        let len = 1 + self.below(45);
        let text: String = (0..len)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect();
        let trimmed = text.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".into()
        } else {
            trimmed.into()
        }
    }
}

/// The name the recursive list type has in the environment.
const LIST: &str = "List";

struct Gen {
    rng: Rng,
    env: TypeEnv,
    /// How deep the recursive list's values go at most, for this type.
    deep: usize,
    /// The deepest level any value reached.
    deepest: usize,
}

impl Gen {
    fn primitive(&mut self) -> Type {
        self.rng
            .pick(&[
                TypeInner::Null,
                TypeInner::Bool,
                TypeInner::Nat,
                TypeInner::Int,
                TypeInner::Nat8,
                TypeInner::Nat16,
                TypeInner::Nat32,
                TypeInner::Nat64,
                TypeInner::Int8,
                TypeInner::Int16,
                TypeInner::Int32,
                TypeInner::Int64,
                TypeInner::Float32,
                TypeInner::Float64,
                TypeInner::Text,
                TypeInner::Reserved,
                TypeInner::Principal,
            ])
            .into()
    }

    fn label(&mut self, variant: bool) -> Label {
        match self.rng.below(6) {
            0 => Label::Id(self.rng.below(5) as u32),
            1 => Label::Id(self.rng.next() as u32),
            2 if self.rng.one_in(30) => {
                Label::Named(if variant { "a,b".into() } else { "_".into() })
            }
            2 => Label::Named(format!("f{}", self.rng.text(3))),
            _ => Label::Named(
                self.rng
                    .pick(&["name", "2", "_2_", "é", "with space", "\"q\"", "x"])
                    .into(),
            ),
        }
    }

    fn fields(&mut self, depth: usize, variant: bool) -> Vec<Field> {
        let count = usize::from(variant) + self.rng.below(4);
        let mut fields: Vec<Field> = (0..count)
            .map(|_| Field {
                id: Rc::new(self.label(variant)),
                ty: self.ty(depth + 1),
            })
            .collect();
        // Candid's own rule: ids unique, in order.
        fields.sort_by_key(|field| field.id.get_id());
        fields.dedup_by_key(|field| field.id.get_id());
        if self.rng.one_in(8) && !fields.is_empty() {
            // A tuple: labels 0, 1, 2, ... (written as an array).
            for (i, field) in fields.iter_mut().enumerate() {
                field.id = Rc::new(Label::Unnamed(i as u32));
            }
        }
        fields
    }

    fn ty(&mut self, depth: usize) -> Type {
        if depth >= 4 || self.rng.below(10) < 4 {
            return self.primitive();
        }
        match self.rng.below(6) {
            0 | 1 => TypeInner::Opt(self.ty(depth + 1)).into(),
            2 => TypeInner::Vec(self.ty(depth + 1)).into(),
            3 => TypeInner::Record(self.fields(depth, false)).into(),
            4 => TypeInner::Variant(self.fields(depth, true)).into(),
            _ => TypeInner::Var(LIST.into()).into(),
        }
    }

    fn trace(&self, ty: &Type) -> TypeInner {
        self.env.trace_type(ty).unwrap().as_ref().clone()
    }

    fn value(&mut self, ty: &Type, depth: usize) -> IDLValue {
        // A list's `tail` (the recursive type by its name) may go deep.
        let recursive = matches!(ty.as_ref(), TypeInner::Var(_));
        let traced = self.trace(ty);
        let rng = &mut self.rng;
        // Random bits drawn first, for the picks among edges below.
        let (a, b) = (rng.next(), rng.next());
        match traced {
            TypeInner::Null => IDLValue::Null,
            TypeInner::Reserved => IDLValue::Reserved,
            TypeInner::Bool => IDLValue::Bool(rng.one_in(2)),
            TypeInner::Text => IDLValue::Text(rng.text(8)),
            TypeInner::Nat => IDLValue::Nat(Nat::from_str(&rng.digits()).unwrap()),
            TypeInner::Int => {
                let sign = if rng.one_in(2) { "-" } else { "" };
                IDLValue::Int(Int::from_str(&format!("{sign}{}", rng.digits())).unwrap())
            }
            TypeInner::Nat8 => IDLValue::Nat8(rng.next() as u8),
            TypeInner::Nat16 => IDLValue::Nat16(rng.next() as u16),
            TypeInner::Nat32 => IDLValue::Nat32(rng.next() as u32),
            TypeInner::Nat64 => IDLValue::Nat64(rng.pick(&[
                0,
                u64::MAX,
                (1 << 53) + 1,
                (1 << 53) - 1,
                a >> 1,
                b >> 12,
            ])),
            TypeInner::Int8 => IDLValue::Int8(rng.next() as i8),
            TypeInner::Int16 => IDLValue::Int16(rng.next() as i16),
            TypeInner::Int32 => IDLValue::Int32(rng.next() as i32),
            TypeInner::Int64 => IDLValue::Int64(rng.pick(&[
                i64::MIN,
                i64::MAX,
                -(1 << 53) - 1,
                (a as i64) >> 1,
                (b as i64) >> 12,
            ])),
            TypeInner::Float32 => IDLValue::Float32(f32::from_bits(rng.pick(&[
                0,
                0x8000_0000,
                1,
                0x7f80_0000,
                0xff80_0000,
                0x7fc0_0000,
                0xffc0_0001,
                0x7f80_0001,
                a as u32,
                (b as u32) & 0x3fff_ffff,
            ]))),
            TypeInner::Float64 => IDLValue::Float64(f64::from_bits(rng.pick(&[
                0,
                1 << 63,
                1,
                0x7ff0_0000_0000_0000,
                0xfff0_0000_0000_0000,
                0x7ff8_0000_0000_0000,
                0x7ff8_dead_beef_0001,
                0xfff0_0000_0000_0001,
                a,
                b & 0x3fff_ffff_ffff_ffff,
            ]))),
            TypeInner::Principal => {
                let len = rng.below(30);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                IDLValue::Principal(Principal::from_slice(&bytes))
            }
            TypeInner::Opt(inner) => {
                self.deepest = self.deepest.max(depth);
                // Deep lists go on; everything else stops soon.
                // Each level of a list is an `opt` and a record: two levels
                // of nesting a node, `deep` nodes at most.
                let go_on = if recursive && depth < 2 * self.deep {
                    !self.rng.one_in(4 * self.deep)
                } else {
                    depth < 12 && !self.rng.one_in(3)
                };
                if go_on {
                    IDLValue::Opt(Box::new(self.value(&inner, depth + 1)))
                } else {
                    IDLValue::None
                }
            }
            TypeInner::Vec(inner) => {
                let len = if depth < 8 { self.rng.below(4) } else { 0 };
                let items = (0..len).map(|_| self.value(&inner, depth + 1)).collect();
                IDLValue::Vec(items)
            }
            TypeInner::Record(fields) => IDLValue::Record(
                fields
                    .iter()
                    .map(|field| IDLField {
                        id: field.id.as_ref().clone(),
                        val: self.value(&field.ty, depth + 1),
                    })
                    .collect(),
            ),
            TypeInner::Variant(fields) => {
                let chosen = self.rng.below(fields.len());
                let field = &fields[chosen];
                IDLValue::Variant(VariantValue(
                    Box::new(IDLField {
                        id: field.id.as_ref().clone(),
                        val: self.value(&field.ty, depth + 1),
                    }),
                    chosen as u64,
                ))
            }
            other => panic!("no values of {other}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// json: an `opt` holding null (or an `opt` holding that, ...) read
    /// back empty.
    OptOfNull,
    /// agent-js: an integer past 2^53 rounded.
    Rounded,
    /// agent-js: NaN (any sign or payload) or an infinity read back as NaN.
    NonFinite,
    /// agent-js: a 64-bit integer rounded past its type's range, refused.
    Refused,
    /// A type no file can carry, refused before the backup.
    TypeRefused,
}

fn bytes(env: &TypeEnv, ty: &Type, value: &IDLValue) -> Vec<u8> {
    IDLArgs::new(std::slice::from_ref(value))
        .to_bytes_with_types(env, std::slice::from_ref(ty))
        .unwrap()
}

/// The documented losses that turn `a` into `b` (both of type `ty`), or
/// why they are not documented.
fn losses(
    env: &TypeEnv,
    format: Format,
    ty: &Type,
    a: &IDLValue,
    b: &IDLValue,
    found: &mut Vec<Outcome>,
) -> Result<(), String> {
    if bytes(env, ty, a) == bytes(env, ty, b) {
        return Ok(());
    }
    let inner = env.trace_type(ty).unwrap().as_ref().clone();
    // What plain JSON writes as `null`: null, reserved, an empty `opt`,
    // and an `opt` holding any of them.
    fn nullish(value: &IDLValue) -> bool {
        match value {
            IDLValue::Null | IDLValue::Reserved | IDLValue::None => true,
            IDLValue::Opt(inner) => nullish(inner),
            _ => false,
        }
    }
    match (&inner, a, b) {
        (TypeInner::Opt(t), IDLValue::Opt(x), IDLValue::Opt(y)) => {
            losses(env, format, t, x, y, found)
        }
        (TypeInner::Opt(_), IDLValue::Opt(x), IDLValue::None)
            if format == Format::Json && nullish(x) =>
        {
            found.push(Outcome::OptOfNull);
            Ok(())
        }
        (TypeInner::Vec(t), IDLValue::Vec(x), IDLValue::Vec(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .try_for_each(|(x, y)| losses(env, format, t, x, y, found)),
        (TypeInner::Record(fields), IDLValue::Record(x), IDLValue::Record(y))
            if x.len() == y.len() && x.len() == fields.len() =>
        {
            fields
                .iter()
                .zip(x.iter().zip(y))
                .try_for_each(|(field, (x, y))| {
                    losses(env, format, &field.ty, &x.val, &y.val, found)
                })
        }
        (TypeInner::Variant(fields), IDLValue::Variant(x), IDLValue::Variant(y))
            if x.0.id.get_id() == y.0.id.get_id() =>
        {
            let field = fields
                .iter()
                .find(|field| field.id.get_id() == x.0.id.get_id())
                .unwrap();
            losses(env, format, &field.ty, &x.0.val, &y.0.val, found)
        }
        (TypeInner::Nat64 | TypeInner::Int64 | TypeInner::Nat | TypeInner::Int, _, _)
            if format == Format::AgentJs =>
        {
            found.push(Outcome::Rounded);
            Ok(())
        }
        (_, IDLValue::Float32(x), IDLValue::Float32(y))
            if format == Format::AgentJs && !x.is_finite() && y.is_nan() =>
        {
            found.push(Outcome::NonFinite);
            Ok(())
        }
        (_, IDLValue::Float64(x), IDLValue::Float64(y))
            if format == Format::AgentJs && !x.is_finite() && y.is_nan() =>
        {
            found.push(Outcome::NonFinite);
            Ok(())
        }
        _ => Err(format!("{a} became {b} (type {inner})")),
    }
}

fn list_type(env: &TypeEnv) -> TypeEnv {
    let mut env = env.clone();
    // type List = opt record { head : nat64; tail : List }
    let node: Type = TypeInner::Record(vec![
        Field {
            id: Rc::new(Label::Named("head".into())),
            ty: TypeInner::Nat64.into(),
        },
        Field {
            id: Rc::new(Label::Named("tail".into())),
            ty: TypeInner::Var(LIST.into()).into(),
        },
    ])
    .into();
    env.0.insert(LIST.into(), TypeInner::Opt(node).into());
    env
}

/// What one worker saw: outcomes counted, exact values per format, the
/// differences no format documents, and the deepest value.
#[derive(Default)]
struct Seen {
    counts: BTreeMap<(&'static str, Outcome), u64>,
    exact: BTreeMap<&'static str, u64>,
    unexplained: Vec<String>,
    deepest: usize,
}

/// Workers, each drawing `TYPES / WORKERS` types from a seed of its own.
const WORKERS: usize = 2;

#[test]
fn random_types_and_values_through_every_format() {
    let seed = std::env::var("FORMATS_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(7u64);
    // Deep values recurse deeply in the codecs: big stacks.
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            std::thread::Builder::new()
                .stack_size(512 << 20)
                .spawn(move || run(seed, worker))
                .unwrap()
        })
        .collect();
    let mut seen = Seen::default();
    for worker in workers {
        let part = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        for (key, n) in part.counts {
            *seen.counts.entry(key).or_default() += n;
        }
        for (key, n) in part.exact {
            *seen.exact.entry(key).or_default() += n;
        }
        seen.unexplained.extend(part.unexplained);
        seen.deepest = seen.deepest.max(part.deepest);
    }
    check(seen);
}

/// Worker `worker`'s share of the cases (numbered from `worker * TYPES /
/// WORKERS`).
fn run(seed: u64, worker: usize) -> Seen {
    let mut gen = Gen {
        rng: Rng((seed ^ worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        env: list_type(&TypeEnv::new()),
        deep: 0,
        deepest: 0,
    };
    let mut counts: BTreeMap<(&'static str, Outcome), u64> = BTreeMap::new();
    let mut exact = BTreeMap::<&'static str, u64>::new();
    let mut unexplained = Vec::new();
    let share = TYPES / WORKERS;
    for case in worker * share..(worker + 1) * share {
        gen.deep = if gen.rng.one_in(10) { 1_000 } else { 3 };
        let ty = gen.ty(0);
        let types = MapTypes {
            key: TypeInner::Text.into(),
            value: ty.clone(),
            entries: TypeInner::Null.into(),
            page: TypeInner::Null.into(),
        };
        if let Err(error) = types.check_carried(&gen.env, "m") {
            let error = error.to_string();
            assert!(
                error.contains("would write as one name")
                    || error.contains("named `_`")
                    || error.contains("comma"),
                "case {case}: {error}"
            );
            *counts.entry(("any", Outcome::TypeRefused)).or_default() += 1;
            continue;
        }
        for _ in 0..VALUES_PER_TYPE {
            let value = gen.value(&ty, 0);
            for format in [Format::Lossless, Format::Json, Format::AgentJs] {
                let name = format.name();
                let json = Codec::new(&gen.env, format)
                    .to_json(&ty, &value)
                    .unwrap_or_else(|error| panic!("case {case} {name}: writing {value}: {error}"));
                let text = serde_json::to_string(&json).unwrap();
                let read = parse_value(&text)
                    .unwrap_or_else(|error| panic!("case {case} {name}: reading {text}: {error}"));
                let back = match Codec::new(&gen.env, format).from_json(&ty, &read, "entry 0[1]") {
                    Ok(back) => back,
                    Err(error) => {
                        let error = error.to_string();
                        assert!(
                            format == Format::AgentJs && error.contains("rounded by JavaScript"),
                            "case {case} {name}: {value} of {ty} written as {text}, read back: {error}"
                        );
                        *counts.entry((name, Outcome::Refused)).or_default() += 1;
                        continue;
                    }
                };
                let mut found = Vec::new();
                match losses(&gen.env, format, &ty, &value, &back, &mut found) {
                    Ok(()) if found.is_empty() => *exact.entry(name).or_default() += 1,
                    Ok(()) => {
                        assert_ne!(format, Format::Lossless, "case {case}: {value} of {ty}");
                        for loss in found {
                            *counts.entry((name, loss)).or_default() += 1;
                        }
                    }
                    Err(why) => unexplained.push(format!("case {case} {name}: {why}")),
                }
            }
        }
    }
    Seen {
        counts,
        exact,
        unexplained,
        deepest: gen.deepest,
    }
}

/// Every lossless value exact, every other difference documented, and each
/// documented outcome seen at least once.
fn check(seen: Seen) {
    let Seen {
        counts,
        exact,
        unexplained,
        deepest,
    } = seen;
    eprintln!(
        "{TYPES} random types, {VALUES_PER_TYPE} values each, nested up to {deepest} levels:"
    );
    assert!(deepest >= 2_000, "the deepest value has {deepest} levels");
    for (format, n) in &exact {
        eprintln!("  {n:>6}  {format}: exact");
    }
    for ((format, outcome), n) in &counts {
        eprintln!("  {n:>6}  {format}: {outcome:?}");
    }
    assert!(
        unexplained.is_empty(),
        "{} differences no format documents:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    assert_eq!(
        exact.get("lossless").copied().unwrap_or(0) as usize,
        (TYPES
            - counts
                .get(&("any", Outcome::TypeRefused))
                .copied()
                .unwrap_or(0) as usize)
            * VALUES_PER_TYPE,
        "every lossless value exact"
    );
    for key in [
        ("json", Outcome::OptOfNull),
        ("agent-js", Outcome::Rounded),
        ("agent-js", Outcome::NonFinite),
        ("agent-js", Outcome::Refused),
        ("any", Outcome::TypeRefused),
    ] {
        assert!(counts.contains_key(&key), "{key:?} never seen");
    }
}
