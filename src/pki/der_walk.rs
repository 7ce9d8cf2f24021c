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

/// The length octets of an element.
enum Length {
    /// A definite length (short or long form, up to four length octets).
    Definite(usize),
    /// The BER indefinite length (`0x80`): the contents end with two zero octets.
    Indefinite,
}

/// The identifier and length octets at the start of an element.
struct Header {
    /// How many octets the tag takes (one, or more for a high tag number).
    tag_len: usize,
    /// How many octets tag and length take together: where the contents start.
    header_len: usize,
    /// The length.
    length: Length,
    /// Whether the element is constructed.
    constructed: bool,
}

/// Reads the tag and length at the start of `bytes`; `None` when they are cut short, the tag
/// number takes more than five octets or the length more than four.
fn header(bytes: &[u8]) -> Option<Header> {
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
    let tag_len = pos;
    let len_byte = *bytes.get(pos)?;
    pos += 1;
    let length = if len_byte == 0x80 {
        Length::Indefinite
    } else if len_byte & 0x80 == 0 {
        Length::Definite(usize::from(len_byte))
    } else {
        let count = usize::from(len_byte & 0x7F);
        if count > 4 {
            return None; // absurd
        }
        let mut len = 0usize;
        for _ in 0..count {
            len = (len << 8) | usize::from(*bytes.get(pos)?);
            pos += 1;
        }
        Length::Definite(len)
    };
    Some(Header {
        tag_len,
        header_len: pos,
        length,
        constructed: first & 0x20 != 0,
    })
}

/// Reads the element at the start of `bytes` (DER lengths only: an indefinite one is `None`).
fn element(bytes: &[u8]) -> Option<Element<'_>> {
    let header = header(bytes)?;
    let Length::Definite(len) = header.length else {
        return None; // indefinite (BER)
    };
    let end = header.header_len.checked_add(len)?;
    Some(Element {
        whole: bytes.get(..end)?,
        header_len: header.header_len,
        constructed: header.constructed,
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
    let header = header(bytes)?;
    let tag = &bytes[..header.tag_len];
    let content_end = match header.length {
        Length::Indefinite if !header.constructed => return None,
        Length::Indefinite => None,
        Length::Definite(len) => {
            let end = header.header_len.checked_add(len)?;
            if end > bytes.len() {
                return None;
            }
            Some(end)
        }
    };
    if !header.constructed {
        let end = content_end?;
        return Some((encode(tag, &bytes[header.header_len..end]), end));
    }
    let (items, total) = constructed_children(bytes, header.header_len, content_end, depth)?;
    Some((constructed_to_der(tag, items)?, total))
}

/// The children of a constructed BER element, each rewritten as DER, and how many bytes of BER
/// the whole element took: up to `content_end`, or up to its end-of-contents octets when its
/// length is indefinite (`content_end` is `None`). The contents start at `pos`.
fn constructed_children(
    bytes: &[u8],
    mut pos: usize,
    content_end: Option<usize>,
    depth: usize,
) -> Option<(Vec<Vec<u8>>, usize)> {
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
    Some((children, content_end.unwrap_or(pos)))
}

/// A constructed element with this tag and these DER children: a constructed OCTET STRING
/// becomes one primitive OCTET STRING of its pieces joined, and the constructed `[0] IMPLICIT
/// OCTET STRING` of a CMS EncryptedContentInfo is joined the same way. `None` when a piece
/// of a constructed OCTET STRING is not an OCTET STRING.
fn constructed_to_der(tag: &[u8], mut items: Vec<Vec<u8>>) -> Option<Vec<u8>> {
    // A constructed OCTET STRING: its primitive pieces joined.
    if tag == [0x24] {
        return Some(encode(&[0x04], &join_octets(&items)?));
    }
    // EncryptedContentInfo: the constructed [0] IMPLICIT OCTET STRING joined.
    if tag == [0x30]
        && items.len() == 3
        && items[0].first() == Some(&0x06)
        && items[1].first() == Some(&0x30)
        && items[2].first() == Some(&0xA0)
        && let Some(parts) = children(&items[2])
        && !parts.is_empty()
        && parts.iter().all(|p| p.first() == Some(&0x04))
        && let Some(joined) = join_octets(&parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>())
    {
        items[2] = encode(&[0x80], &joined);
    }
    Some(encode(tag, &items.concat()))
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
