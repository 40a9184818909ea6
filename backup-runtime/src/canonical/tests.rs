use super::*;
use candid::{CandidType, Deserialize, Int, Nat, Principal};

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum Kind {
    Plain,
    Counted(u32),
    Named { name: String, weight: f64 },
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Tree {
    label: String,
    children: Vec<Tree>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct Everything {
    name: String,
    bio: Option<String>,
    age: u8,
    year: i16,
    score: u64,
    delta: i64,
    ratio: f32,
    nat: Nat,
    int: Int,
    big: u128,
    flag: bool,
    owner: Principal,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    tags: Vec<String>,
    kinds: Vec<Kind>,
    tree: Tree,
    nothing: (),
    pair: (u16, Option<bool>),
}

fn sample(i: u64) -> Everything {
    Everything {
        name: format!("user {i} ✓"),
        bio: i.is_multiple_of(2).then(|| "x".repeat(i as usize * 40)),
        age: i as u8,
        year: -(i as i16) * 300,
        score: i * 1_000_003,
        delta: -(i as i64) * 77_777,
        ratio: i as f32 / 3.0,
        nat: Nat::from(i * 200),
        int: Int::from(-(i as i64) * 1_000),
        big: u128::from(i) << 40,
        flag: i.is_multiple_of(3),
        owner: Principal::from_slice(&[i as u8; 29]),
        blob: vec![i as u8; i as usize * 3],
        tags: (0..i).map(|t| format!("t{t}")).collect(),
        kinds: vec![
            Kind::Plain,
            Kind::Counted(i as u32),
            Kind::Named {
                name: "n".into(),
                weight: -1.5,
            },
        ],
        tree: Tree {
            label: "root".into(),
            children: vec![Tree {
                label: "leaf".into(),
                children: vec![],
            }],
        },
        nothing: (),
        pair: (i as u16, Some(i % 2 == 1)),
    }
}

fn split<T: CandidType>(value: &T) -> (Shape, usize, Vec<u8>) {
    let message = candid::encode_one(value).unwrap();
    let header = header_of::<T>().unwrap();
    // What `encode_one` writes is this header, then the value.
    assert!(message.starts_with(&header));
    let shape = Shape::parse(&header).expect("the type's own header parses");
    (shape, header.len(), message)
}

#[test]
fn what_candid_writes_is_accepted() {
    for i in 0..8 {
        let (shape, cut, message) = split(&sample(i));
        assert!(shape.accepts(&message[cut..]), "{i}");
    }
    for value in [0i64, 1, -1, 63, 64, -64, -65, i64::MAX, i64::MIN, 1 << 40] {
        let (shape, cut, message) = split(&Int::from(value));
        assert!(shape.accepts(&message[cut..]), "{value}");
        let mut reader = Reader::new(&message[cut..]);
        assert_eq!(reader.sleb(), Some(value));
    }
    for value in [0u64, 1, 127, 128, u64::MAX] {
        let (shape, cut, message) = split(&Nat::from(value));
        assert!(shape.accepts(&message[cut..]), "{value}");
    }
}

/// Sound: every change of a valid encoding that is accepted decodes,
/// and encodes back to exactly those bytes.
#[test]
fn what_is_accepted_decodes_and_encodes_back_to_itself() {
    let mut accepted = 0;
    let mut refused = 0;
    for i in [1, 2, 5] {
        let (shape, cut, message) = split(&sample(i));
        let mut changed = Vec::new();
        for at in cut..message.len() {
            for byte in [0u8, 1, 2, 0x40, 0x7f, 0x80, 0xff, message[at] ^ 1] {
                let mut bytes = message.clone();
                bytes[at] = byte;
                changed.push(bytes);
            }
            let mut cut_short = message.clone();
            cut_short.truncate(at);
            changed.push(cut_short);
            let mut longer = message.clone();
            longer.insert(at, 0);
            changed.push(longer);
        }
        for bytes in changed {
            if !shape.accepts(&bytes[cut..]) {
                refused += 1;
                continue;
            }
            accepted += 1;
            let decoded: Everything = candid::decode_one(&bytes)
                .unwrap_or_else(|e| panic!("accepted but undecodable: {e}"));
            assert_eq!(candid::encode_one(&decoded).unwrap(), bytes);
        }
    }
    // Both sides are exercised.
    assert!(accepted > 1_000 && refused > 1_000, "{accepted} {refused}");
}

#[test]
fn utf8_is_checked_past_the_ascii_words() {
    for text in [
        "",
        "a",
        "abcdefgh",
        "abcdefghi",
        "abcdefgh✓",
        "✓abcdefghijklmnop",
        "abcdefghijklmnop✓x",
    ] {
        assert!(utf8(text.as_bytes()), "{text}");
    }
    for bad in [
        &b"abcdefgh\xff"[..],
        b"\xc3",
        b"abcdefghijklmno\xe2\x9c",
        b"\x80abcdefgh",
    ] {
        assert!(!utf8(bad), "{bad:?}");
    }
}

#[test]
fn longer_encodings_than_needed_are_refused() {
    assert_eq!(Reader::new(&[0x80, 0x00]).uleb(), None);
    assert_eq!(Reader::new(&[0x80, 0x01]).uleb(), Some(128));
    assert_eq!(Reader::new(&[0xff, 0x7f]).sleb(), None);
    assert_eq!(Reader::new(&[0x80, 0x7f]).sleb(), Some(-128));
    assert_eq!(Reader::new(&[0xc0, 0x00]).sleb(), Some(64));
    assert_eq!(Reader::new(&[0x80, 0x00]).sleb(), None);
    let mut too_long = vec![0xff; 10];
    too_long.push(0x01);
    assert_eq!(Reader::new(&too_long).uleb(), None);
    assert_eq!(Reader::new(&[0xff; 12]).sleb(), None);
}

/// A list kept as nested options: a value as deep as the list is long.
#[derive(CandidType, Deserialize, Debug, PartialEq)]
struct Node {
    head: u64,
    tail: Option<Box<Node>>,
}

#[test]
fn values_of_any_depth_are_checked_without_the_call_stack() {
    let (shape, cut, _) = split(&Node {
        head: 0,
        tail: None,
    });
    // As deep as candid writes on a large stack: accepted, and exactly
    // candid's bytes.
    let deep = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let mut node = Node {
                head: 0,
                tail: None,
            };
            for head in 1..2_000 {
                node = Node {
                    head,
                    tail: Some(Box::new(node)),
                };
            }
            let bytes = candid::encode_one(&node).unwrap();
            let back: Node = candid::decode_one(&bytes).unwrap();
            assert_eq!(candid::encode_one(&back).unwrap(), bytes);
            std::mem::forget((node, back)); // dropping recurses too
            bytes
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(shape.accepts(&deep[cut..]));
    // A million levels, on this test's small stack: the walk's place is
    // kept on the heap.
    let mut body = Vec::new();
    for head in 0..1_000_000u64 {
        body.extend_from_slice(&head.to_le_bytes());
        body.push(1);
    }
    body.extend_from_slice(&7u64.to_le_bytes());
    body.push(0);
    assert!(shape.accepts(&body));
    // Cut short at any of the last levels, or one byte too many: refused.
    for cut_at in [body.len() - 1, body.len() - 9, body.len() - 10] {
        assert!(!shape.accepts(&body[..cut_at]));
    }
    body.push(0);
    assert!(!shape.accepts(&body));
}

#[test]
fn odd_headers_and_values_without_bytes_are_left_to_the_decoder() {
    // `type T = record { T }`: no value has bytes, and the walk must
    // not expand it forever.
    let endless = Shape::parse(b"DIDL\x01\x6c\x01\x00\x00\x01\x00").unwrap();
    assert!(!endless.accepts(b""));
    for header in [
        &b""[..],
        b"DIDM\x00\x00",
        b"DIDL\x01\x6a\x00\x00\x00\x00",
        b"DIDL\x00\x01",
    ] {
        assert!(Shape::parse(header).is_none(), "{header:?}");
    }
    // A vector of a million nulls is not walked here.
    let nulls = candid::encode_one(vec![(); 1_000_000]).unwrap();
    let (shape, cut, empty) = split(&Vec::<()>::new());
    assert!(shape.accepts(&empty[cut..]));
    assert!(!shape.accepts(&nulls[cut..]));
}
