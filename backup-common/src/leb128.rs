//! Unsigned LEB128, the variable-length integers of both Candid (lengths and
//! counts) and wasm (section sizes, indices).

/// Appends `value` as unsigned LEB128.
pub fn push(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_and_large_values() {
        for (value, bytes) in [
            (0u64, vec![0]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (624_485, vec![0xe5, 0x8e, 0x26]),
        ] {
            let mut out = Vec::new();
            super::push(&mut out, value);
            assert_eq!(out, bytes, "{value}");
        }
        let mut out = Vec::new();
        super::push(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
    }
}
