//! The layering rules `ARCHITECTURE.md` states, checked on the source tree: the HTTP layer
//! imports nothing from the store, the use cases nothing from the router (HTTP, the
//! console, the application's state), and no domain crate depends on another except
//! through the shared vocabulary, `baomi-types`.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files under `dir` whose code (comments aside) names any of `paths`.
fn naming(dir: &str, paths: &[&str]) -> Vec<String> {
    let files = rust_files(&root().join(dir));
    assert!(files.len() > 10, "{dir} was not found");
    files
        .iter()
        .filter(|path| {
            std::fs::read_to_string(path).unwrap().lines().any(|line| {
                let code = line.trim_start();
                !code.starts_with("//") && paths.iter().any(|p| code.contains(p))
            })
        })
        .map(|path| path.display().to_string())
        .collect()
}

#[test]
fn the_http_layer_imports_nothing_from_the_store() {
    let offenders = naming("src/http", &["crate::store"]);
    assert!(
        offenders.is_empty(),
        "HTTP handlers see domain types and services only; these name the store: {offenders:?}"
    );
}

#[test]
fn the_use_cases_import_nothing_from_the_router() {
    let offenders = naming(
        "src/service",
        &["crate::app", "crate::http", "crate::console"],
    );
    assert!(
        offenders.is_empty(),
        "use cases take service::Services, not the router's state: {offenders:?}"
    );
}

#[test]
fn domain_crates_depend_on_no_other_but_the_vocabulary() {
    for krate in ["types", "vault", "masking", "consent", "audit"] {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        let manifest: toml::Table = manifest.parse().unwrap();
        let dependencies = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .unwrap_or_else(|| panic!("{krate}/Cargo.toml has no [dependencies]"));
        let ours: Vec<&String> = dependencies
            .keys()
            .filter(|name| name.starts_with("baomi-") && name.as_str() != "baomi-types")
            .collect();
        assert!(
            ours.is_empty(),
            "{krate} depends on {ours:?}; share through baomi-types instead"
        );
    }
}
