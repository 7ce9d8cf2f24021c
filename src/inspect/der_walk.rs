//! Walking DER structures element by element, for containers (PKCS#7 bundles, request
//! attributes, key files) whose parts are read one by one so that one bad part never hides
//! the others. Lenient as openssl is: a length in a longer form than needed is accepted;
//! indefinite lengths (BER) are not.

/// One element: its whole encoding and where its contents start.
struct Element<'a> {
    whole: &'a [u8],
    header_len: usize,
    constructed: bool,
}

/// Reads the element at the start of `bytes`.
fn element(bytes: &[u8]) -> Option<Element<'_>> {
    let first = *bytes.first()?;
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        // High tag number: base-128 digits, the last without the top bit.
        loop {
            let b = *bytes.get(pos)?;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos > 6 {
                return None;
            }
        }
    }
    let len_byte = *bytes.get(pos)?;
    pos += 1;
    let len = if len_byte & 0x80 == 0 {
        usize::from(len_byte)
    } else {
        let count = usize::from(len_byte & 0x7F);
        if count == 0 || count > 4 {
            return None; // indefinite (BER) or absurd
        }
        let mut len = 0usize;
        for _ in 0..count {
            len = (len << 8) | usize::from(*bytes.get(pos)?);
            pos += 1;
        }
        len
    };
    let end = pos.checked_add(len)?;
    Some(Element {
        whole: bytes.get(..end)?,
        header_len: pos,
        constructed: first & 0x20 != 0,
    })
}

/// The elements (whole TLVs) inside one constructed element; `None` when `tlv` does not
/// start with a constructed element or its contents are not a sequence of elements.
pub fn children(tlv: &[u8]) -> Option<Vec<&[u8]>> {
    let outer = element(tlv)?;
    if !outer.constructed {
        return None;
    }
    let mut content = &outer.whole[outer.header_len..];
    let mut out = Vec::new();
    while !content.is_empty() {
        let inner = element(content)?;
        out.push(inner.whole);
        content = &content[inner.whole.len()..];
    }
    Some(out)
}

/// True when the bytes are exactly one element (nothing before or after it).
pub fn is_one_element(bytes: &[u8]) -> bool {
    element(bytes).is_some_and(|e| e.whole.len() == bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_split_and_long_form_lengths_accepted() {
        // SEQUENCE (long-form length 0x81 0x06) { INTEGER 1, [0] { NULL } }
        let bytes = [0x30, 0x81, 0x07, 0x02, 0x01, 0x01, 0xA0, 0x02, 0x05, 0x00];
        assert!(is_one_element(&bytes));
        let parts = children(&bytes).expect("children");
        assert_eq!(parts, vec![&[0x02, 0x01, 0x01][..], &[0xA0, 0x02, 0x05, 0x00][..]]);
        assert!(children(&[0x30, 0x80, 0x00, 0x00]).is_none(), "indefinite length");
        assert!(children(&[0x30, 0x05, 0x02]).is_none(), "truncated");
        assert!(!is_one_element(&[0x02, 0x01, 0x01, 0x00]), "trailing byte");
    }
}
