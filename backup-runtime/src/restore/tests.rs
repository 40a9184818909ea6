use super::*;
use crate::key::TextKey;

/// Every entry once, for every batch size, spread out.
#[test]
fn spreading_inserts_each_entry_once() {
    for n in 0..300usize {
        let mut order: Vec<usize> = spread((0..n).collect()).collect();
        assert!(n < 4 || order[..4] != [0, 1, 2, 3], "{n}: {order:?}");
        order.sort_unstable();
        assert_eq!(order, (0..n).collect::<Vec<_>>());
    }
    assert_eq!(
        spread((0..8).collect()).collect::<Vec<_>>(),
        [0, 4, 2, 6, 1, 5, 3, 7]
    );
}

/// Bounded to 8 bytes, so an entry can be refused on its own.
/// A value `!...` stands for one its decoder refused.
fn check_texts(batch: &[(&str, &str)]) -> Result<usize, RestoreError> {
    let batch = batch
        .iter()
        .map(|(key, value)| {
            let value = match value.strip_prefix('!') {
                Some(error) => Err(error.to_string()),
                None => Ok(value.as_bytes().to_vec()),
            };
            (key.to_string(), value)
        })
        .collect();
    let bound = Bound::Bounded {
        max_size: 8,
        is_fixed_size: false,
    };
    check_stored::<String, TextKey>(batch, None, bound).map(|checked| checked.len())
}

#[test]
fn the_first_entry_refused_is_named_as_an_entry_by_entry_check_would() {
    assert_eq!(check_texts(&[("a", "1"), ("b", "2"), ("c", "3")]), Ok(3));
    let duplicate = |index, first, key: &str| RestoreError::DuplicateKey {
        index,
        first,
        key: Some(key.into()),
    };
    let long = "123456789";
    for (batch, error) in [
        (
            vec![("a", "1"), ("b", "2"), ("a", "3"), ("b", "4")],
            duplicate(2, 0, "a"),
        ),
        (
            vec![("b", "1"), ("a", "2"), ("a", "3"), ("b", "4")],
            duplicate(2, 1, "a"),
        ),
        (
            vec![("a", "1"), ("a", "2"), ("a", "3")],
            duplicate(1, 0, "a"),
        ),
        // An entry's own checks come before the search for its key.
        (
            vec![("z", "1"), ("b", "2"), ("z", long), ("b", "4")],
            RestoreError::OverBound {
                index: 2,
                key: Some("z".into()),
                part: "value",
                bytes: 9,
                max: 8,
            },
        ),
        (
            vec![("a", "1"), ("b", long), ("a", "3")],
            RestoreError::OverBound {
                index: 1,
                key: Some("b".into()),
                part: "value",
                bytes: 9,
                max: 8,
            },
        ),
        // A value its decoder refused, named with the decoder's message.
        (
            vec![("a", "1"), ("b", "!invalid length 3"), ("c", long)],
            RestoreError::BadValue {
                index: 1,
                key: Some("b".into()),
                error: "invalid length 3".into(),
            },
        ),
        (
            vec![("a", "1"), ("a", "2"), ("c", "!bad")],
            duplicate(1, 0, "a"),
        ),
    ] {
        assert_eq!(check_texts(&batch), Err(error), "{batch:?}");
    }
}
