//! `callpark check <file>`: validates a callpark.conf.xml and prints every error with
//! its place, so that an admin can check before `reloadxml` / `callpark reload`.

use std::process::ExitCode;

const USAGE: &str = "usage: callpark check <callpark.conf.xml>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, file] if cmd == "check" => check(file),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn check(file: &str) -> ExitCode {
    let text = match std::fs::read(file) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: not UTF-8 at byte {}", e.utf8_error().valid_up_to());
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match callpark::config::from_xml(file, &text) {
        Ok(c) => {
            let tenants = c.tenants().count();
            println!(
                "{file}: OK ({tenants} tenant{}, {} group{})",
                plural(tenants),
                c.group_count(),
                plural(c.group_count())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{file}: {} error{}; the configuration would be refused", e.errors.len(), plural(e.errors.len()));
            ExitCode::FAILURE
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
