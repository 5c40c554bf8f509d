//! Embeds every file of `static/` into the component: generates the asset
//! table (name, content type, bytes, FNV-1a 64 of the bytes) and the version
//! of the whole set, so that a new file needs no code change and a changed
//! file gets a new ETag and a new version in the pages' asset URLs.

use std::fmt::Write as _;
use std::hash::Hasher;
use std::path::Path;

/// Files `static/` may hold; a bigger one is a mistake (the component is
/// loaded for every request).
const ASSET_BYTES_MAX: u64 = 256 * 1024;
/// Files `static/` may hold.
const ASSETS_MAX: usize = 32;

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        // A file without a known type would be served as something the
        // browser guesses at: refuse to build instead.
        _ => panic!("static/{name}: no content type known for this file name"),
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let static_dir = Path::new(&manifest_dir).join("static");
    println!("cargo:rerun-if-changed={}", static_dir.display());

    let mut names: Vec<String> = std::fs::read_dir(&static_dir)
        .expect("static/ is readable")
        .map(|entry| entry.expect("static/ entry is readable"))
        .filter(|entry| entry.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|entry| {
            entry
                .file_name()
                .into_string()
                .expect("static/ file names are UTF-8")
        })
        .collect();
    names.sort();
    assert!(
        names.len() <= ASSETS_MAX,
        "static/ holds more than {ASSETS_MAX} files"
    );

    let mut table = String::from("pub const ASSETS: &[Asset] = &[\n");
    let mut version = fnv::FnvHasher::default();
    for name in &names {
        let path = static_dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).expect("static file is readable");
        assert!(
            bytes.len() as u64 <= ASSET_BYTES_MAX,
            "static/{name} is over {ASSET_BYTES_MAX} bytes"
        );
        let hash = fnv1a64(&bytes);
        version.write_u64(hash);
        writeln!(
            table,
            "    Asset {{ name: {name:?}, content_type: {:?}, bytes: include_bytes!({:?}), hash: {hash:#018x} }},",
            content_type(name),
            path.display().to_string(),
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    writeln!(
        table,
        "pub const VERSION: u64 = {:#018x};",
        version.finish()
    )
    .expect("writing to a String");
    std::fs::write(Path::new(&out_dir).join("assets.rs"), table).expect("OUT_DIR is writable");
}
