//! The client's IP address for lockout, limits and the audit log: the socket peer, or what a
//! trusted proxy says in `X-Forwarded-For`, never what an untrusted client claims.

use std::net::IpAddr;

use ipnet::IpNet;

/// The address of the client behind `peer`.
///
/// When `peer` is a trusted proxy, `X-Forwarded-For` is read from the right (the hop nearest
/// to us) past every trusted proxy; the first untrusted address is the client. Anything else,
/// including a malformed header, leaves the peer as the answer.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',').map(str::trim) {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A garbled hop ends the chain we can believe.
            Err(_) => break,
        }
    }
    client
}

/// `ip` as text, as its `Display` writes it, in one allocation.
///
/// Every request writes its client's address; `to_string` goes through the formatting
/// machinery and grows the string as it writes, a measurable share of the request context's
/// cost, so IPv4 addresses (nearly all clients) are written digit by digit.
pub fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ip_text_matches_display() {
        for o in 0..=255_u8 {
            let v4 = IpAddr::from([o, 255 - o, o / 10, 7]);
            assert_eq!(ip_text(v4), v4.to_string());
        }
        for text in ["2001:db8::1", "::ffff:1.2.3.4", "::"] {
            assert_eq!(ip_text(ip(text)), ip(text).to_string());
        }
    }

    #[test]
    fn a_trusted_proxy_chain_is_walked_from_the_right() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        // A client-supplied spoof on the left is ignored: 198.51.100.7 is the first untrusted hop.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                Some("6.6.6.6, 198.51.100.7, 192.168.1.1"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage, 10.0.0.3"), &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("2001:db8::1"), &trusted),
            ip("2001:db8::1")
        );
    }
}
