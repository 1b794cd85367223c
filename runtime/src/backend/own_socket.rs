//! Whether the far end of a server session's connection is a socket of this very process:
//! then nothing stands between the two (no pooler, no proxy), which proves to the pooler
//! probe ([`super::pooler`]) what it otherwise finds out with a second connection.
//!
//! The server reports the session's connection as it sees it: the client's address and
//! port and its own (`inet_client_addr()`, `inet_client_port()`, `inet_server_addr()`,
//! `inet_server_port()`). A TCP connection is one socket at each end, and within a network
//! namespace no two connections share those four values. So when this process holds a socket
//! whose local end is the client's address and port and whose remote end is the server's,
//! that socket is the session's connection itself. A pooler or proxy in between has its own
//! socket towards the server (another process's, or another address), and a translated
//! address (NAT, a Kubernetes service, a port forward) makes the two views differ: either
//! way this says "not proven", and the probe opens its second connection.
//!
//! Linux only, from `/proc/self/net/tcp{,6}` (the sockets of the process's namespace, each
//! with its inode) and `/proc/self/fd` (which inodes the process holds). Elsewhere, or when
//! `/proc` cannot be read, nothing is proven.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The two ends of a server session's connection, as the server reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ends {
    pub client: SocketAddr,
    pub server: SocketAddr,
}

impl Ends {
    /// The ends from the server's text (`host(inet_client_addr())`, `inet_client_port()`,
    /// and the server's two): `None` for a Unix-domain socket (the server reports no
    /// address) or text that is not an address.
    pub(super) fn parse(client: (&str, &str), server: (&str, &str)) -> Option<Ends> {
        let end = |(addr, port): (&str, &str)| -> Option<SocketAddr> {
            let ip: IpAddr = addr.parse().ok()?;
            Some(SocketAddr::new(ip.to_canonical(), port.parse().ok()?))
        };
        Some(Ends {
            client: end(client)?,
            server: end(server)?,
        })
    }
}

/// Whether this process holds the socket of the connection whose ends are `ends`.
pub(super) fn held_here(ends: Ends) -> bool {
    #[cfg(target_os = "linux")]
    {
        let inodes: Vec<u64> = ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .flat_map(|table| inodes_of(&table, ends))
            .collect();
        !inodes.is_empty() && holds_any(&inodes)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ends;
        false
    }
}

/// The inodes of the sockets in `table` (the text of `/proc/net/tcp` or `tcp6`) whose local
/// end is `ends.client` and remote end `ends.server`.
fn inodes_of(table: &str, ends: Ends) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = socket_addr(fields.get(1)?)?;
            let remote = socket_addr(fields.get(2)?)?;
            (local == ends.client && remote == ends.server)
                .then(|| fields.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// An address of `/proc/net/tcp{,6}`: the address as 8 or 32 hex digits, each group of 8
/// a 32-bit word in the machine's byte order, then `:` and the port in hex.
fn socket_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match <[u8; 4]>::try_from(bytes.as_slice()) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?)),
    };
    Some(SocketAddr::new(ip.to_canonical(), port))
}

/// Whether one of this process's file descriptors is a socket with one of `inodes`.
#[cfg(target_os = "linux")]
fn holds_any(inodes: &[u64]) -> bool {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:[")?.strip_suffix(']'))
                .and_then(|inode| inode.parse::<u64>().ok())
                .is_some_and(|inode| inodes.contains(&inode))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(client: &str, server: &str) -> Ends {
        Ends {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
        }
    }

    #[test]
    fn proc_addresses_are_read_in_the_machine_s_byte_order() {
        let loopback = u32::from_ne_bytes([127, 0, 0, 1]);
        let text = format!("{loopback:08X}:1538");
        assert_eq!(socket_addr(&text), Some("127.0.0.1:5432".parse().unwrap()));
        let mapped: String = [0u32, 0, u32::from_ne_bytes([0, 0, 0xff, 0xff]), loopback]
            .iter()
            .map(|w| format!("{w:08X}"))
            .collect();
        assert_eq!(
            socket_addr(&format!("{mapped}:DF44")),
            Some("127.0.0.1:57156".parse().unwrap()),
            "a v4-mapped address compares as the IPv4 one"
        );
        assert_eq!(socket_addr("0100007F"), None);
        assert_eq!(socket_addr("01007F:1538"), None);
        assert_eq!(socket_addr("0100007G:1538"), None);
    }

    #[test]
    fn only_a_socket_with_both_ends_matches() {
        let addr = |a: [u8; 4], port: u16| format!("{:08X}:{port:04X}", u32::from_ne_bytes(a));
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: {} {} 01 00000000:00000000 00:00000000 00000000  0 0 111 1\n\
             1: {} {} 01 00000000:00000000 00:00000000 00000000  0 0 222 1\n",
            addr([127, 0, 0, 1], 40000),
            addr([127, 0, 0, 1], 5432),
            addr([127, 0, 0, 1], 40001),
            addr([127, 0, 0, 2], 5432),
        );
        assert_eq!(
            inodes_of(&table, ends("127.0.0.1:40000", "127.0.0.1:5432")),
            [111]
        );
        assert!(inodes_of(&table, ends("127.0.0.1:40001", "127.0.0.1:5432")).is_empty());
        assert!(inodes_of(&table, ends("127.0.0.1:40000", "127.0.0.2:5432")).is_empty());
    }

    #[test]
    fn the_server_s_text_parses_to_ends_or_to_nothing() {
        assert_eq!(
            Ends::parse(("::ffff:10.0.0.5", "40000"), ("10.0.0.9", "5432")),
            Some(ends("10.0.0.5:40000", "10.0.0.9:5432"))
        );
        assert_eq!(
            Ends::parse(("", ""), ("", "")),
            None,
            "a Unix-domain socket"
        );
        assert_eq!(Ends::parse(("10.0.0.5", "x"), ("10.0.0.9", "5432")), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_socket_of_this_process_is_found_and_another_s_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        let mine = Ends {
            client: client.local_addr().unwrap(),
            server: client.peer_addr().unwrap(),
        };
        assert!(held_here(mine));
        let elsewhere = Ends {
            server: "127.0.0.1:1".parse().unwrap(),
            ..mine
        };
        assert!(!held_here(elsewhere));
    }
}
