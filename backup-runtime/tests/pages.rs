//! Backup pages: every entry exactly once, never over the budget.

use backup_runtime::limits::{
    DEFAULT_PAGE_BYTES, MAX_ENTRY_BYTES, MAX_PAGE_BYTES, QUERY_REPLY_LIMIT, UPDATE_REPLY_LIMIT,
};
use backup_runtime::page::{
    cursor_page, encode_cursor_page, encode_offset_page, offset_page, splits, BackupPage,
    PageError, PageLimits, Splits,
};
use backup_runtime::{CandidKey, TextKey};
use candid::{CandidType, Deserialize, Principal};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{StableBTreeMap, Storable, VectorMemory};
use std::borrow::Cow;

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Blob {
    label: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

impl Storable for Blob {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(candid::encode_one(self).unwrap())
    }
    fn into_bytes(self) -> Vec<u8> {
        candid::encode_one(&self).unwrap()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        candid::decode_one(&bytes).unwrap()
    }
    const BOUND: Bound = Bound::Unbounded;
}

type Map = StableBTreeMap<u64, Blob, VectorMemory>;

/// Values of every size up to `max`, so pages end at varied places.
fn map_with(n: u64, size: impl Fn(u64) -> usize) -> Map {
    let mut map = StableBTreeMap::init(VectorMemory::default());
    for i in 0..n {
        map.insert(
            i,
            Blob {
                label: format!("entry {i}"),
                data: vec![(i % 251) as u8; size(i)],
            },
        );
    }
    map
}

fn limits(max_bytes: u64) -> PageLimits {
    PageLimits::with_max_bytes(Some(max_bytes)).unwrap()
}

#[test]
fn cursor_pages_cover_every_entry_once_within_the_budget() {
    let map = map_with(400, |i| (i as usize * 7919) % 20_000);
    let budget = 100_000;
    let mut after = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let reply =
            encode_cursor_page::<_, _, _, CandidKey>(&map, after, None, limits(budget), &|| 0)
                .unwrap();
        // The reply is the budget of entries plus a header of a few dozen bytes.
        assert!(
            reply.len() as u64 <= budget + 200,
            "reply of {} bytes",
            reply.len()
        );
        let page: BackupPage<u64, Blob> = candid::decode_one(&reply).unwrap();
        assert_eq!(page.len, 400);
        assert!(!page.entries.is_empty());
        pages += 1;
        // A page stops only when the next entry would not fit.
        if let Some(next) = page.next {
            let following = map.range(next + 1..).next().unwrap().into_pair();
            let with_next =
                candid::encode_one([page.entries.clone(), vec![following]].concat()).unwrap();
            assert!(
                with_next.len() as u64 > budget,
                "page {pages} stopped early"
            );
            assert_eq!(page.entries.last().unwrap().0, next);
        }
        seen.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(pages > 10, "only {pages} pages");
    let expected: Vec<(u64, Blob)> = map.iter().map(|e| e.into_pair()).collect();
    assert_eq!(seen, expected);
}

/// Every page of the span after `after` up to `until`, at `budget` bytes.
fn span_pages(map: &Map, after: Option<u64>, until: Option<u64>, budget: u64) -> Vec<(u64, Blob)> {
    let (mut after, mut entries) = (after, Vec::new());
    loop {
        let reply =
            encode_cursor_page::<_, _, _, CandidKey>(map, after, until, limits(budget), &|| 0)
                .unwrap();
        let page: BackupPage<u64, Blob> = candid::decode_one(&reply).unwrap();
        assert_eq!(page.len, map.len());
        entries.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => return entries,
        }
    }
}

/// A parallel backup cuts the map at the keys `splits` gives and pages each
/// span up to its last key: the spans hold every entry once, in order, in
/// parts of equal length.
#[test]
fn spans_cut_at_the_split_keys_cover_every_entry_once() {
    let map = map_with(1000, |i| (i as usize * 7919) % 3000);
    let whole: Vec<(u64, Blob)> = map.iter().map(|e| e.into_pair()).collect();
    for parts in [1, 2, 3, 7, 64, 999, 1000, 4096] {
        let Splits { keys, next, .. } =
            splits::<_, _, _, CandidKey>(&map, None, parts, 0, &|| 0).unwrap();
        assert_eq!(next, None);
        let every = 1000u64.div_ceil(parts);
        let expected: Vec<u64> = (1..)
            .map(|i| i * every - 1)
            .take_while(|&k| k < 999)
            .collect();
        assert_eq!(keys, expected, "{parts} parts");
        let mut ends: Vec<Option<u64>> = keys.iter().copied().map(Some).collect();
        ends.push(None);
        let mut starts = vec![None];
        starts.extend(keys.iter().copied().map(Some));
        let mut joined = Vec::new();
        for (after, until) in starts.into_iter().zip(ends) {
            let span = span_pages(&map, after, until, 20_000);
            if let (Some(until), Some(last)) = (until, span.last()) {
                assert_eq!(last.0, until, "a span ends at its key");
            }
            joined.extend(span);
        }
        assert!(joined == whole, "{parts} parts");
    }
    // A span with no key in it, or past the end, is one empty last page.
    for (after, until) in [(Some(5), Some(5)), (Some(9), Some(2)), (Some(999), None)] {
        assert!(span_pages(&map, after, until, 20_000).is_empty());
    }
    assert_eq!(span_pages(&map, Some(4), Some(5), 20_000)[0].0, 5);
    let empty = map_with(0, |_| 0);
    let none = splits::<_, _, _, CandidKey>(&empty, None, 8, 0, &|| 0).unwrap();
    assert_eq!((none.keys.len(), none.next), (0, None));
}

/// All the cuts of walks that stop at `budget_every` looks at the budget
/// (each call a fresh budget), asked again from where each stopped; and how
/// many calls that took.
fn walk_in_calls(map: &Map, parts: u64, budget_every: u64) -> (Vec<u64>, usize) {
    use backup_runtime::limits::SPLIT_INSTRUCTIONS;
    let looks = std::cell::Cell::new(0u64);
    let counter = || {
        looks.set(looks.get() + 1);
        looks.get() * SPLIT_INSTRUCTIONS / budget_every
    };
    let (mut after, mut walked, mut keys, mut calls) = (None, 0, Vec::new(), 0);
    loop {
        looks.set(0);
        calls += 1;
        let part = splits::<_, _, _, CandidKey>(map, after, parts, walked, &counter).unwrap();
        keys.extend(part.keys);
        match part.next {
            Some(next) => (after, walked) = (Some(next), part.walked),
            None => return (keys, calls),
        }
    }
}

/// The walk stops at its instruction budget, after a cut or between two,
/// and says where to go on; asked again from there, at any budget, it gives
/// the cuts of one unlimited walk.
#[test]
fn splits_stop_at_their_budget_and_go_on_to_the_cuts_of_one_walk() {
    use backup_runtime::limits::{MAX_SPLITS, SPLIT_INSTRUCTIONS};
    let map = map_with(100, |_| 10);
    let spent = || SPLIT_INSTRUCTIONS;
    let first = splits::<_, _, _, CandidKey>(&map, None, 10, 0, &spent).unwrap();
    assert_eq!(
        (first.keys, first.next, first.walked),
        (vec![9], Some(9), 0)
    );
    // Spans far longer than the walk between two looks at the budget.
    let map = map_with(20_000, |_| 1);
    for parts in [1, 2, 3, 64] {
        let (whole, calls) = walk_in_calls(&map, parts, u64::MAX);
        assert_eq!(calls, 1);
        for budget_every in [1, 2, 5, 40] {
            let (keys, calls) = walk_in_calls(&map, parts, budget_every);
            assert_eq!(keys, whole, "{parts} parts, {budget_every} looks a call");
            assert!(calls > 1, "{parts} parts, {budget_every} looks a call");
        }
    }
    // A walk that stops between cuts says how far into its span it is.
    let looked = std::cell::Cell::new(false);
    let once = || {
        let over = looked.get();
        looked.set(true);
        if over {
            SPLIT_INSTRUCTIONS
        } else {
            0
        }
    };
    let stopped = splits::<_, _, _, CandidKey>(&map, None, 2, 0, &once).unwrap();
    assert_eq!(
        (stopped.keys.len(), stopped.next, stopped.walked),
        (0, Some(127), 128)
    );
    for parts in [0, MAX_SPLITS + 1] {
        let error = splits::<_, _, _, CandidKey>(&map, None, parts, 0, &|| 0).unwrap_err();
        assert_eq!(error, PageError::BadParts { asked: parts });
        assert!(error.to_string().contains(&format!("found {parts}")));
    }
    let error = splits::<_, _, _, CandidKey>(&map, None, 2, 10_000, &|| 0).unwrap_err();
    assert_eq!(
        error,
        PageError::BadWalked {
            walked: 10_000,
            every: 10_000
        }
    );
    let message = error.to_string();
    assert!(message.contains("expected `walked` below 10000") && message.contains("found 10000"));
}

#[test]
fn offset_pages_cover_every_entry_once_and_end_empty() {
    let map = map_with(300, |i| (i as usize * 104_729) % 30_000);
    let mut offset = 0;
    let mut seen = Vec::new();
    loop {
        let page = offset_page::<_, _, _, CandidKey>(&map, offset, 1000, limits(150_000)).unwrap();
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        seen.extend(page);
    }
    let expected: Vec<(u64, Blob)> = map.iter().map(|e| e.into_pair()).collect();
    assert_eq!(seen, expected);
    // `count` is honoured when the budget is not the limit.
    assert_eq!(
        offset_page::<_, _, _, CandidKey>(&map, 10, 3, PageLimits::default())
            .unwrap()
            .len(),
        3
    );
    assert!(
        offset_page::<_, _, _, CandidKey>(&map, u64::MAX, 3, PageLimits::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn default_pages_stay_under_both_reply_limits() {
    // Values of ~100 KiB: the article's fixed 1000-entry page would be ~100 MiB.
    let map = map_with(60, |_| 100 * 1024);
    let reply =
        encode_offset_page::<_, _, _, CandidKey>(&map, 0, 1000, PageLimits::default(), &|| 0)
            .unwrap();
    assert!(reply.len() < UPDATE_REPLY_LIMIT && reply.len() < QUERY_REPLY_LIMIT);
    assert!(reply.len() as u64 <= DEFAULT_PAGE_BYTES + 200);
    let entries: Vec<(u64, Blob)> = candid::decode_one(&reply).unwrap();
    assert_eq!(entries.len(), 15, "1.5 MiB holds 15 entries of 100 KiB");
}

#[test]
fn an_entry_over_the_budget_travels_alone() {
    let map = map_with(3, |i| if i == 1 { 500_000 } else { 10 });
    let first = cursor_page::<_, _, _, CandidKey>(&map, None, limits(1000)).unwrap();
    assert_eq!(first.entries.len(), 1);
    let second = cursor_page::<_, _, _, CandidKey>(&map, first.next, limits(1000)).unwrap();
    assert_eq!(second.entries.len(), 1, "the large entry comes alone");
    assert_eq!(second.entries[0].1.data.len(), 500_000);
}

#[test]
fn an_entry_too_large_to_restore_is_skipped_by_key_or_refused() {
    // Entry 1 fits a page (2.5 MiB) but not a restore call (2 MiB of ingress);
    // entry 3 fits neither.
    let sizes = |i| match i {
        1 => MAX_ENTRY_BYTES as usize,
        3 => MAX_PAGE_BYTES as usize + 1,
        _ => 10,
    };
    let map = map_with(5, sizes);
    let mut after = None;
    let (mut entries, mut skipped) = (Vec::new(), Vec::new());
    loop {
        let page = cursor_page::<_, _, _, CandidKey>(&map, after, PageLimits::default()).unwrap();
        entries.extend(page.entries.into_iter().map(|(key, _)| key));
        skipped.extend(page.skipped);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(entries, vec![0, 2, 4], "every entry that restore can take");
    assert_eq!(skipped, vec![1, 3], "and the keys of the others");

    let error = offset_page::<_, _, _, CandidKey>(&map, 1, 10, PageLimits::default()).unwrap_err();
    assert!(matches!(error, PageError::EntryTooLarge { .. }), "{error}");
    assert!(error.to_string().contains("offset 1"), "{error}");
    // An entry just under the limit still travels.
    let fits = map_with(1, |_| MAX_ENTRY_BYTES as usize - 1000);
    let page = cursor_page::<_, _, _, CandidKey>(&fits, None, PageLimits::default()).unwrap();
    assert_eq!((page.entries.len(), page.skipped.len()), (1, 0));
}

#[test]
fn a_page_stops_at_the_instruction_budget_but_always_makes_progress() {
    let map = map_with(50, |_| 10);
    let used = std::cell::Cell::new(0u64);
    let counter = || {
        used.set(used.get() + 1_000_000_000);
        used.get()
    };
    let limits = PageLimits {
        max_bytes: DEFAULT_PAGE_BYTES,
        max_instructions: 3_500_000_000,
    };
    let reply =
        encode_cursor_page::<_, _, _, CandidKey>(&map, None, None, limits, &counter).unwrap();
    let page: BackupPage<u64, Blob> = candid::decode_one(&reply).unwrap();
    assert_eq!(page.entries.len(), 4);
    assert_eq!(page.next, Some(3));

    let exhausted = || u64::MAX;
    let reply =
        encode_cursor_page::<_, _, _, CandidKey>(&map, Some(48), None, limits, &exhausted).unwrap();
    let page: BackupPage<u64, Blob> = candid::decode_one(&reply).unwrap();
    assert_eq!(
        page.entries.len(),
        1,
        "one entry even when the budget is spent"
    );
    assert_eq!(page.next, None);
}

#[test]
fn budgets_outside_the_limits_are_refused() {
    assert_eq!(
        PageLimits::with_max_bytes(Some(0)),
        Err(PageError::BadBudget { asked: 0 })
    );
    let error = PageLimits::with_max_bytes(Some(MAX_PAGE_BYTES + 1)).unwrap_err();
    assert!(
        error.to_string().contains(&MAX_PAGE_BYTES.to_string()),
        "{error}"
    );
    assert_eq!(
        PageLimits::with_max_bytes(None).unwrap().max_bytes,
        DEFAULT_PAGE_BYTES
    );
}

#[test]
fn text_keys_travel_as_text_and_bad_cursors_are_named() {
    let mut map: StableBTreeMap<Principal, u64, VectorMemory> =
        StableBTreeMap::init(VectorMemory::default());
    let principals: Vec<Principal> = (0..5u8).map(|n| Principal::from_slice(&[n; 29])).collect();
    for (i, p) in principals.iter().enumerate() {
        map.insert(*p, i as u64);
    }
    let page =
        cursor_page::<_, _, _, TextKey>(&map, Some(principals[1].to_text()), PageLimits::default())
            .unwrap();
    let keys: Vec<String> = page.entries.iter().map(|(k, _)| k.clone()).collect();
    let mut expected: Vec<Principal> = principals
        .iter()
        .copied()
        .filter(|p| *p > principals[1])
        .collect();
    expected.sort();
    assert_eq!(
        keys,
        expected.iter().map(Principal::to_text).collect::<Vec<_>>()
    );
    assert_eq!(page.next, None);

    let error = cursor_page::<_, _, _, TextKey>(&map, Some("nope".into()), PageLimits::default())
        .unwrap_err();
    assert!(matches!(error, PageError::BadCursor(_)));
    assert!(error.to_string().contains("`nope`"), "{error}");
}

#[test]
fn an_empty_map_gives_an_empty_last_page() {
    let map = map_with(0, |_| 0);
    let page = cursor_page::<_, _, _, CandidKey>(&map, None, PageLimits::default()).unwrap();
    assert_eq!(
        page,
        BackupPage {
            entries: vec![],
            next: None,
            len: 0,
            skipped: vec![],
        }
    );
    assert!(
        offset_page::<_, _, _, CandidKey>(&map, 0, 10, PageLimits::default())
            .unwrap()
            .is_empty()
    );
}

impl backup_runtime::page::CandidBytes for Blob {}

/// A superset of `Blob`: its encoding decodes as a `Blob` (the extra field
/// is ignored) but does not start with `Blob`'s own Candid header.
#[derive(CandidType, Deserialize)]
struct Wider {
    label: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    extra: u32,
}

#[test]
fn spliced_pages_are_the_pages_decoding_would_give() {
    use backup_runtime::page::{encode_cursor_page_spliced, Stored};
    let map = map_with(300, |i| (i as usize * 37) % 2000);
    let memory = map.into_memory();
    // A few values stored in another (compatible) encoding: they are decoded.
    let mut raw: StableBTreeMap<u64, Stored<Blob>, VectorMemory> =
        StableBTreeMap::load(memory.clone());
    for i in [0u64, 7, 150, 299] {
        let wider = Wider {
            label: format!("wider {i}"),
            data: vec![9; i as usize],
            extra: 7,
        };
        raw.insert(
            i,
            Stored::from_bytes(Cow::Owned(candid::encode_one(&wider).unwrap())),
        );
    }
    // Others with `Blob`'s own header, but a length written longer than
    // needed (which decoders take): decoded, and written the usual way.
    for i in [3u64, 151] {
        let mut bytes = candid::encode_one(&Blob {
            label: String::new(),
            data: vec![],
        })
        .unwrap();
        let label = bytes.len() - 2;
        bytes.splice(label..label + 1, [0x80, 0x00]);
        raw.insert(i, Stored::from_bytes(Cow::Owned(bytes)));
    }
    drop(raw);
    let map: Map = StableBTreeMap::load(memory.clone());
    for i in [3u64, 151] {
        assert_eq!(map.get(&i).unwrap().label, "");
    }
    // Whole, and up to a key (the spans of a parallel backup).
    for (max_bytes, until) in [1, 500, 10_000, DEFAULT_PAGE_BYTES]
        .into_iter()
        .flat_map(|max_bytes| [(max_bytes, None), (max_bytes, Some(151))])
    {
        let mut after = None;
        let mut pages = 0;
        loop {
            let plain = encode_cursor_page::<_, _, _, CandidKey>(
                &map,
                after,
                until,
                limits(max_bytes),
                &|| 0,
            )
            .unwrap();
            let spliced = encode_cursor_page_spliced::<u64, Blob, _, CandidKey>(
                memory.clone(),
                after,
                until,
                limits(max_bytes),
                &|| 0,
            )
            .unwrap();
            assert!(
                plain == spliced,
                "page {pages} at {max_bytes} bytes differs"
            );
            let page: BackupPage<u64, Blob> = candid::decode_one(&spliced).unwrap();
            pages += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert!(pages >= 1);
    }
}

/// Counts its decodings: a page of `CandidBytes` values decodes one value
/// (to learn the type's header), not every value.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Counted {
    text: String,
}

static DECODED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Storable for Counted {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(candid::encode_one(self).unwrap())
    }
    fn into_bytes(self) -> Vec<u8> {
        candid::encode_one(&self).unwrap()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        DECODED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        candid::decode_one(&bytes).unwrap()
    }
    const BOUND: Bound = Bound::Unbounded;
}

impl backup_runtime::page::CandidBytes for Counted {}

thread_local! {
    static COUNTED_MEMORY: VectorMemory = VectorMemory::default();
    static COUNTED: std::cell::RefCell<StableBTreeMap<u64, Counted, VectorMemory>> =
        std::cell::RefCell::new(StableBTreeMap::init(COUNTED_MEMORY.with(Clone::clone)));
}

struct CountedMap;

impl backup_runtime::endpoint::BackupMap for CountedMap {
    type Key = u64;
    type Value = Counted;
    type Memory = VectorMemory;
    type Wire = u64;
    type Codec = CandidKey;
    const MEMORY_ID: u8 = 0;
    const RUNTIME_MANAGER: bool = false;

    fn memory() -> VectorMemory {
        COUNTED_MEMORY.with(Clone::clone)
    }

    fn with<R>(
        f: impl FnOnce(&std::cell::RefCell<StableBTreeMap<u64, Counted, VectorMemory>>) -> R,
    ) -> R {
        COUNTED.with(f)
    }
}

#[test]
fn the_derive_s_probe_pages_candid_bytes_values_from_their_stored_bytes() {
    use backup_runtime::endpoint::BackupMap;
    // Both traits in scope, as the derive writes it: the probe picks one.
    #[allow(unused_imports)]
    use backup_runtime::endpoint::{Probe, ViaDecoding as _, ViaStoredBytes as _};
    COUNTED.with(|map| {
        for i in 0..100u64 {
            map.borrow_mut().insert(
                i,
                Counted {
                    text: format!("value {i}"),
                },
            );
        }
    });
    DECODED.store(0, std::sync::atomic::Ordering::SeqCst);
    // What the derive generates in each map's `BackupMap` impl.
    #[allow(clippy::needless_borrow)]
    let spliced = (&Probe::<CountedMap>::new())
        .cursor_page((None, None), limits(DEFAULT_PAGE_BYTES), &|| 0)
        .unwrap();
    assert_eq!(
        DECODED.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no value decoded: the header is known from the type"
    );
    let decoded = CountedMap::with(|map| {
        encode_cursor_page::<_, _, _, CandidKey>(
            &map.borrow(),
            None,
            None,
            limits(DEFAULT_PAGE_BYTES),
            &|| 0,
        )
        .unwrap()
    });
    assert!(spliced == decoded);
    assert_eq!(
        DECODED.load(std::sync::atomic::Ordering::SeqCst),
        100,
        "the usual path decodes each"
    );
}

/// A value damaged in stable memory (its header intact, its last byte lost,
/// as a write past a V1 map's bound leaves it) is not spliced: it is decoded,
/// and the canister's `Storable` fails on it exactly as without the splice.
#[test]
fn a_damaged_value_is_decoded_and_fails_as_it_would_without_the_splice() {
    use backup_runtime::page::{encode_cursor_page_spliced, Stored};
    let map = map_with(20, |i| i as usize * 10);
    let memory = map.into_memory();
    let mut raw: StableBTreeMap<u64, Stored<Blob>, VectorMemory> =
        StableBTreeMap::load(memory.clone());
    let mut damaged = raw.get(&12).unwrap().into_bytes();
    damaged.pop();
    raw.insert(12, Stored::from_bytes(Cow::Owned(damaged)));
    drop(raw);
    let spliced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encode_cursor_page_spliced::<u64, Blob, _, CandidKey>(
            memory.clone(),
            None,
            None,
            limits(DEFAULT_PAGE_BYTES),
            &|| 0,
        )
    }));
    let message = |error: Box<dyn std::any::Any + Send>| {
        error
            .downcast_ref::<String>()
            .map(|text| {
                text.split("Stack backtrace")
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let spliced = message(spliced.expect_err("the damaged value fails the page"));
    let map: Map = StableBTreeMap::load(memory.clone());
    let plain = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encode_cursor_page::<_, _, _, CandidKey>(
            &map,
            None,
            None,
            limits(DEFAULT_PAGE_BYTES),
            &|| 0,
        )
    }));
    let plain = message(plain.expect_err("the damaged value fails the page"));
    assert_eq!(spliced, plain);
    assert!(spliced.contains("Fail to decode"), "{spliced}");
    // The pages before it are spliced as usual.
    let first = encode_cursor_page_spliced::<u64, Blob, _, CandidKey>(
        memory.clone(),
        None,
        None,
        limits(600),
        &|| 0,
    )
    .unwrap();
    let page: BackupPage<u64, Blob> = candid::decode_one(&first).unwrap();
    assert!(page.next.is_some_and(|next| next < 12), "{:?}", page.next);
}

/// A key type whose text does not come back as the key: two keys share a
/// text (`n / 2`), which parses to the even one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Folded(u64);

impl Storable for Folded {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_be_bytes().to_vec())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.to_be_bytes().to_vec()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Folded(u64::from_be_bytes(bytes.as_ref().try_into().unwrap()))
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: 8,
        is_fixed_size: true,
    };
}

impl backup_runtime::KeyText for Folded {
    fn to_key_text(&self) -> String {
        (self.0 / 2).to_string()
    }
    fn from_key_text(text: &str) -> Result<Self, String> {
        text.parse::<u64>()
            .map(|n| Folded(n * 2))
            .map_err(|e| e.to_string())
    }
    fn from_canonical_text(text: &str) -> Result<Self, String> {
        Self::from_key_text(text)
    }
}

/// A page whose last key's text parses to another key, or a cut made of
/// one, is refused, naming the text: a cursor made of it would skip or
/// repeat entries. Keys whose text comes back page as before.
#[test]
fn a_key_whose_text_is_not_its_own_is_refused_as_a_cursor_or_a_cut() {
    let mut map: StableBTreeMap<Folded, u64, VectorMemory> =
        StableBTreeMap::init(VectorMemory::default());
    for n in 0..10 {
        map.insert(Folded(n), n);
    }
    let one = |budget| PageLimits {
        max_bytes: budget,
        ..PageLimits::default()
    };
    // Pages of two entries: the first ends at an odd key; three, an even one.
    let page = cursor_page::<_, _, _, TextKey>(&map, None, one(30)).unwrap();
    assert_eq!(page.next, Some("1".to_string()));
    let error = cursor_page::<_, _, _, TextKey>(&map, None, one(20)).unwrap_err();
    assert!(matches!(error, PageError::KeyTextNotOwn { .. }), "{error}");
    assert!(error.to_string().contains("does not come back"), "{error}");
    // The whole map in one page needs no cursor.
    let page = cursor_page::<_, _, _, TextKey>(&map, None, PageLimits::default()).unwrap();
    assert_eq!((page.entries.len(), page.next), (10, None));
    // Cuts after every other key fall on odd keys.
    let error = splits::<_, _, _, TextKey>(&map, None, 5, 0, &|| 0).unwrap_err();
    assert!(matches!(error, PageError::KeyTextNotOwn { .. }), "{error}");
}
