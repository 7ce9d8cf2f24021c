//! The library's layering, checked from its source: every `crate::` path in `src/` (the CLI
//! in `src/bin/` excluded) names a module of the same layer or of a layer below, and no two
//! modules need each other, directly or through others. `lib.rs` documents the layers; this is
//! the command that proves them: `cargo test --test integration architecture::`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the bottom up, by the first segment of a module path. A module may use
/// its own layer and the layers before it.
const LAYERS: &[&[&str]] = &[
    &["error", "input", "platform"],
    &["domain"],
    &["pki", "qlik"],
    &["secrets"],
    &["store"],
    &["ops"],
];

fn layer_of(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top))
        .unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS and lib.rs"))
}

/// Every library source file with its module path (`src/pki/inspect/cert.rs` is
/// `pki::inspect::cert`; `mod.rs` and `lib.rs` name their folder).
fn library_modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let relative = file
                .strip_prefix(&src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            (!parts.is_empty()).then(|| (parts.join("::"), file))
        })
        .collect()
}

/// The source without comments (line comments and doc comments), so prose naming a path does
/// not count as a use.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths after each `crate::`, with `use crate::{a::b, c::{d, e}}` groups expanded.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        expand("", rest, &mut paths);
    }
    paths.retain(|p| !p.is_empty());
    paths
}

/// Adds the path at the start of `text` (after `prefix`) to `out`, expanding a `{…}` group.
fn expand(prefix: &str, text: &str, out: &mut Vec<String>) {
    let head = path_prefix(text);
    let joined = match (prefix.is_empty(), head.is_empty()) {
        (true, _) => head.clone(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}::{head}"),
    };
    let after = &text[head.len()..];
    let Some(group) = after
        .strip_prefix("::{")
        .or_else(|| after.strip_prefix('{'))
    else {
        out.push(joined);
        return;
    };
    let mut depth = 0;
    let mut start = 0;
    for (j, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                expand(&joined, group[start..j].trim_start(), out);
                return;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&joined, group[start..j].trim_start(), out);
                start = j + 1;
            }
            _ => {}
        }
    }
}

/// The leading `a::b::c` of a path (identifiers joined by `::`).
fn path_prefix(text: &str) -> String {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        segments.push(&rest[..len]);
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    segments.join("::")
}

/// The module a path leads into: its longest prefix that is a module.
fn module_of<'m>(path: &str, modules: &'m BTreeMap<String, PathBuf>) -> Option<&'m str> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len()).rev().find_map(|n| {
        modules
            .get_key_value(&segments[..n].join("::"))
            .map(|(k, _)| k.as_str())
    })
}

/// Which modules each module uses. A module using its own ancestors (`store::index` using
/// `store`'s helpers) is the ancestor's namespace, not a dependency, and is left out.
fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = library_modules();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).expect("read source"));
        let used: BTreeSet<String> = crate_paths(&code)
            .iter()
            .filter_map(|p| module_of(p, &modules))
            .filter(|target| target != module && !module.starts_with(&format!("{target}::")))
            .map(str::to_owned)
            .collect();
        graph.insert(module.clone(), used);
    }
    graph
}

/// A cycle through `start`, if any (depth-first search over the graph).
fn cycle_through(start: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        start: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(next, start, graph, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    visit(start, start, graph, &mut path, &mut seen).then(|| {
        path.push(start.to_owned());
        path
    })
}

#[test]
fn every_module_uses_only_its_own_layer_and_the_layers_below() {
    let graph = dependency_graph();
    let violations: Vec<String> = graph
        .iter()
        .flat_map(|(module, used)| {
            used.iter()
                .filter(|target| layer_of(target) > layer_of(module))
                .map(move |target| format!("{module} uses {target}"))
        })
        .collect();
    assert!(
        violations.is_empty(),
        "layering broken (see LAYERS here and lib.rs):\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_two_modules_need_each_other() {
    let graph = dependency_graph();
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|module| cycle_through(module, &graph))
        .map(|cycle| cycle.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_inline_paths() {
    let code = code_of(
        "use crate::{domain::name::X, pki::{key, certificate::Y}};\n\
         let a = crate::store::file_stamp(now); // crate::ops::issue in a comment\n",
    );
    assert_eq!(
        crate_paths(&code),
        [
            "domain::name::X",
            "pki::key",
            "pki::certificate::Y",
            "store::file_stamp"
        ]
    );
    let modules = library_modules();
    assert_eq!(module_of("domain::name::X", &modules), Some("domain::name"));
    assert_eq!(module_of("store::file_stamp", &modules), Some("store"));
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        cycle_through("a", &graph),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
}
