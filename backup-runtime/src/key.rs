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
    /// The key whose text is exactly `text` (a key has one text: accepting
    /// another spelling, `007` for `7`, would let two entries of one batch
    /// land on the same key). By default, [`KeyText::from_key_text`] and
    /// the key's text compared with `text`; a type whose parser reads only
    /// its own texts may say so more cheaply.
    fn from_canonical_text(text: &str) -> Result<Self, String> {
        let key = Self::from_key_text(text)?;
        let canonical = key.to_key_text();
        if canonical != text {
            return Err(format!(
                "expected the key's canonical text `{canonical}`, found `{text}`"
            ));
        }
        Ok(key)
    }
}

impl KeyText for Principal {
    fn to_key_text(&self) -> String {
        principal_text::encode(self.as_slice())
    }

    fn from_key_text(text: &str) -> Result<Self, String> {
        if let Some(principal) = principal_text::decode(text) {
            return Ok(principal);
        }
        // Not the canonical text: candid's parser says why (or accepts
        // another spelling, which `TextKey` then refuses by name).
        Principal::from_text(text)
            .map_err(|error| format!("expected a principal in text form, found `{text}`: {error}"))
    }

    /// Our reader takes exactly the canonical texts; any other goes the
    /// default way, for its message.
    fn from_canonical_text(text: &str) -> Result<Self, String> {
        if let Some(principal) = principal_text::decode(text) {
            return Ok(principal);
        }
        let key = Self::from_key_text(text)?;
        Err(format!(
            "expected the key's canonical text `{}`, found `{text}`",
            key.to_key_text()
        ))
    }
}

/// The text form of a principal (CRC-32 of the bytes, big-endian, then the
/// bytes; base32 in lower case without padding; a `-` after every five
/// characters), written and read in a few hundred instructions: candid's
/// `to_text` costs ~10,000 in a canister, `from_text` twice that, and a
/// text-keyed page or restore batch pays one per entry.
mod principal_text {
    use candid::Principal;

    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

    /// The CRC-32 (IEEE) table, built at compile time.
    static CRC_TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };

    fn crc32(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |crc, &byte| {
            CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
        })
    }

    pub fn encode(bytes: &[u8]) -> String {
        // At most 4 + 29 bytes: 53 characters and 10 dashes.
        let mut text = [0u8; 64];
        let mut len = 0;
        let (mut buffer, mut bits, mut in_group) = (0u32, 0u32, 0);
        let crc = crc32(bytes).to_be_bytes();
        for &byte in crc.iter().chain(bytes) {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                if in_group == 5 {
                    text[len] = b'-';
                    len += 1;
                    in_group = 0;
                }
                text[len] = ALPHABET[((buffer >> bits) & 31) as usize];
                len += 1;
                in_group += 1;
            }
            buffer &= (1 << bits) - 1;
        }
        if bits > 0 {
            if in_group == 5 {
                text[len] = b'-';
                len += 1;
            }
            text[len] = ALPHABET[((buffer << (5 - bits)) & 31) as usize];
            len += 1;
        }
        // Only characters of the alphabet and dashes were written.
        String::from_utf8(text[..len].to_vec()).unwrap_or_default()
    }

    /// Each character's 5 bits, 32 for the dash, 64 for any other.
    static DIGITS: [u8; 256] = {
        let mut table = [64u8; 256];
        let mut n = 0;
        while n < 32 {
            table[ALPHABET[n] as usize] = n as u8;
            n += 1;
        }
        table[b'-' as usize] = 32;
        table
    };

    /// The principal whose canonical text is exactly `text`, if any.
    pub fn decode(text: &str) -> Option<Principal> {
        // At most 4 + 29 bytes: 53 characters and 10 dashes.
        let text = text.as_bytes();
        if text.len() > 63 || text.last() == Some(&b'-') {
            return None;
        }
        let mut data = [0u8; 34];
        let (mut len, mut buffer, mut bits, mut in_group) = (0usize, 0u32, 0u32, 0u32);
        for &char in text {
            let digit = DIGITS[char as usize];
            // Five characters, then the dash, and only there.
            if in_group == 5 {
                if digit != 32 {
                    return None;
                }
                in_group = 0;
                continue;
            }
            if digit >= 32 {
                return None;
            }
            in_group += 1;
            buffer = (buffer << 5) | u32::from(digit);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                data[len] = (buffer >> bits) as u8;
                len += 1;
                buffer &= (1 << bits) - 1;
            }
        }
        // A text ends without bits a shorter text holds, and its leftover
        // bits are zero.
        if bits >= 5 || buffer != 0 || len < 4 {
            return None;
        }
        let (checksum, bytes) = data[..len].split_at(4);
        if checksum != crc32(bytes).to_be_bytes() {
            return None;
        }
        Some(Principal::from_slice(bytes))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn texts() -> Vec<(Vec<u8>, String)> {
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut all = Vec::new();
            for len in 0..=29 {
                for _ in 0..20 {
                    let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    let text = Principal::from_slice(&bytes).to_text();
                    all.push((bytes, text));
                }
            }
            all
        }

        #[test]
        fn the_same_text_as_candid_both_ways() {
            for (bytes, text) in texts() {
                assert_eq!(encode(&bytes), text);
                assert_eq!(decode(&text), Some(Principal::from_slice(&bytes)), "{text}");
            }
        }

        /// What `decode` accepts is exactly the texts candid reads and
        /// writes back unchanged.
        #[test]
        fn only_canonical_texts_are_read() {
            for (_, text) in texts().into_iter().step_by(7) {
                let mut changed = vec![
                    text.to_uppercase(),
                    text.replace('-', ""),
                    format!("{text}-"),
                    format!("{text}a"),
                    format!("-{text}"),
                    String::new(),
                ];
                for at in 0..text.len() {
                    for char in ['a', 'b', '7', '8', '-', 'A', '1'] {
                        let mut mutated = text.clone().into_bytes();
                        mutated[at] = char as u8;
                        changed.push(String::from_utf8(mutated).unwrap());
                    }
                    changed.push(format!("{}{}", &text[..at], &text[at + 1..]));
                }
                for candidate in changed {
                    let candid = Principal::from_text(&candidate)
                        .ok()
                        .filter(|principal| principal.to_text() == candidate);
                    assert_eq!(decode(&candidate), candid, "{candidate}");
                }
            }
        }
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
    if !text.len().is_multiple_of(2) {
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
        K::from_canonical_text(&wire)
    }

    fn describe(wire: &String) -> Option<String> {
        Some(wire.clone())
    }
}

#[cfg(test)]
mod tests;
