//! FreeSWITCH's event socket, inbound: one connection per node, re-established a second
//! after it is lost, for as long as the board runs. Each connection takes the node's
//! `CUSTOM callpark::info` events and carries out `api` commands; commands go to the first
//! node that is up (every node of a cluster lists and acts on the whole park).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

/// What a node's connection reports to the board.
#[derive(Debug, Clone)]
pub enum Event {
    /// A `CUSTOM callpark::info` event: its headers, decoded.
    Callpark(HashMap<String, String>),
    /// A node's connection came up or went down.
    Link,
}

type Reply = oneshot::Sender<Result<String, String>>;

struct Node {
    addr: String,
    requests: mpsc::Sender<(String, Reply)>,
    up: watch::Receiver<bool>,
}

pub struct Esl {
    nodes: Vec<Node>,
}

/// How long a command may take before the board says the switch did not answer.
const API_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may be quiet before the board asks the switch something.
const LIVENESS: Duration = Duration::from_secs(5);

/// A step of the handshake, within API_TIMEOUT.
async fn within<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(API_TIMEOUT, f).await.map_err(|_| format!("no answer in {} s", API_TIMEOUT.as_secs()))?
}

impl Esl {
    /// Starts one connection task per node; events go to `events`.
    pub fn start(addrs: &[String], password: &str, events: mpsc::UnboundedSender<Event>) -> Esl {
        let nodes = addrs
            .iter()
            .map(|addr| {
                let (tx, rx) = mpsc::channel(64);
                let (up_tx, up_rx) = watch::channel(false);
                tokio::spawn(run_node(addr.clone(), password.to_string(), rx, up_tx, events.clone()));
                Node { addr: addr.clone(), requests: tx, up: up_rx }
            })
            .collect();
        Esl { nodes }
    }

    /// Nodes up, of all.
    pub fn link(&self) -> (usize, usize) {
        (self.nodes.iter().filter(|n| *n.up.borrow()).count(), self.nodes.len())
    }

    /// `api <cmd>` on the first node up: its reply's body.
    pub async fn api(&self, cmd: &str) -> Result<String, String> {
        let i = self.nodes.iter().position(|n| *n.up.borrow()).ok_or("the switch is unreachable")?;
        self.api_on(i, cmd).await
    }

    /// The indexes of the nodes up, in the configured order.
    pub fn up_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| *self.nodes[i].up.borrow()).collect()
    }

    /// `api <cmd>` on node `i`; the whole exchange within API_TIMEOUT, so that a stalled
    /// switch (a full socket buffer, a paused process) never holds the caller.
    pub async fn api_on(&self, i: usize, cmd: &str) -> Result<String, String> {
        let node = self.nodes.get(i).ok_or("no such node")?;
        let ask = async {
            let (tx, rx) = oneshot::channel();
            node.requests.send((cmd.to_string(), tx)).await.map_err(|_| "the switch is unreachable".to_string())?;
            rx.await.map_err(|_| format!("the connection to {} was lost", node.addr))?
        };
        match tokio::time::timeout(API_TIMEOUT, ask).await {
            Ok(r) => r,
            Err(_) => Err(format!("the switch at {} did not answer within {} s", node.addr, API_TIMEOUT.as_secs())),
        }
    }
}

async fn run_node(
    addr: String,
    password: String,
    mut requests: mpsc::Receiver<(String, Reply)>,
    up: watch::Sender<bool>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut said_down = false;
    loop {
        let r = session(&addr, &password, &mut requests, &up, &events).await;
        if *up.borrow() || !said_down {
            match &r {
                Err(e) => crate::log(&format!("event socket {addr}: {e}; trying again every second")),
                Ok(()) => crate::log(&format!("event socket {addr}: closed; trying again every second")),
            }
            said_down = true;
        }
        if up.send_replace(false) {
            let _ = events.send(Event::Link);
        }
        // While down, commands are refused at once rather than left waiting.
        let pause = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                r = requests.recv() => match r {
                    Some((_, reply)) => { let _ = reply.send(Err("the switch is unreachable".into())); }
                    None => return,
                },
            }
        }
    }
}

async fn session(
    addr: &str,
    password: &str,
    requests: &mut mpsc::Receiver<(String, Reply)>,
    up: &watch::Sender<bool>,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(), String> {
    let stream = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
        .await
        .map_err(|_| "no answer in 3 s".to_string())?
        .map_err(|e| e.to_string())?;
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let hello = within(read_message(&mut reader)).await?;
    if hello.get("Content-Type") != Some("auth/request") {
        return Err("not an event socket (no auth/request)".into());
    }
    w.write_all(format!("auth {password}\n\n").as_bytes()).await.map_err(|e| e.to_string())?;
    let reply = within(read_message(&mut reader)).await?;
    if !reply.get("Reply-Text").unwrap_or("").starts_with("+OK") {
        return Err(format!("the password was refused ({})", reply.get("Reply-Text").unwrap_or("no reply")));
    }
    w.write_all(b"event plain CUSTOM callpark::info\n\n").await.map_err(|e| e.to_string())?;
    let reply = within(read_message(&mut reader)).await?;
    if !reply.get("Reply-Text").unwrap_or("").starts_with("+OK") {
        return Err("the event subscription was refused".into());
    }
    crate::log(&format!("event socket {addr}: connected"));
    up.send_replace(true);
    let _ = events.send(Event::Link);

    // The reading half runs on its own, so that a command is never written while a
    // message is half read.
    let (mtx, mut messages) = mpsc::channel(256);
    let read_task = tokio::spawn(async move {
        loop {
            match read_message(&mut reader).await {
                Ok(m) => {
                    if mtx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = mtx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    // Each command waits for its reply in order (the socket answers in order). A reply
    // later than API_TIMEOUT means the switch stalled: the connection is closed and made
    // anew, never left to pair later replies with the wrong commands. A quiet connection
    // is asked something every LIVENESS, so that a switch that stopped answering (paused,
    // a network cut without a reset) shows as down within seconds.
    let mut pending: VecDeque<(Instant, Option<Reply>)> = VecDeque::new();
    let mut last_heard = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let outcome = loop {
        tokio::select! {
            _ = tick.tick() => {
                if pending.front().is_some_and(|(at, _)| at.elapsed() > API_TIMEOUT) {
                    break Err(format!("no answer in {} s", API_TIMEOUT.as_secs()));
                }
                if pending.is_empty() && last_heard.elapsed() > LIVENESS {
                    if let Err(e) = w.write_all(b"api version\n\n").await {
                        break Err(e.to_string());
                    }
                    pending.push_back((Instant::now(), None));
                }
            }
            m = messages.recv() => match m {
                Some(Ok(m)) => { last_heard = Instant::now(); match m.get("Content-Type") {
                    Some("api/response") => {
                        if let Some((_, Some(reply))) = pending.pop_front() {
                            let _ = reply.send(Ok(m.body));
                        }
                    }
                    Some("text/event-plain") => {
                        let headers = parse_headers(&m.body);
                        if headers.get("Event-Subclass").map(String::as_str) == Some("callpark::info") {
                            let _ = events.send(Event::Callpark(headers));
                        }
                    }
                    Some("text/disconnect-notice") => break Ok(()),
                    _ => {}
                }},
                Some(Err(e)) => break Err(e),
                None => break Err("the connection was lost".into()),
            },
            r = requests.recv() => match r {
                Some((cmd, reply)) => {
                    if let Err(e) = w.write_all(format!("api {cmd}\n\n").as_bytes()).await {
                        let _ = reply.send(Err(e.to_string()));
                        break Err(e.to_string());
                    }
                    pending.push_back((Instant::now(), Some(reply)));
                }
                None => break Ok(()),
            },
        }
    };
    read_task.abort();
    for (_, reply) in pending {
        if let Some(reply) = reply {
            let _ = reply.send(Err("the connection to the switch was lost".into()));
        }
    }
    outcome
}

#[derive(Debug, Default)]
pub struct Message {
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Message {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

/// One message: header lines up to a blank line, then `Content-Length` bytes of body.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> Result<Message, String> {
    let mut m = Message::default();
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection was closed".into());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            if m.headers.is_empty() {
                continue;
            }
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            m.headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if let Some(len) = m.get("Content-Length").and_then(|l| l.parse::<usize>().ok()) {
        if len > 16 << 20 {
            return Err(format!("a message of {len} bytes"));
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        m.body = String::from_utf8_lossy(&body).into_owned();
    }
    Ok(m)
}

/// An event's `Key: url-encoded value` lines.
pub fn parse_headers(body: &str) -> HashMap<String, String> {
    body.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), url_decode(v)))
        .collect()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_headers_are_decoded() {
        let h = parse_headers(
            "Event-Name: CUSTOM\nCallpark-Caller-Name: Jane%20Doe%20%26%20Co\nCallpark-Action: parked\n\n",
        );
        assert_eq!(h["Callpark-Caller-Name"], "Jane Doe & Co");
        assert_eq!(h["Callpark-Action"], "parked");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%4"), "%4");
        assert_eq!(url_decode("+1555%C3%A9"), "+1555é");
        assert_eq!(url_decode("é%zz"), "é%zz");
    }

    #[tokio::test]
    async fn messages_with_and_without_bodies() {
        let wire = b"Content-Type: auth/request\n\nContent-Type: api/response\nContent-Length: 5\n\n+OK\n\n".to_vec();
        let mut r = BufReader::new(&wire[..]);
        assert_eq!(read_message(&mut r).await.unwrap().get("content-type"), Some("auth/request"));
        let m = read_message(&mut r).await.unwrap();
        assert_eq!(m.body, "+OK\n\n");
        assert!(read_message(&mut r).await.is_err());
    }
}
