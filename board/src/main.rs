//! callpark-board: a receptionist's park board in the browser, a JSON API and webhooks,
//! beside FreeSWITCH, over its event socket.
//!
//!   callpark-board [--config FILE]    runs (default /etc/freeswitch/callpark-board.conf)
//!   callpark-board --check FILE       checks a configuration file and exits

mod auth;
mod config;
mod esl;
mod park;
mod web;
mod webhooks;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

/// A line of the board's log, on standard output: the time (UTC) and what happened.
pub fn log(what: &str) {
    println!("{} {what}", now_iso());
}

pub fn now_iso() -> String {
    iso_time(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

/// `2026-12-07T21:50:01Z` of seconds since 1970 (civil-from-days, proleptic Gregorian).
pub fn iso_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn usage() -> ! {
    eprintln!("usage: callpark-board [--config FILE] | --check FILE");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, check) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => ("/etc/freeswitch/callpark-board.conf".to_string(), false),
        ["--config", p] => (p.to_string(), false),
        ["--check", p] => (p.to_string(), true),
        _ => usage(),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("callpark-board: cannot read {path}: {e}");
        std::process::exit(1)
    });
    let cfg = config::Config::parse(&text).unwrap_or_else(|e| {
        eprintln!("callpark-board: {path}:\n{e}");
        std::process::exit(1)
    });
    if check {
        println!(
            "{path}: OK (listen {}, event sockets {}, {} webhooks)",
            cfg.listen,
            cfg.esl.join(", "),
            cfg.webhooks.len()
        );
        return;
    }
    // Webhooks' TLS: ring, the provider callpark's Redis TLS already uses (one crypto
    // library in the project; ring has no post-quantum key exchange, hence the warning).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    rt.block_on(run(cfg));
}

async fn run(cfg: config::Config) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let board = park::Board::start(esl::Esl::start(&cfg.esl, &cfg.esl_password, events_tx));
    let hooks = webhooks::Webhooks::start(&cfg);
    // Events to webhooks and pages: the one reader of every node's events.
    let b = board.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                esl::Event::Callpark(h) => {
                    hooks.push(&h);
                    // The module writes only a checked tenant; checked again, as
                    // everything that goes into a command.
                    if let Some(t) = h.get("Callpark-Tenant").filter(|t| config::is_domain(t)) {
                        b.refresh(t);
                    }
                }
                esl::Event::Link => b.link_changed(),
            }
        }
    });
    let listen = cfg.listen;
    let app =
        Arc::new(web::App { board, sessions: auth::Sessions::new(cfg.session), throttle: Default::default(), cfg });
    let listener = tokio::net::TcpListener::bind(listen).await.unwrap_or_else(|e| {
        eprintln!("callpark-board: cannot listen on {listen}: {e}");
        std::process::exit(1)
    });
    log(&format!("listening on http://{listen}"));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
        tokio::select! { _ = shutdown => {}, _ = term.recv() => {} }
    };
    // Open live streams never end by themselves: a stop ends the process, not a drain.
    tokio::select! {
        r = axum::serve(listener, web::router(app)) => if let Err(e) = r {
            eprintln!("callpark-board: {e}");
            std::process::exit(1);
        },
        _ = shutdown => log("stopping"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_times() {
        assert_eq!(super::iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::iso_time(1_796_680_201), "2026-12-07T21:50:01Z");
    }
}
