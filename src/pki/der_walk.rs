//! Walking DER structures element by element, for containers (PKCS#7 bundles, request
//! attributes, key files) whose parts are read one by one so that one bad part never hides
//! the others. Lenient as openssl is: a length in a longer form than needed is accepted;
//! indefinite lengths (BER) are not, but [`ber_to_der`] rewrites BER (what NSS's pk12util
//! writes) as DER first.

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

/// The deepest nesting [`ber_to_der`] follows (real files nest about ten levels).
const MAX_DEPTH: usize = 64;

/// Rewrites one BER element as DER: definite lengths, constructed OCTET STRINGs joined, and the
/// constructed `[0] IMPLICIT OCTET STRING` of a CMS EncryptedContentInfo (`SEQUENCE { OID,
/// AlgorithmIdentifier, [0] }`) joined too. The contents of OCTET STRINGs are left as they are
/// (a MAC covers them byte for byte). `None` when the bytes are not one BER element.
pub fn ber_to_der(bytes: &[u8]) -> Option<Vec<u8>> {
    let (der, used) = element_to_der(bytes, 0)?;
    (used == bytes.len()).then_some(der)
}

/// One element at the start of `bytes`: its DER, and how many bytes of BER it took.
fn element_to_der(bytes: &[u8], depth: usize) -> Option<(Vec<u8>, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let first = *bytes.first()?;
    let mut pos = 1;
    if first & 0x1F == 0x1F {
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
    let tag = &bytes[..pos];
    let len_byte = *bytes.get(pos)?;
    pos += 1;
    let constructed = first & 0x20 != 0;
    let indefinite = len_byte == 0x80;
    let (content_end, total) = if indefinite {
        if !constructed {
            return None;
        }
        (None, 0)
    } else {
        let len = if len_byte & 0x80 == 0 {
            usize::from(len_byte)
        } else {
            let count = usize::from(len_byte & 0x7F);
            if count > 4 {
                return None;
            }
            let mut len = 0usize;
            for _ in 0..count {
                len = (len << 8) | usize::from(*bytes.get(pos)?);
                pos += 1;
            }
            len
        };
        let end = pos.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        (Some(end), end)
    };
    if !constructed {
        let end = content_end?;
        return Some((encode(tag, &bytes[pos..end]), total));
    }
    let mut children = Vec::new();
    loop {
        match content_end {
            Some(end) if pos >= end => break,
            None if bytes.get(pos..pos + 2)? == [0, 0] => {
                pos += 2;
                break;
            }
            _ => {}
        }
        let limit = content_end.unwrap_or(bytes.len());
        let (child, used) = element_to_der(&bytes[pos..limit], depth + 1)?;
        children.push(child);
        pos += used;
    }
    let total = if indefinite { pos } else { total };
    // A constructed OCTET STRING: its primitive pieces joined.
    if first == 0x24 {
        return Some((encode(&[0x04], &join_octets(&children)?), total));
    }
    // EncryptedContentInfo: the constructed [0] IMPLICIT OCTET STRING joined.
    if first == 0x30
        && children.len() == 3
        && children[0].first() == Some(&0x06)
        && children[1].first() == Some(&0x30)
        && children[2].first() == Some(&0xA0)
        && let Some(parts) = children_of_der(&children[2])
        && !parts.is_empty()
        && parts.iter().all(|p| p.first() == Some(&0x04))
        && let Some(joined) = join_octets(&parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>())
    {
        children[2] = encode(&[0x80], &joined);
    }
    Some((encode(tag, &children.concat()), total))
}

fn children_of_der(der: &[u8]) -> Option<Vec<&[u8]>> {
    children(der)
}

/// The contents of DER OCTET STRINGs, joined.
fn join_octets(parts: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for part in parts {
        if part.first() != Some(&0x04) {
            return None;
        }
        let e = element(part)?;
        out.extend_from_slice(&e.whole[e.header_len..]);
    }
    Some(out)
}

/// A DER element with this tag and content.
fn encode(tag: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The first element inside a constructed DER element (e.g. the value of a `[0] EXPLICIT`).
pub(crate) fn first_child(tlv: &[u8]) -> Option<&[u8]> {
    children(tlv)?.first().copied()
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
        assert_eq!(
            parts,
            vec![&[0x02, 0x01, 0x01][..], &[0xA0, 0x02, 0x05, 0x00][..]]
        );
        assert!(
            children(&[0x30, 0x80, 0x00, 0x00]).is_none(),
            "indefinite length"
        );
        assert!(children(&[0x30, 0x05, 0x02]).is_none(), "truncated");
        assert!(!is_one_element(&[0x02, 0x01, 0x01, 0x00]), "trailing byte");
    }

    #[test]
    fn ber_with_indefinite_lengths_and_pieces_becomes_der() {
        // SEQUENCE (indefinite) { OCTET STRING constructed (indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x00,
            0x00,
        ];
        assert_eq!(
            ber_to_der(&ber),
            Some(vec![0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c'])
        );
        // An EncryptedContentInfo's [0] IMPLICIT OCTET STRING in pieces is joined.
        let eci = [
            0x30, 0x80, 0x06, 0x01, 0x2A, 0x30, 0x00, 0xA0, 0x80, 0x04, 0x01, 0x01, 0x04, 0x01,
            0x02, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(
            ber_to_der(&eci),
            Some(vec![
                0x30, 0x09, 0x06, 0x01, 0x2A, 0x30, 0x00, 0x80, 0x02, 0x01, 0x02
            ])
        );
        assert_eq!(ber_to_der(&[0x30, 0x80, 0x02]), None, "truncated");
        assert_eq!(
            ber_to_der(&[0x04, 0x80, 0x00, 0x00]),
            None,
            "indefinite primitive"
        );
    }
}
