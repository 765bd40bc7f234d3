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

/// Starts `redis-server` on `port` with `args` besides the usual (nothing on disk), and
/// waits until the port takes connections (`answers_plain`: and answers a plain PING).
pub fn start_with(port: u16, args: &str, answers_plain: bool) -> Server {
    run_checked(port, format!("--save '' --appendonly no {args}"), answers_plain)
}

fn run(port: u16, data: String) -> Server {
    run_checked(port, data, true)
}

fn run_checked(port: u16, data: String, plain: bool) -> Server {
    spawn(port, format!("redis-server --port {port} --bind 127.0.0.1 {data} --loglevel warning"), plain)
}

/// Runs `command` (a server that will listen on `port`) until this process ends.
fn spawn(port: u16, command: String, plain: bool) -> Server {
    // A line on stdin stops it: empty, with SIGTERM; `KILL`, at once, as in a crash.
    let script = format!("{command} & p=$!; read how; kill -${{how:-TERM}} $p; wait $p 2>/dev/null");
    let child =
        Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("run sh");
    let t = Instant::now();
    let up = |port: u16| if plain { answers(port) } else { TcpStream::connect(("127.0.0.1", port)).is_ok() };
    while !up(port) {
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
        self.end(b"\n")
    }

    /// Kills the server (`SIGKILL`), as a crash of its host would.
    pub fn kill(&self) {
        self.end(b"KILL\n")
    }

    fn end(&self, how: &[u8]) {
        let mut c = self.child.lock().unwrap();
        if let Some(mut stdin) = c.stdin.take() {
            let _ = stdin.write_all(how);
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

/// The IP address node `node` of the tests says it is at (a name is no node address):
/// a 127.0.0.11, b 127.0.0.12, c 127.0.0.13, any other 127.0.0.99.
pub fn node_host(node: &str) -> &'static str {
    match node {
        "a" => "127.0.0.11",
        "b" => "127.0.0.12",
        "c" => "127.0.0.13",
        _ => "127.0.0.99",
    }
}

/// The `node-grace` of the tests' stores: the tests wait no longer for a node taken for dead.
pub const GRACE_MS: u64 = 3000;

/// A store of node `node` on `server` under `prefix`, taken for dead by the others
/// [`GRACE_MS`] after its last heartbeat.
pub fn store(server: &Server, prefix: &str, node: &str) -> RedisStore {
    store_with_grace(server, prefix, node, GRACE_MS)
}

/// A store of node `node` on `server` under `prefix`, with a `node-grace` of `grace_ms`.
pub fn store_with_grace(server: &Server, prefix: &str, node: &str, grace_ms: u64) -> RedisStore {
    RedisStore::new(RedisTarget {
        url: server.url(),
        node: node.into(),
        address: format!("{}:5060", node_host(node)),
        prefix: prefix.into(),
        grace_ms,
        ..RedisTarget::default()
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

impl Server {
    /// The `redis-server` process's id (the shell's child listening on this port).
    fn pid(&self) -> u32 {
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(format!("redis-server 127.0.0.1:{}", self.port))
            .output()
            .expect("run pgrep");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().next().and_then(|l| l.trim().parse().ok()).expect("the redis-server of this port runs")
    }

    /// Freezes the server (`SIGSTOP`): connections are accepted by the kernel, nothing is
    /// answered, as on a host that hangs.
    pub fn freeze(&self) {
        let ok = Command::new("kill").arg("-STOP").arg(self.pid().to_string()).status().expect("kill -STOP");
        assert!(ok.success(), "kill -STOP redis-server");
    }

    /// Lets a frozen server go on (`SIGCONT`).
    pub fn thaw(&self) {
        let ok = Command::new("kill").arg("-CONT").arg(self.pid().to_string()).status().expect("kill -CONT");
        assert!(ok.success(), "kill -CONT redis-server");
    }

    /// How many commands Redis ran since it started, INFO (this count's own) left out.
    pub fn all_calls(&self) -> u64 {
        self.commandstats().into_iter().filter(|(c, _)| c != "info").map(|(_, n)| n).sum()
    }

    /// Each command Redis ran since it started, with how many times.
    fn commandstats(&self) -> Vec<(String, u64)> {
        use std::io::{BufRead, BufReader, Read};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis-server");
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        s.write_all(b"INFO commandstats\r\n").expect("write INFO");
        let mut r = BufReader::new(s);
        let mut head = String::new();
        r.read_line(&mut head).expect("INFO's length");
        let len: usize = head.trim().trim_start_matches('$').parse().expect("a bulk reply");
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("INFO's text");
        String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(":calls=")?;
                Some((name.to_string(), rest.split(',').next()?.parse().ok()?))
            })
            .collect()
    }

    /// How many times Redis ran `command` (lower case: `evalsha`, `set`...) since it started.
    pub fn calls(&self, command: &str) -> u64 {
        self.commandstats().into_iter().find(|(c, _)| c == command).map_or(0, |(_, n)| n)
    }
}

/// The hand-over token a node last took under `prefix` (there is one at a time in the
/// bench that asks).
pub fn last_token(server: &Server, prefix: &str) -> String {
    let mut con = redis::Client::open(server.url()).and_then(|c| c.get_connection()).expect("connect to redis-server");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}token|*")).query(&mut con).expect("KEYS of the tokens");
    let key = keys.into_iter().next().expect("a token");
    key.rsplit('|').next().unwrap_or_default().to_string()
}

/// Syncs `engine` until its store reaches Redis again (it tries every 250 ms after a
/// failure), for at most 5 s.
pub fn until_reachable(engine: &callpark::Engine) {
    let t = Instant::now();
    loop {
        engine.sync();
        if engine.store_status().reachable {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "Redis is back but the node does not reach it");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(ok.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
}

/// In `dir`, with `openssl`: a CA (`ca.pem`), a server certificate for 127.0.0.1
/// (`server.pem`, `server.key`) and a client certificate (`client.pem`, `client.key`),
/// signed by it.
pub fn certificates(dir: &std::path::Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=callpark test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for (name, cn) in [("server", "127.0.0.1"), ("client", "fs-a")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

/// The master's name the Sentinels of [`start_failover`] know.
pub const MASTER: &str = "callpark";

/// A Redis primary, a replica of it and three Sentinels (quorum 2) watching them, on
/// loopback ports: the Sentinels take the primary for down 1 s after it stops
/// answering. Everything stops when this process ends.
pub struct Failover {
    pub primary: Server,
    pub replica: Server,
    pub sentinels: Vec<Server>,
    pub secure: Secure,
}

/// How the servers of a [`Failover`] ask who is calling.
#[derive(Clone, Default)]
pub struct Secure {
    /// TLS everywhere, with the certificates of [`certificates`] in this folder.
    pub tls: Option<std::path::PathBuf>,
    /// Redis's `requirepass` (and the replica's and Sentinels' `masterauth`).
    pub password: Option<String>,
    /// The Sentinels' own `requirepass`.
    pub sentinel_password: Option<String>,
}

pub fn start_failover() -> Failover {
    start_failover_with(Secure::default())
}

pub fn start_failover_with(secure: Secure) -> Failover {
    let dir = std::env::temp_dir().join(format!("callpark-sentinel-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("a folder for the servers' files");
    let tls_args = |port: u16| match &secure.tls {
        None => String::new(),
        Some(d) => {
            let d = d.display();
            format!(
                "--port 0 --tls-port {port} --tls-cert-file {d}/server.pem --tls-key-file {d}/server.key \
                 --tls-ca-cert-file {d}/ca.pem --tls-auth-clients no --tls-replication yes"
            )
        }
    };
    let auth = match &secure.password {
        None => String::new(),
        Some(pw) => format!("--requirepass {pw} --masterauth {pw}"),
    };
    let plain = secure.tls.is_none() && secure.password.is_none();
    // The replica's copy of the primary is a file in `--dir` (not the working directory).
    let p = free_port();
    let primary = start_with(p, &format!("--dir '{}' {} {auth}", dir.display(), tls_args(p)), plain);
    let r = free_port();
    let replica = start_with(
        r,
        &format!("--dir '{}' --replicaof 127.0.0.1 {} {} {auth}", dir.display(), primary.port, tls_args(r)),
        plain,
    );
    let sentinels = (0..3)
        .map(|i| {
            let port = free_port();
            let mut conf = match &secure.tls {
                None => format!("port {port}\n"),
                Some(d) => format!(
                    "port 0\ntls-port {port}\ntls-cert-file {0}/server.pem\ntls-key-file {0}/server.key\n\
                     tls-ca-cert-file {0}/ca.pem\ntls-auth-clients no\ntls-replication yes\n",
                    d.display()
                ),
            };
            conf += &format!(
                "bind 127.0.0.1\ndir {}\nsentinel monitor {MASTER} 127.0.0.1 {} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 4000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir.display(),
                primary.port
            );
            if let Some(pw) = &secure.password {
                conf += &format!("sentinel auth-pass {MASTER} {pw}\n");
            }
            if let Some(pw) = &secure.sentinel_password {
                conf += &format!("requirepass {pw}\n");
            }
            // A Sentinel rewrites its file: one each.
            let file = dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(&file, conf).expect("a Sentinel's file");
            spawn(port, format!("redis-sentinel '{}' --loglevel warning", file.display()), false)
        })
        .collect();
    let f = Failover { primary, replica, sentinels, secure };
    // Every Sentinel knows the replica (they learn it from the primary) before a test
    // relies on a failover.
    let t = Instant::now();
    while !f.sentinels.iter().all(|s| f.sentinel_sees_replica(s)) {
        assert!(t.elapsed() < Duration::from_secs(20), "the Sentinels did not find the replica within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    f
}

impl Failover {
    /// The store URL naming the three Sentinels.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        let scheme = if self.secure.tls.is_some() { "rediss+sentinel" } else { "redis+sentinel" };
        let auth = self.secure.password.as_ref().map_or(String::new(), |pw| format!(":{pw}@"));
        format!("{scheme}://{auth}{}/{MASTER}/0", hosts.join(","))
    }

    /// A connection to the server on `port`: a Sentinel (with its password), or Redis.
    pub fn connect(&self, port: u16, sentinel: bool) -> redis::RedisResult<redis::Connection> {
        let scheme = if self.secure.tls.is_some() { "rediss" } else { "redis" };
        let pw = if sentinel { &self.secure.sentinel_password } else { &self.secure.password };
        let auth = pw.as_ref().map_or(String::new(), |pw| format!(":{pw}@"));
        let url = format!("{scheme}://{auth}127.0.0.1:{port}/0");
        let client = match &self.secure.tls {
            None => redis::Client::open(url)?,
            Some(d) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(d.join("ca.pem"))?) },
            )?,
        };
        client.get_connection_with_timeout(Duration::from_secs(2))
    }

    fn sentinel_sees_replica(&self, s: &Server) -> bool {
        let Ok(mut con) = self.connect(s.port, true) else { return false };
        let replicas: redis::RedisResult<Vec<std::collections::HashMap<String, String>>> =
            redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER).query(&mut con);
        replicas.is_ok_and(|r| r.iter().any(|m| m.get("port") == Some(&self.replica.port.to_string())))
    }

    /// The master's port as the first Sentinel that answers says.
    pub fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let mut con = self.connect(s.port, true).ok()?;
            let (_, port): (String, u16) =
                redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(MASTER).query(&mut con).ok()?;
            Some(port)
        })
    }

    /// Waits until the replica has every write the primary took.
    pub fn replicated(&self) {
        let mut con = self.connect(self.primary.port, false).expect("the primary");
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).expect("WAIT");
        assert_eq!(acked, 1, "the replica took the primary's writes");
    }
}
