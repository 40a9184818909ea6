use super::*;

#[test]
fn principal_round_trips_and_rejects_garbage() {
    let p = Principal::from_slice(&[1, 2, 3]);
    assert_eq!(Principal::from_key_text(&p.to_key_text()), Ok(p));
    let error = Principal::from_key_text("not a principal").unwrap_err();
    assert!(error.contains("expected a principal"), "{error}");
    assert!(error.contains("not a principal"), "{error}");
}

#[test]
fn unsigned_integers_are_strict_decimal() {
    assert_eq!(u64::from_key_text("18446744073709551615"), Ok(u64::MAX));
    assert!(u64::from_key_text("18446744073709551616").is_err());
    assert!(u8::from_key_text("-1").is_err());
    assert!(u32::from_key_text("+1").is_err());
    assert!(u32::from_key_text(" 1").is_err());
    assert!(u32::from_key_text("").is_err());
    assert_eq!(u128::from_key_text(&u128::MAX.to_key_text()), Ok(u128::MAX));
}

#[test]
fn signed_integers_and_byte_keys_round_trip_and_are_strict() {
    for n in [i64::MIN, -1, 0, 7, i64::MAX] {
        assert_eq!(
            <TextKey as KeyCodec<i64>>::from_wire(n.to_key_text()),
            Ok(n)
        );
    }
    for text in ["+7", "-0", "007", "-007", " 7", ""] {
        assert!(
            <TextKey as KeyCodec<i32>>::from_wire(text.into()).is_err(),
            "{text}"
        );
    }
    let id = [0u8, 1, 0xab, 0xff];
    assert_eq!(id.to_key_text(), "0001abff");
    assert_eq!(
        <TextKey as KeyCodec<[u8; 4]>>::from_wire("0001abff".into()),
        Ok(id)
    );
    for text in ["0001ABFF", "0001abf", "0001abff00", "zz01abff"] {
        let error = <TextKey as KeyCodec<[u8; 4]>>::from_wire(text.into()).unwrap_err();
        assert!(
            error.contains(text) || error.contains("canonical"),
            "{text}: {error}"
        );
    }
    let blob = vec![0xde, 0xad];
    assert_eq!(
        <TextKey as KeyCodec<Vec<u8>>>::from_wire("dead".into()),
        Ok(blob)
    );
    assert_eq!(
        <TextKey as KeyCodec<Vec<u8>>>::from_wire(String::new()),
        Ok(Vec::new())
    );
    assert!(<TextKey as KeyCodec<Vec<u8>>>::from_wire("DEAD".into()).is_err());
}

#[test]
fn only_the_canonical_text_of_a_key_is_accepted() {
    assert_eq!(<TextKey as KeyCodec<u64>>::from_wire("7".into()), Ok(7));
    let error = <TextKey as KeyCodec<u64>>::from_wire("007".into()).unwrap_err();
    assert!(
        error.contains("canonical text `7`") && error.contains("`007`"),
        "{error}"
    );
    let p = Principal::from_slice(&[1, 2, 3]);
    let upper = p.to_text().to_uppercase();
    assert!(<TextKey as KeyCodec<Principal>>::from_wire(upper).is_err());
    assert_eq!(
        <TextKey as KeyCodec<Principal>>::from_wire(p.to_text()),
        Ok(p)
    );
}
