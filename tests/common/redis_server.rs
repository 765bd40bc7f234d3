//! A `redis-server` for the tests, started once per test process on a free loopback
//! port and stopped when the process ends (it waits on a pipe the process holds).
//! Each store the tests make gets its own key prefix, so tests running at once never
//! see each other's calls.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use callpark::store::{RedisStore, RedisTarget};

pub struct Server {
    pub port: u16,
    /// The shell that runs the server; killing its stdin's writer (the process ending)
    /// stops it.
    child: Mutex<Child>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// Starts `redis-server` on `port`, keeping nothing on disk; it stops when this process
/// ends.
pub fn start(port: u16) -> Server {
    run(port, "--save '' --appendonly no".into())
}

/// Starts `redis-server` on `port` with its data in `dir` (every write on disk before
/// it is answered): a restart finds the park as it was.
pub fn start_persistent(port: u16, dir: &std::path::Path) -> Server {
    run(port, format!("--save '' --appendonly yes --appendfsync always --dir '{}'", dir.display()))
}

fn run(port: u16, data: String) -> Server {
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 {data} --loglevel warning & p=$!; \
         read _; kill $p; wait $p"
    );
    let child =
        Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("run sh");
    let t = Instant::now();
    while !answers(port) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "redis-server did not listen on 127.0.0.1:{port} within 10 s; is it installed? \
             (scripts/deps.sh test installs Debian's redis-server)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { port, child: Mutex::new(child) }
}

/// Whether the server on `port` answers PING (not only listens: it may be loading).
fn answers(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 64];
    s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

impl Server {
    /// Stops the server (its data is lost, as on a restart without persistence).
    pub fn stop(&self) {
        let mut c = self.child.lock().unwrap();
        if let Some(mut stdin) = c.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = c.wait();
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The server shared by the tests of this process.
pub fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start(free_port()))
}

/// A key prefix no other store of this process uses.
pub fn fresh_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("test{}-{}:", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A store of node `node` on `server` under `prefix`.
pub fn store(server: &Server, prefix: &str, node: &str) -> RedisStore {
    RedisStore::new(RedisTarget {
        url: server.url(),
        node: node.into(),
        address: format!("{node}.test:5060"),
        prefix: prefix.into(),
    })
    .expect("a Redis store")
}

/// Which store `Rig::new` puts behind its engine: `CALLPARK_TEST_STORE=redis` runs the
/// core's scenario tests against the Redis store (`make test` runs them both ways).
pub fn wanted() -> bool {
    match std::env::var("CALLPARK_TEST_STORE").as_deref() {
        Ok("redis") => true,
        Ok("memory") | Err(_) => false,
        Ok(other) => panic!("CALLPARK_TEST_STORE={other}: memory or redis"),
    }
}
