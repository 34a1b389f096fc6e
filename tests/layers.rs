//! The code's layers, checked: every `use crate::X`, `crate::X::` and `super::` in `src/`, read
//! per top-level module, must run down the code's layers (the README's module map; each module
//! placed in [`LAYERS`] below) and never round in a circle.
//!
//! Layers, highest first; a module may import its own layer and any layer below it:
//!
//! | layer | what it is |
//! |---|---|
//! | Entry | wiring: `main.rs` (the binary) and `lib.rs` (the module list) |
//! | Orchestrator | `step/`: the phases in order, no rule of its own |
//! | Sides | Azure and Octopus over HTTP, the proofs' reads, retries: data or typed failures |
//! | Words | sentences, service messages, the decision record: they render an outcome |
//! | Inputs | raw arguments, validated settings, secrets and tokens |
//! | Rules | pure decisions and the plain data they take and give, the failure types |
//!
//! Sides sit above Words because a client may log (through [`output`](vmss_check::output)'s
//! `Reporter`) and word a failure with `report/`; words never reach back into a client. Inputs
//! sit under both: settings are read, never spoken or fetched. The simulator (`sim/`,
//! `demo.rs`) stands outside: it may import anything, and nothing but `main.rs` imports it.
//!
//! What counts: a folder module is one module (`reconcile/**` is `reconcile`); doc comments
//! and test code (files under a `tests/` folder, `tests.rs` files and `#[cfg(test)] mod`
//! blocks) are left out, since they build no arrow into the binary. The check reads every
//! `.rs` file under `src/`, compiled in or not. Arrows being removed are listed, each with its
//! reason, in [`KNOWN_LEAKS`]; an entry that no longer matches an arrow fails the test too, so
//! the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A layer; the order is the rank (a module may import its own rank and those below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Rules,
    Inputs,
    Words,
    Sides,
    Orchestrator,
    Entry,
    /// Outside the ranks: imports anything, imported by the entry only.
    Sim,
}

use Layer::*;

/// Every top-level module of `src/`, its layer and what it does there. A new module must be
/// placed here.
#[rustfmt::skip]
const LAYERS: &[(&str, Layer, &str)] = &[
    // Entry: wiring only.
    ("main",         Entry,        "the binary: the command line, then the step or the demo"),
    ("lib",          Entry,        "the module list"),
    // Orchestrator: the phases, in order.
    ("step",         Orchestrator, "the phases in order, no rule of its own"),
    // Sides: the reads and writes over HTTP, and what carries them.
    ("absence",      Sides,        "the proof of absence's reads (standby pools, groups)"),
    ("azure",        Sides,        "the Azure client"),
    ("context",      Sides,        "the run's reads from Octopus (queue time, runs, events)"),
    ("http",         Sides,        "the one HTTP client builder, transport errors classified"),
    ("octopus",      Sides,        "the Octopus client"),
    ("replacements", Sides,        "the instance view's reads behind Azure's own replacements"),
    ("retry",        Sides,        "bounded retries of single calls within the step's time"),
    // Words: what people and later steps read.
    ("artifacts",    Words,        "the decision record's files, attached to the task"),
    ("output",       Words,        "service messages and the log's one writer"),
    ("record",       Words,        "the decision record (JSON, and its HTML page)"),
    ("report",       Words,        "every sentence, and the output variables"),
    // Inputs: what the step is given.
    ("cli",          Inputs,       "raw arguments (ripgrep's low args) that settings validate"),
    ("redacted",     Inputs,       "secrets that cannot leak by accident"),
    ("settings",     Inputs,       "validated inputs, errors naming the Octopus parameter"),
    ("signin",       Inputs,       "an API key or an access token, told apart by form"),
    ("token",        Inputs,       "the federated token file and a JWT's expiry"),
    // Rules: pure decisions and their data.
    ("error",        Rules,        "the failure types (Azure's too) and their exit codes"),
    ("outcome",      Rules,        "what the step saw and decided, as data"),
    ("paging",       Rules,        "the one paging rule for every listing"),
    ("permissions",  Rules,        "whether a permission set grants what the run needs"),
    ("reconcile",    Rules,        "the plan: each target decided once; scope, names, proofs"),
    ("runs",         Rules,        "this run and the one before: duplicates, new targets, times"),
    ("target_tags",  Rules,        "tag values in two tag sets"),
    ("text",         Rules,        "text from outside made printable"),
    ("wait",         Rules,        "the wait policy: settled or not, the pacing"),
    // Sim: the simulated cloud and the demo.
    ("demo",         Sim,          "the demo against the simulator"),
    ("sim",          Sim,          "the simulated Azure AD, Resource Manager and Octopus"),
];

/// Arrows that run up a layer today and are being removed: `(from, to, why)`. Each must still
/// exist (the test says when one is gone, so it is deleted here); empty this list, do not grow
/// it.
const KNOWN_LEAKS: &[(&str, &str, &str)] = &[];

/// May a module of layer `from` import one of layer `to`?
fn allowed(from: Layer, to: Layer) -> bool {
    match (from, to) {
        (Sim, _) => true,
        (Entry, _) => true,
        (_, Sim | Entry) => false,
        _ => to <= from,
    }
}

/// One arrow: the module imported, where (`file:line`, from `src/`).
type Arrows = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's path under `src/` as module names: `report/mod.rs` is `[report]`,
/// `report/runs.rs` is `[report, runs]`, `lib.rs` is `[lib]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Test-only files: under a `tests/` folder, or a `tests.rs`.
fn is_test_file(rel: &Path) -> bool {
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
    parts[..parts.len() - 1].iter().any(|p| p == "tests")
        || parts.last().is_some_and(|p| p == "tests.rs")
}

/// The file's code, with comment lines and `#[cfg(test)] mod ... { }` blocks blanked (lines
/// kept, so positions still give line numbers).
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
        if line == "#[cfg(test)]" && next.starts_with("mod ") {
            if next.ends_with(';') {
                // `mod tests;`: the file itself is a test file.
                out.extend(["", ""]);
                i += 2;
                continue;
            }
            // Skip to the brace that closes the module.
            out.push("");
            i += 1;
            let mut depth = 0i64;
            let mut opened = false;
            while i < lines.len() {
                for c in lines[i].chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                out.push("");
                i += 1;
                if opened && depth <= 0 {
                    break;
                }
            }
            continue;
        }
        out.push(if line.starts_with("//") { "" } else { lines[i] });
        i += 1;
    }
    out.join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first names of a `{a, b::c, d::{e, f}}` group starting at `s` (just after the `{`).
fn group_heads(s: &str) -> Vec<(usize, &str)> {
    let mut heads = Vec::new();
    let mut depth = 1;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let ends_item = match c {
            '{' => {
                depth += 1;
                false
            }
            '}' => {
                depth -= 1;
                depth == 0
            }
            ',' => depth == 1,
            _ => false,
        };
        if ends_item {
            let item = &s[start..i];
            let lead = item.len() - item.trim_start().len();
            heads.push((start + lead, ident_at(item.trim_start())));
            start = i + 1;
        }
        if depth == 0 {
            break;
        }
    }
    heads
}

/// The top-level modules a piece of code names after `prefix` (`crate::`, `vmss_check::`), with
/// their byte offsets.
fn named_after<'a>(code: &'a str, prefix: &str) -> Vec<(usize, &'a str)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let base = at + prefix.len() + 1;
            found.extend(group_heads(group).into_iter().map(|(i, n)| (base + i, n)));
        } else {
            found.push((at, ident_at(rest)));
        }
    }
    found
}

/// Every arrow between top-level modules, with where each is written.
fn arrows() -> Arrows {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(&root).unwrap())[0].clone())
        .collect();
    let mut arrows = Arrows::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let path = module_path(rel);
        let from = path[0].clone();
        arrows.entry(from.clone()).or_default();
        if is_test_file(rel) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).expect("a source file is readable"));
        let mut named = named_after(&code, "crate::");
        if from == "main" {
            named.extend(named_after(&code, "vmss_check::"));
        }
        // `super::` leaves the top-level module only from a folder's `mod.rs` (or past it).
        for (at, _) in code.match_indices("super::") {
            if code[..at].ends_with("super::") {
                continue;
            }
            let mut rest = &code[at..];
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            if up >= path.len() {
                named.push((at, ident_at(rest)));
            }
        }
        for (at, to) in named {
            if to == from || !modules.contains(to) {
                continue;
            }
            let line = code[..at].matches('\n').count() + 1;
            arrows
                .entry(from.clone())
                .or_default()
                .entry(to.to_string())
                .or_default()
                .push(format!("src/{}:{line}", rel.display()));
        }
    }
    arrows
}

fn layer_of(module: &str) -> Option<Layer> {
    LAYERS
        .iter()
        .find(|(m, _, _)| *m == module)
        .map(|(_, l, _)| *l)
}

#[test]
fn every_module_has_a_layer() {
    let arrows = arrows();
    let unplaced: Vec<&String> = arrows.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules of src/ with no layer in tests/layers.rs's LAYERS \
         (place each by what it does): {unplaced:?}"
    );
    let gone: Vec<&str> = LAYERS
        .iter()
        .map(|(m, _, _)| *m)
        .filter(|m| !arrows.contains_key(*m))
        .collect();
    assert!(
        gone.is_empty(),
        "LAYERS names modules src/ no longer has: {gone:?}"
    );
}

#[test]
fn no_arrow_runs_up_a_layer() {
    let arrows = arrows();
    let mut up = Vec::new();
    let mut leaks_seen = BTreeSet::new();
    for (from, tos) in &arrows {
        let Some(from_layer) = layer_of(from) else {
            continue;
        };
        for (to, wheres) in tos {
            let Some(to_layer) = layer_of(to) else {
                continue;
            };
            if allowed(from_layer, to_layer) {
                continue;
            }
            if KNOWN_LEAKS.iter().any(|(f, t, _)| f == from && t == to) {
                leaks_seen.insert((from.as_str(), to.as_str()));
                continue;
            }
            up.push(format!(
                "{from} ({from_layer:?}) -> {to} ({to_layer:?}) at {}",
                wheres.join(", ")
            ));
        }
    }
    assert!(
        up.is_empty(),
        "arrows that run up a layer (see the table in tests/layers.rs):\n  {}",
        up.join("\n  ")
    );
    let stale: Vec<String> = KNOWN_LEAKS
        .iter()
        .filter(|(f, t, _)| !leaks_seen.contains(&(*f, *t)))
        .map(|(f, t, _)| format!("{f} -> {t}"))
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN_LEAKS in tests/layers.rs lists arrows that are gone; delete them: {stale:?}"
    );
}

/// Every circle between modules, each as its path with where each arrow is written.
fn circles(arrows: &Arrows) -> Vec<String> {
    // Depth-first, keeping the path: an arrow back into the path closes a circle.
    fn visit<'a>(
        at: &'a str,
        arrows: &'a Arrows,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(at) {
            return;
        }
        if let Some(start) = path.iter().position(|m| *m == at) {
            let mut circle: Vec<&str> = path[start..].to_vec();
            circle.push(at);
            let steps: Vec<String> = circle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], arrows[w[0]][w[1]][0]))
                .collect();
            circles.push(steps.join(", "));
            return;
        }
        path.push(at);
        if let Some(tos) = arrows.get(at) {
            for to in tos.keys() {
                visit(to, arrows, path, done, circles);
            }
        }
        path.pop();
        done.insert(at);
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for module in arrows.keys() {
        visit(module, arrows, &mut Vec::new(), &mut done, &mut circles);
    }
    circles
}

#[test]
fn no_import_circles() {
    let circles = circles(&arrows());
    assert!(
        circles.is_empty(),
        "import circles between top-level modules:\n  {}",
        circles.join("\n  ")
    );
}

#[test]
fn a_circle_is_reported_with_its_path() {
    let mut arrows = Arrows::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        arrows
            .entry(from.into())
            .or_default()
            .insert(to.into(), vec![format!("src/{from}.rs:1")]);
    }
    assert_eq!(
        circles(&arrows),
        ["a -> b (src/a.rs:1), b -> c (src/b.rs:1), c -> a (src/c.rs:1)"]
    );
    arrows.get_mut("c").unwrap().remove("a");
    assert!(circles(&arrows).is_empty());
}

/// The reader itself: groups, `super::` out of a folder, test blocks and comments.
#[test]
fn the_reader_finds_arrows_the_way_rust_resolves_them() {
    let code = code_of(concat!(
        "//! [`crate::doc_only`]\n",
        "use crate::{a, b::c, d::{e, f}};\n",
        "use crate::g::h;\n",
        "fn x() { crate::i::j(); }\n",
        "#[cfg(test)]\n",
        "mod tests {\n",
        "    use crate::k;\n",
        "    fn y() { if true { crate::l::m(); } }\n",
        "}\n",
        "use crate::n;\n",
    ));
    let names: Vec<&str> = named_after(&code, "crate::")
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["a", "b", "d", "g", "i", "n"]);
    let line = |name: &str| {
        named_after(&code, "crate::")
            .into_iter()
            .find(|(_, n)| *n == name)
            .map(|(at, _)| code[..at].matches('\n').count() + 1)
    };
    assert_eq!(line("n"), Some(10));
    assert_eq!(line("d"), Some(2));
    assert_eq!(module_path(Path::new("report/mod.rs")), ["report"]);
    assert_eq!(module_path(Path::new("report/runs.rs")), ["report", "runs"]);
    assert!(is_test_file(Path::new("reconcile/tests/plan.rs")));
    assert!(is_test_file(Path::new("azure/tests.rs")));
    assert!(!is_test_file(Path::new("settings/values.rs")));
    assert!(allowed(Sides, Words) && !allowed(Words, Sides) && !allowed(Rules, Inputs));
    assert!(!allowed(Sides, Sim) && allowed(Sim, Sides) && allowed(Entry, Sim));
}
