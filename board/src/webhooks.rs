//! Webhooks: every park event POSTed as JSON to each configured URL (of its tenant, or of
//! all), signed, in order, retried with doubling pauses. Each URL has its own queue and
//! worker: a slow or dead receiver delays only itself, never the event socket or the
//! switch; a queue that fills up (10,000 events) drops its oldest with a log line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::config::{Config, Webhook};

const QUEUE: usize = 10_000;
/// The longest pause between two attempts of a delivery.
const MAX_PAUSE: Duration = Duration::from_secs(300);

struct Queue {
    hook: Webhook,
    items: Mutex<std::collections::VecDeque<Delivery>>,
    ready: Notify,
}

#[derive(Clone)]
struct Delivery {
    id: String,
    event: String,
    body: String,
}

pub struct Webhooks {
    queues: Vec<std::sync::Arc<Queue>>,
    next: AtomicU64,
    run: u64,
}

impl Webhooks {
    pub fn start(cfg: &Config) -> Webhooks {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let queues = cfg
            .webhooks
            .iter()
            .map(|hook| {
                let q = std::sync::Arc::new(Queue {
                    hook: hook.clone(),
                    items: Mutex::new(Default::default()),
                    ready: Notify::new(),
                });
                tokio::spawn(worker(q.clone(), client.clone(), cfg.webhook_secret.clone(), cfg.webhook_attempts));
                q
            })
            .collect();
        // Delivery ids: this run's random tag and a count, unique across restarts.
        let mut tag = [0u8; 4];
        let _ = getrandom::getrandom(&mut tag);
        let run = u32::from_be_bytes(tag) as u64;
        Webhooks { queues, next: AtomicU64::new(1), run }
    }

    /// Queues a `callpark::info` event for every URL of its tenant; never waits.
    pub fn push(&self, h: &HashMap<String, String>) {
        if self.queues.is_empty() {
            return;
        }
        let d = |k: &str| h.get(k).cloned().unwrap_or_default();
        let tenant = d("Callpark-Tenant");
        let event = d("Callpark-Action");
        let id = format!("{:08x}-{}", self.run, self.next.fetch_add(1, Ordering::Relaxed));
        let time = h
            .get("Event-Date-Timestamp")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|us| crate::iso_time(us / 1_000_000))
            .unwrap_or_else(crate::now_iso);
        let attempt: u64 = d("Callpark-Recall-Attempt").parse().unwrap_or(0);
        let body = json!({
            "id": id,
            "event": event,
            "time": time,
            "tenant": tenant,
            "extension": d("Callpark-Extension"),
            "group": d("Callpark-Group"),
            "uuid": d("Callpark-UUID"),
            "other_uuid": d("Callpark-Other-UUID"),
            "parking_user": d("Callpark-Parking-User"),
            "caller_number": d("Callpark-Caller-Number"),
            "caller_name": d("Callpark-Caller-Name"),
            "recall_attempt": attempt,
            "detail": d("Callpark-Detail"),
        })
        .to_string();
        let delivery = Delivery { id, event, body };
        for q in &self.queues {
            if q.hook.tenant.as_deref().is_some_and(|t| t != tenant) {
                continue;
            }
            let mut items = q.items.lock().unwrap();
            if items.len() >= QUEUE {
                if let Some(old) = items.pop_front() {
                    crate::log(&format!("webhook {}: queue full, dropped delivery {}", q.hook.url, old.id));
                }
            }
            items.push_back(delivery.clone());
            drop(items);
            q.ready.notify_one();
        }
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` with the shared secret: what
/// `X-Callpark-Signature` carries (the receiver recomputes it and compares).
pub fn sign(secret: &str, timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn worker(q: std::sync::Arc<Queue>, client: reqwest::Client, secret: String, attempts: u32) {
    loop {
        let next = q.items.lock().unwrap().pop_front();
        let Some(d) = next else {
            q.ready.notified().await;
            continue;
        };
        let mut pause = Duration::from_secs(1);
        for attempt in 1..=attempts {
            let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let r = client
                .post(&q.hook.url)
                .header("Content-Type", "application/json")
                .header("X-Callpark-Event", &d.event)
                .header("X-Callpark-Delivery", &d.id)
                .header("X-Callpark-Timestamp", ts.to_string())
                .header("X-Callpark-Signature", sign(&secret, ts, &d.body))
                .body(d.body.clone())
                .send()
                .await;
            let why = match r {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => e.to_string(),
            };
            if attempt == attempts {
                crate::log(&format!(
                    "webhook {}: gave up delivery {} ({}) after {attempts} attempts: {why}",
                    q.hook.url, d.id, d.event
                ));
            } else {
                crate::log(&format!(
                    "webhook {}: delivery {} attempt {attempt}: {why}; again in {} s",
                    q.hook.url,
                    d.id,
                    pause.as_secs()
                ));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_and_body() {
        // The expected value computed apart, by Python's hmac module:
        // hmac.new(b"Jefe", b"0.what do ya want for nothing?", hashlib.sha256).hexdigest()
        assert_eq!(
            sign("Jefe", 0, "what do ya want for nothing?"),
            "sha256=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(sign("Jefe", 1, "what do ya want for nothing?"), sign("Jefe", 0, "what do ya want for nothing?"));
    }
}
