//! The CA index (`index.json`), which a damaged disk or a hand edit can change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::store::Index;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Index::parse(data, std::path::Path::new("index.json")) {
        // What parses serializes again and parses to the same thing.
        let json = index.to_json().expect("serializes");
        let again = Index::parse(&json, std::path::Path::new("index.json")).expect("re-parses");
        assert_eq!(index, again);
        let _ = index.current_entries();
        let _ = index.root();
    }
});
