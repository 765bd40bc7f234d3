//! Generates include/callpark.h from src/ffi with the pinned cbindgen.
//! The header is committed; `.ci/run` fails when a build changes it.
//!
//! cbindgen does not expand macros, and `cp_result` and `cp_event_action` are made by
//! macros from the one lists in src/lists/. Those lists are read here too, with macros
//! that write each enum as plain Rust for cbindgen to parse beside the crate.

use std::fmt::Write;

macro_rules! cp_results {
    ($($name:ident = $number:literal => $message:expr,)*) => {
        const RESULTS: &[(&str, u32)] = &[$((stringify!($name), $number),)*];
    };
}

macro_rules! event_actions {
    ($($name:ident = $number:literal => $text:literal, $ends:literal,)*) => {
        const ACTIONS: &[(&str, u32)] = &[$((stringify!($name), $number),)*];
    };
}

macro_rules! shared_names {
    ($($name:ident = $value:literal => $doc:literal,)*) => {
        const NAMES: &[(&str, &str, &str)] = &[$((stringify!($name), $value, $doc),)*];
    };
}

include!("src/lists/result_codes.rs");
include!("src/lists/names.rs");
include!("src/lists/event_actions.rs");

/// `#[repr(u32)] pub enum <name> { ... }` with a doc comment.
fn plain_enum(out: &mut String, doc: &str, name: &str, variants: &[(&str, u32)]) {
    let _ = writeln!(out, "/// {doc}\n#[repr(u32)]\npub enum {name} {{");
    for (v, n) in variants {
        let _ = writeln!(out, "    {v} = {n},");
    }
    out.push_str("}\n\n");
}

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=src/lists");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut lists = String::new();
    plain_enum(
        &mut lists,
        "Every result of the C ABI. The numbers never change; new codes get new numbers.",
        "cp_result",
        RESULTS,
    );
    plain_enum(&mut lists, "A lifecycle event, for the `callpark::info` event subclass.", "cp_event_action", ACTIONS);
    let lists_rs = format!("{out_dir}/abi_lists.rs");
    std::fs::write(&lists_rs, lists).expect("write the enums for cbindgen");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml is valid");
    // The shared names as `#define CP_<NAME> "<value>"` (cbindgen exports no string
    // constants).
    let mut names =
        String::from("\n/* The names the library, this module and the switch share (src/lists/names.rs). */\n");
    for (name, value, doc) in NAMES {
        let _ = writeln!(names, "/* {doc} */\n#define CP_{name} \"{value}\"");
    }
    println!("cargo:rerun-if-changed=src/lists/names.rs");
    match cbindgen::Builder::new()
        .with_src(&lists_rs)
        .with_crate(&dir)
        .with_config(config)
        .with_after_include(names)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(format!("{dir}/include/callpark.h"));
        }
        Err(e) => panic!("cbindgen could not generate include/callpark.h: {e}"),
    }
}
