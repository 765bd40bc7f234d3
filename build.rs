//! Generates include/callpark.h from src/ffi with the pinned cbindgen.
//! The header is committed; `.ci/run` fails when a build changes it.

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml is valid");
    match cbindgen::Builder::new().with_crate(&dir).with_config(config).generate() {
        Ok(bindings) => {
            bindings.write_to_file(format!("{dir}/include/callpark.h"));
        }
        Err(e) => panic!("cbindgen could not generate include/callpark.h: {e}"),
    }
}
