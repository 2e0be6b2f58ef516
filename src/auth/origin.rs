//! Which origin a request was made to, for the same-origin check of unsafe requests.
//! Forwarded headers (`Forwarded`, `X-Forwarded-Host`, `X-Forwarded-Proto`) are believed
//! only when the TCP peer is one of the configured proxies (`CHAAT_TRUSTED_PROXIES`):
//! anyone else could write them to make a cross-site request look same-origin.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap};

use super::client_addr::Cidr;

/// `scheme://host[:port]` in lower case, without the scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn new(scheme: &str, authority: &str) -> Option<Origin> {
        let scheme = scheme.to_ascii_lowercase();
        let authority = authority.to_ascii_lowercase();
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
            ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host.to_string(),
            _ => authority,
        };
        Some(Origin(format!("{scheme}://{authority}")))
    }

    /// The origin of a URL as an `Origin` or `Referer` header carries it.
    pub fn of_url(url: &str) -> Option<Origin> {
        let (scheme, rest) = url.split_once("://")?;
        Origin::new(scheme, rest.split(['/', '?', '#']).next().unwrap_or(rest))
    }
}

/// The origin this request was addressed to: its `Host` over plain HTTP (the app does
/// not speak TLS itself), or what a trusted proxy says it received.
pub fn requested(headers: &HeaderMap, peer: Option<IpAddr>, trusted_proxies: &[Cidr]) -> Option<Origin> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !peer.is_some_and(|p| trusted_proxies.iter().any(|c| c.contains(p))) {
        return Origin::new("http", host?);
    }
    let (fwd_proto, fwd_host) = forwarded(headers);
    let proto = fwd_proto.or_else(|| first_value(headers, "x-forwarded-proto")).unwrap_or_else(|| "http".into());
    let host = fwd_host.or_else(|| first_value(headers, "x-forwarded-host")).or_else(|| host.map(str::to_string))?;
    Origin::new(&proto, &host)
}

fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    Some(v.split(',').next()?.trim().to_string())
}

/// `proto` and `host` of the first element of an RFC 7239 `Forwarded` header.
fn forwarded(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let Some(first) = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()) else {
        return (None, None);
    };
    let (mut proto, mut host) = (None, None);
    for pair in first.split(';') {
        let Some((key, value)) = pair.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "proto" => proto = Some(value),
            "host" => host = Some(value),
            _ => {}
        }
    }
    (proto, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(header::HeaderName::from_static(k), header::HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(Origin::of_url("http://Chat.Example:80/x"), Origin::new("http", "chat.example"));
        assert_ne!(Origin::of_url("https://chat.example"), Origin::new("http", "chat.example"));
        assert_ne!(Origin::of_url("http://chat.example:8080"), Origin::new("http", "chat.example"));
        assert_eq!(Origin::of_url("null"), None);
        assert_eq!(Origin::new("http", "evil@chat.example"), None);
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy() {
        let h = headers(&[("host", "127.0.0.1:8080"), ("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(requested(&h, Some(local), &[]), Origin::new("http", "127.0.0.1:8080"), "not trusted: Host");
        assert_eq!(
            requested(&h, Some(local), &["127.0.0.1".parse().unwrap()]),
            Origin::new("https", "evil.example"),
            "trusted: what it says"
        );
        let h = headers(&[("host", "internal:8080"), ("forwarded", "for=1.2.3.4;proto=https;host=chat.example, for=5.6.7.8")]);
        assert_eq!(requested(&h, Some(local), &["127.0.0.0/8".parse().unwrap()]), Origin::new("https", "chat.example"));
    }
}
