//! How map keys travel through the backup endpoints.

use candid::Principal;

/// A key that travels as text (`#[backup(key = text)]`), as the Factland
/// article sends principals.
///
/// Implemented for [`Principal`] (its text form), [`String`], the integers
/// (decimal, `-` for negatives) and byte keys, `[u8; N]` and `Vec<u8>`
/// (lower-case hex). Implement it for your own key type to use `key = text`
/// with it: `to_key_text` gives the one text of a key, `from_key_text`
/// parses it and says what it expected when it cannot.
/// A key has exactly one text: the endpoints refuse any text that is not
/// what `to_key_text` writes for the key it parses to (`007` for `7`), so
/// two texts can never name one key.
///
/// ```
/// use backup_runtime::KeyText;
///
/// #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
/// struct Sku(u32);
///
/// impl KeyText for Sku {
///     fn to_key_text(&self) -> String {
///         format!("SKU-{}", self.0)
///     }
///     fn from_key_text(text: &str) -> Result<Self, String> {
///         text.strip_prefix("SKU-")
///             .and_then(|n| n.parse().ok())
///             .map(Sku)
///             .ok_or_else(|| format!("expected `SKU-<number>`, found `{text}`"))
///     }
/// }
///
/// assert_eq!(Sku::from_key_text("SKU-7"), Ok(Sku(7)));
/// assert!(Sku::from_key_text("7").is_err());
/// ```
pub trait KeyText: Sized {
    /// The key as text.
    fn to_key_text(&self) -> String;
    /// Parses text made by [`KeyText::to_key_text`]; the error says what was
    /// expected and what was found.
    fn from_key_text(text: &str) -> Result<Self, String>;
}

impl KeyText for Principal {
    fn to_key_text(&self) -> String {
        self.to_text()
    }

    fn from_key_text(text: &str) -> Result<Self, String> {
        Principal::from_text(text)
            .map_err(|error| format!("expected a principal in text form, found `{text}`: {error}"))
    }
}

impl KeyText for String {
    fn to_key_text(&self) -> String {
        self.clone()
    }

    fn from_key_text(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

macro_rules! integer_key_text {
    ($sign:literal: $($ty:ty),*) => {$(
        impl KeyText for $ty {
            fn to_key_text(&self) -> String {
                self.to_string()
            }

            fn from_key_text(text: &str) -> Result<Self, String> {
                // `parse` accepts a leading `+` (and `-0`), which `to_key_text`
                // never writes; the canonical check of `TextKey` refuses
                // every other spelling too.
                if text.starts_with('+') {
                    return Err(format!(
                        "expected a decimal {} ({}), found `{text}`",
                        stringify!($ty),
                        $sign
                    ));
                }
                text.parse().map_err(|error| {
                    format!("expected a decimal {}, found `{text}`: {error}", stringify!($ty))
                })
            }
        }
    )*};
}

integer_key_text!("without sign": u8, u16, u32, u64, u128, usize);
integer_key_text!("`-` for negatives, no `+`": i8, i16, i32, i64, i128, isize);

/// Lower-case hex, two digits a byte: the text of byte keys.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

fn from_hex(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if text.len() % 2 != 0 {
        return Err(format!(
            "expected {what} in lower-case hex (two digits a byte), found {} digits in `{text}`",
            text.len()
        ));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| format!("expected {what} in lower-case hex, found `{text}`"))
}

/// Fixed-size byte keys (hashes, ids) as lower-case hex.
impl<const N: usize> KeyText for [u8; N] {
    fn to_key_text(&self) -> String {
        to_hex(self)
    }

    fn from_key_text(text: &str) -> Result<Self, String> {
        let bytes = from_hex(text, &format!("{N} bytes"))?;
        <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
            format!(
                "expected {N} bytes ({} hex digits), found {} in `{text}`",
                2 * N,
                bytes.len() * 2
            )
        })
    }
}

/// Byte-string (blob) keys as lower-case hex.
impl KeyText for Vec<u8> {
    fn to_key_text(&self) -> String {
        to_hex(self)
    }

    fn from_key_text(text: &str) -> Result<Self, String> {
        from_hex(text, "a byte string")
    }
}

/// Converts a map key to the form it has in the Candid interface and back.
///
/// Chosen by the derive: [`CandidKey`] by default, [`TextKey`] under
/// `key = text`.
pub trait KeyCodec<K> {
    /// The key's type in the endpoints. Its Candid bounds are required
    /// where it travels (pages, `BackupMap::Wire`), so that a key type that
    /// is not Candid is reported once, there.
    type Wire;
    /// The key as it goes out in a backup.
    fn to_wire(key: &K) -> Self::Wire;
    /// The key as it comes in to a restore or a cursor; the error says what
    /// was expected and what was found.
    fn from_wire(wire: Self::Wire) -> Result<K, String>;
    /// The key as text for an error message, when it has a text form.
    fn describe(_wire: &Self::Wire) -> Option<String> {
        None
    }
}

/// Keys travel as their own Candid type.
pub struct CandidKey;

impl<K: Clone> KeyCodec<K> for CandidKey {
    type Wire = K;

    fn to_wire(key: &K) -> K {
        key.clone()
    }

    fn from_wire(wire: K) -> Result<K, String> {
        Ok(wire)
    }
}

/// Keys travel as text, through [`KeyText`].
pub struct TextKey;

impl<K: KeyText> KeyCodec<K> for TextKey {
    type Wire = String;

    fn to_wire(key: &K) -> String {
        key.to_key_text()
    }

    fn from_wire(wire: String) -> Result<K, String> {
        let key = K::from_key_text(&wire)?;
        // A key has exactly one text: accepting another spelling (`007` for
        // `7`) would let two entries of one batch land on the same key.
        let canonical = key.to_key_text();
        if canonical != wire {
            return Err(format!(
                "expected the key's canonical text `{canonical}`, found `{wire}`"
            ));
        }
        Ok(key)
    }

    fn describe(wire: &String) -> Option<String> {
        Some(wire.clone())
    }
}

#[cfg(test)]
mod tests {
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
}
