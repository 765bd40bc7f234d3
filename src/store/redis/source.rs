//! Where a store's connections go, from its configuration: one Redis server or the
//! master its Sentinels name, the password files, TLS.

use redis::IntoConnectionInfo;

use super::link::Source;
use crate::config::{parse_store_url, RedisTarget};

/// Where `target`'s connections go: Redis at its URL, or the master its Sentinels name;
/// with the password of `password_file` if one is named, over TLS with the CA and this
/// node's certificate named (`rediss://`). Why not, in words that show no password.
pub(super) fn source_for(target: &RedisTarget) -> Result<Source, String> {
    let shown = target.shown_url();
    let url = parse_store_url(&target.url)?;
    let read_password = |path: &str, what: &str| -> Result<Option<String>, String> {
        if path.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{what} {path}: {e}"))?;
        let password = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
        if password.is_empty() {
            return Err(format!("{what} {path} is empty"));
        }
        Ok(Some(password))
    };
    let password = read_password(&target.password_file, "store-password-file")?.or(url.password.clone());
    let sentinel_password = read_password(&target.sentinel_password_file, "store-sentinel-password-file")?;
    // rustls finds its crypto provider by its features: ring, and only ring, is compiled
    // in (Cargo.toml), else the first TLS connection would panic.
    let read = |what: &str, path: &str| std::fs::read(path).map_err(|e| format!("{what} {path}: {e}"));
    let certificates = || -> Result<redis::TlsCertificates, String> {
        let root_cert = if target.tls_ca.is_empty() { None } else { Some(read("store-tls-ca", &target.tls_ca)?) };
        let client_tls = if target.tls_cert.is_empty() {
            None
        } else {
            Some(redis::ClientTlsConfig {
                client_cert: read("store-tls-cert", &target.tls_cert)?,
                client_key: read("store-tls-key", &target.tls_key)?,
            })
        };
        Ok(redis::TlsCertificates { client_tls, root_cert })
    };
    // Redis's address, or a Sentinel's: over TLS with `rediss`.
    let addr_of = |(host, port): &(String, u16)| {
        if url.tls {
            redis::ConnectionAddr::TcpTls { host: host.clone(), port: *port, insecure: false, tls_params: None }
        } else {
            redis::ConnectionAddr::Tcp(host.clone(), *port)
        }
    };
    let Some(master) = &url.master else {
        let addr = addr_of(&url.hosts[0]);
        let mut settings = redis::RedisConnectionInfo::default().set_db(url.db);
        if let Some(u) = &url.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = password {
            settings = settings.set_password(p);
        }
        let info = addr.into_connection_info().map_err(|e| format!("store {shown}: {:?}", e.kind()))?;
        let info = info.set_redis_settings(settings);
        let client = if url.tls {
            redis::Client::build_with_tls(info, certificates()?).map_err(|e| format!("store {shown}: TLS: {e}"))?
        } else {
            redis::Client::open(info).map_err(|e| format!("store {shown}: {:?}", e.kind()))?
        };
        return Ok(Source::Direct(Box::new(client)));
    };
    use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
    let addrs: Vec<_> = url.hosts.iter().map(addr_of).collect();
    let mut b = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
        .map_err(|e| format!("store {shown}: {e}"))?
        .set_client_to_redis_db(url.db);
    if let Some(u) = &url.username {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = password {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(p) = sentinel_password {
        b = b.set_client_to_sentinel_password(p);
    }
    if url.tls {
        let (to_redis, to_sentinels) = (certificates()?, certificates()?);
        b = b
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_redis_certificates(to_redis)
            .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure)
            .set_client_to_sentinel_certificates(to_sentinels);
    }
    let client = b.build().map_err(|e| format!("store {shown}: {e}"))?;
    Ok(Source::sentinel(client))
}
