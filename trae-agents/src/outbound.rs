//! The one outbound HTTP client: every call trae makes to another service goes through it.
//!
//! It enforces an allow-list of hosts, refuses loopback addresses unless configured (also
//! when a permitted name resolves to one), refuses link-local and unspecified addresses
//! always (cloud metadata endpoints live there), never follows redirects (a redirect could
//! leave the allow-list), bounds every call by a timeout and caps response bodies.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use trae_core::OutboundConfig;
use url::{Host, Url};

use crate::{AgentError, Result};

/// The largest response body kept; the rest is cut off.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Where outbound calls may go and how long they may take.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    allow_hosts: Vec<String>,
    allow_loopback: bool,
    timeout: Duration,
}

impl OutboundPolicy {
    /// The policy `config` describes.
    pub fn from_config(config: &OutboundConfig) -> Self {
        Self {
            allow_hosts: config
                .allow_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_loopback: config.allow_loopback,
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
        }
    }

    /// The longest any call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Checks that `url` may be called: http or https, a permitted host, no credentials in
    /// the URL.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AgentError::Refused(format!(
                "only http and https URLs may be called, not {}:",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AgentError::Refused(
                "credentials in the URL are not allowed".into(),
            ));
        }
        let host = url
            .host()
            .ok_or_else(|| AgentError::Refused("the URL has no host".into()))?;
        let (name, ip) = match host {
            Host::Domain(d) => (d.trim_end_matches('.').to_ascii_lowercase(), None),
            Host::Ipv4(ip) => (ip.to_string(), Some(IpAddr::V4(ip))),
            Host::Ipv6(ip) => (ip.to_string(), Some(IpAddr::V6(ip))),
        };
        let loopback_name = name == "localhost" || name.ends_with(".localhost");
        if let Some(ip) = ip {
            self.check_ip(ip)?;
            if ip.is_loopback() {
                return Ok(());
            }
        } else if loopback_name {
            return if self.allow_loopback {
                Ok(())
            } else {
                Err(loopback_refused())
            };
        }
        if self.host_allowed(&name) {
            Ok(())
        } else {
            Err(AgentError::Refused(format!(
                "host {name} is not on the outbound allow-list (TRAE_OUTBOUND_ALLOW_HOSTS)"
            )))
        }
    }

    fn host_allowed(&self, name: &str) -> bool {
        self.allow_hosts
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => {
                    name.len() > domain.len() + 1 && name.ends_with(&format!(".{domain}"))
                }
                None => pattern == name,
            })
    }

    /// Checks an address a call would connect to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<()> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_unspecified() || is_link_local(ip) || ip.is_multicast() {
            return Err(AgentError::Refused(format!(
                "address {ip} may not be called"
            )));
        }
        if ip.is_loopback() && !self.allow_loopback {
            return Err(loopback_refused());
        }
        Ok(())
    }
}

impl trae_core::UrlPolicy for OutboundPolicy {
    fn check_url(&self, url: &Url) -> std::result::Result<(), String> {
        OutboundPolicy::check_url(self, url).map_err(|e| match e {
            AgentError::Refused(why) => why,
            other => other.to_string(),
        })
    }
}

fn loopback_refused() -> AgentError {
    AgentError::Refused(
        "loopback addresses may not be called (set TRAE_OUTBOUND_ALLOW_LOOPBACK=true to allow)"
            .into(),
    )
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Resolves names with the system resolver, dropping addresses the policy refuses, so a
/// permitted name that points at loopback or a metadata address cannot be reached.
struct CheckedResolver(Arc<OutboundPolicy>);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.check_ip(a.ip()).is_ok())
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address that may be called").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// A response, with the body cut at [`MAX_RESPONSE_BYTES`].
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// The status code.
    pub status: u16,
    /// Response headers (lowercase names; repeated headers joined with ", ").
    pub headers: Vec<(String, String)>,
    /// The body bytes kept.
    pub body: Vec<u8>,
    /// Whether the body was longer than what was kept.
    pub truncated: bool,
}

/// The outbound client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl OutboundClient {
    /// A client enforcing `policy`.
    pub fn new(policy: OutboundPolicy) -> Result<Self> {
        // reqwest is built without a TLS crypto provider so only ring is compiled in (sqlx
        // uses it too); installing it when another is already installed changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(CheckedResolver(Arc::clone(&policy))))
            .user_agent(concat!("trae/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AgentError::Config(format!("outbound HTTP client: {e}")))?;
        Ok(Self { client, policy })
    }

    /// The client for `config`.
    pub fn from_config(config: &OutboundConfig) -> Result<Self> {
        Self::new(OutboundPolicy::from_config(config))
    }

    /// Its policy.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Sends a request, within `timeout` if shorter than the policy's, and reads the whole
    /// answer (cut at [`MAX_RESPONSE_BYTES`]).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<OutboundResponse> {
        let limit = timeout.map_or(self.policy.timeout, |t| t.min(self.policy.timeout));
        let read = async {
            let open = self.open(method, url, headers, body, None).await?;
            open.read_to_end(MAX_RESPONSE_BYTES).await
        };
        tokio::time::timeout(limit, read).await.unwrap_or_else(|_| {
            Err(AgentError::Timeout(format!(
                "no whole answer within {} ms",
                limit.as_millis()
            )))
        })
    }

    /// Sends a request and returns once the answer's headers are in, leaving the body to be
    /// read piece by piece (a stream). `timeout`, when shorter than the policy's, bounds the
    /// wait for the headers and then each wait for the next piece; the stream as a whole has
    /// no deadline. Dropping the answer closes the connection.
    pub async fn open(
        &self,
        method: reqwest::Method,
        url: &Url,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<OpenResponse> {
        self.policy.check_url(url)?;
        let idle = timeout.map_or(self.policy.timeout, |t| t.min(self.policy.timeout));
        let mut request = self.client.request(method, url.clone());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = tokio::time::timeout(idle, request.send())
            .await
            .map_err(|_| AgentError::Timeout(format!("no answer within {} ms", idle.as_millis())))?
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let mut joined: Vec<(String, String)> = Vec::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match joined.iter_mut().find(|(n, _)| n == name.as_str()) {
                Some((_, v)) => {
                    v.push_str(", ");
                    v.push_str(&value);
                }
                None => joined.push((name.as_str().to_owned(), value)),
            }
        }
        Ok(OpenResponse {
            status,
            headers: joined,
            response,
            idle,
        })
    }
}

/// An answer whose body is still to be read.
#[derive(Debug)]
pub struct OpenResponse {
    /// The status code.
    pub status: u16,
    /// Response headers (lowercase names; repeated headers joined with ", ").
    pub headers: Vec<(String, String)>,
    response: reqwest::Response,
    idle: Duration,
}

impl OpenResponse {
    /// The next piece of the body; `None` at its end. Waiting longer than the call's timeout
    /// for it is an error.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        tokio::time::timeout(self.idle, self.response.chunk())
            .await
            .map_err(|_| {
                AgentError::Timeout(format!(
                    "nothing more arrived within {} ms",
                    self.idle.as_millis()
                ))
            })?
            .map_err(transport_error)
    }

    /// Reads the rest of the body, keeping at most `cap` bytes (the answer says whether it
    /// was cut; reading stops there).
    pub async fn read_to_end(mut self, cap: usize) -> Result<OutboundResponse> {
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = self.chunk().await? {
            let room = cap - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status: self.status,
            headers: self.headers,
            body,
            truncated,
        })
    }
}

fn transport_error(e: reqwest::Error) -> AgentError {
    // reqwest's Display omits the cause ("error sending request"); the source says why.
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if timeout {
        AgentError::Timeout(message)
    } else if e.is_connect() {
        AgentError::Connect(message)
    } else {
        AgentError::Transport(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], loopback: bool) -> OutboundPolicy {
        OutboundPolicy::from_config(&OutboundConfig {
            allow_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            allow_loopback: loopback,
            timeout_ms: 1000,
        })
    }

    fn check(p: &OutboundPolicy, url: &str) -> std::result::Result<(), String> {
        p.check_url(&Url::parse(url).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_allow_list_decides_hosts() {
        let p = policy(&["api.example.com", "*.svc.example.org"], false);
        assert!(check(&p, "https://api.example.com/v1").is_ok());
        assert!(check(&p, "https://API.example.com./v1").is_ok());
        assert!(check(&p, "https://a.svc.example.org/").is_ok());
        assert!(
            check(&p, "https://svc.example.org/").is_err(),
            "the wildcard needs a subdomain"
        );
        assert!(check(&p, "https://evil-api.example.com/").is_err());
        assert!(check(&p, "https://api.example.com.evil.net/").is_err());
        let err = check(&p, "https://other.example.com/").unwrap_err();
        assert!(err.contains("TRAE_OUTBOUND_ALLOW_HOSTS"), "{err}");
    }

    #[test]
    fn loopback_only_when_configured() {
        let closed = policy(&["127.0.0.1", "localhost"], false);
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost/",
            "http://[::1]/",
            "http://127.1.2.3/",
        ] {
            let err = check(&closed, url).unwrap_err();
            assert!(err.contains("loopback"), "{url}: {err}");
        }
        let open = policy(&[], true);
        assert!(check(&open, "http://127.0.0.1:9/").is_ok());
        assert!(check(&open, "http://localhost:9/").is_ok());
        assert!(check(&open, "http://[::1]:9/").is_ok());
    }

    #[test]
    fn never_metadata_or_odd_schemes_or_credentials() {
        let p = policy(&["169.254.169.254", "0.0.0.0", "example.com"], true);
        assert!(check(&p, "http://169.254.169.254/latest/meta-data").is_err());
        assert!(check(&p, "http://0.0.0.0/").is_err());
        assert!(check(&p, "http://[::ffff:169.254.169.254]/").is_err());
        assert!(check(&p, "file:///etc/passwd").is_err());
        assert!(check(&p, "ftp://example.com/").is_err());
        assert!(check(&p, "https://user:pw@example.com/").is_err());
    }
}
