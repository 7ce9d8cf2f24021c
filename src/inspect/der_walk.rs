//! Walking DER structures element by element, for containers (PKCS#7 bundles, request
//! attributes) whose parts are read one by one so that one bad part never hides the others.

use der::{Decode, Reader, SliceReader};

/// The elements (whole TLVs) inside one constructed DER element; `None` when `tlv` is not
/// one definite-length constructed element.
pub fn children(tlv: &[u8]) -> Option<Vec<&[u8]>> {
    let mut outer = SliceReader::new(tlv).ok()?;
    let header = der::Header::decode(&mut outer).ok()?;
    if !header.tag().is_constructed() {
        return None;
    }
    let content = outer.read_slice(header.length()).ok()?;
    let mut inner = SliceReader::new(content).ok()?;
    let mut out = Vec::new();
    while !inner.is_finished() {
        out.push(inner.tlv_bytes().ok()?);
    }
    Some(out)
}


/// True when the bytes are exactly one DER element (nothing before or after it).
pub fn is_one_element(bytes: &[u8]) -> bool {
    SliceReader::new(bytes)
        .ok()
        .and_then(|mut r| r.tlv_bytes().ok().map(|tlv| tlv.len() == bytes.len()))
        .unwrap_or(false)
}
