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
//! Linux only: the kernel looks the socket up by its four values (one `sock_diag` netlink
//! request, microseconds, where reading `/proc/net/tcp` walks every bucket of the
//! connection table, milliseconds), and `/proc/self/fd` says whether this process holds its
//! inode. Elsewhere, or when either cannot be read, nothing is proven.
//!
//! The same proof can run on the server, before the server reports anything
//! ([`held_connections`]): this process's connections to a port, listed up front (its
//! descriptors in `/proc/self/fd` that are sockets, each asked its addresses), which the
//! server compares with its session's two ends in the statement that takes the lock.

use std::net::{IpAddr, SocketAddr};

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
        diag::inode(ends).is_some_and(holds)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ends;
        false
    }
}

/// Whether one of this process's file descriptors is the socket `inode`.
#[cfg(target_os = "linux")]
fn holds(inode: u32) -> bool {
    let target = format!("socket:[{inode}]");
    socket_fds().is_some_and(|mut fds| fds.any(|(_, link)| link == target))
}

/// The most connections [`held_connections`] lists: beyond, it proves nothing (the
/// statement that carries them would grow with them).
const MOST_CONNECTIONS: usize = 64;

/// This process's TCP connections whose remote port is `remote_port`, each as the server
/// at the other end sees it (`client`: this end). `None` when they cannot be read (not
/// Linux, no `/proc`, a kernel or sandbox without `pidfd_getfd`) or are more than
/// [`MOST_CONNECTIONS`].
///
/// Each socket's addresses are asked of a duplicate of its descriptor, which
/// `pidfd_getfd` makes from this very process (a few system calls a socket, where a
/// `sock_diag` dump would walk the kernel's whole connection table, milliseconds).
pub(super) fn held_connections(remote_port: u16) -> Option<Vec<Ends>> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};
        let me = pidfd_open(getpid(), PidfdFlags::empty()).ok()?;
        let mut held = Vec::new();
        for (fd, _) in socket_fds()? {
            let copy = match pidfd_getfd(&me, fd, PidfdGetfdFlags::empty()) {
                Ok(copy) => copy,
                // Closed since it was listed.
                Err(rustix::io::Errno::BADF) => continue,
                Err(_) => return None,
            };
            if let Some(ends) = tcp_ends(&copy).filter(|e| e.server.port() == remote_port) {
                held.push(ends);
            }
        }
        (held.len() <= MOST_CONNECTIONS).then_some(held)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = remote_port;
        None
    }
}

/// The two ends of a connected TCP socket (an IPv4 address mapped to IPv6 as IPv4).
#[cfg(target_os = "linux")]
fn tcp_ends(socket: &rustix::fd::OwnedFd) -> Option<Ends> {
    let end = |addr: rustix::net::SocketAddrAny| -> Option<SocketAddr> {
        let addr = SocketAddr::try_from(addr).ok()?;
        Some(SocketAddr::new(addr.ip().to_canonical(), addr.port()))
    };
    let kind = rustix::net::sockopt::socket_type(socket).ok()?;
    if kind != rustix::net::SocketType::STREAM {
        return None;
    }
    Some(Ends {
        client: end(rustix::net::getsockname(socket).ok()?)?,
        server: end(rustix::net::getpeername(socket).ok()??)?,
    })
}

/// This process's file descriptors that are sockets, each with its link in `/proc/self/fd`
/// (`socket:[inode]`).
#[cfg(target_os = "linux")]
fn socket_fds() -> Option<impl Iterator<Item = (i32, String)>> {
    let fds = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(fds.filter_map(Result::ok).filter_map(|entry| {
        let link = std::fs::read_link(entry.path()).ok()?.into_os_string();
        let link = link.into_string().ok()?;
        let fd = entry.file_name().to_str()?.parse().ok()?;
        link.starts_with("socket:[").then_some((fd, link))
    }))
}

/// The kernel's socket lookup: one `SOCK_DIAG_BY_FAMILY` request for the TCP socket whose
/// local end is `ends.client` and remote end `ends.server` (`linux/inet_diag.h`).
#[cfg(target_os = "linux")]
mod diag {
    use std::net::{IpAddr, SocketAddr};

    use rustix::net::{
        AddressFamily, RecvFlags, SendFlags, SocketType, netlink, recv, send, socket,
    };

    use super::Ends;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLMSG_HEADER: usize = 16;
    /// `struct inet_diag_req_v2`.
    const REQUEST: usize = 56;
    /// Where `idiag_inode` lies in a reply: after the header and the 68 bytes of
    /// `struct inet_diag_msg` before it.
    const INODE_AT: usize = NLMSG_HEADER + 68;
    const AF_INET: u8 = 2;
    const AF_INET6: u8 = 10;
    const IPPROTO_TCP: u8 = 6;

    /// The inode of the socket, when the kernel finds one. An IPv4 connection is looked for
    /// among IPv4 sockets, then among IPv6 ones (a v4-mapped address).
    pub(super) fn inode(ends: Ends) -> Option<u32> {
        let sock = socket(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            Some(netlink::SOCK_DIAG),
        )
        .ok()?;
        let families: &[u8] = match ends.client.ip() {
            IpAddr::V4(_) => &[AF_INET, AF_INET6],
            IpAddr::V6(_) => &[AF_INET6],
        };
        families.iter().find_map(|&family| {
            send(&sock, &request(family, ends), SendFlags::empty()).ok()?;
            let mut reply = [0u8; 512];
            // The kernel answers within the send: the reply waits in the queue.
            let (_, len) = recv(&sock, &mut reply, RecvFlags::DONTWAIT).ok()?;
            inode_in(reply.get(..len)?)
        })
    }

    /// The request: a netlink header, then `inet_diag_req_v2` with the socket's four values
    /// (ports and addresses in network order), any state, no cookie.
    fn request(family: u8, ends: Ends) -> Vec<u8> {
        let mut r = Vec::with_capacity(NLMSG_HEADER + REQUEST);
        let len = u32::try_from(NLMSG_HEADER + REQUEST).unwrap_or(u32::MAX);
        r.extend_from_slice(&len.to_ne_bytes());
        r.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        r.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        r.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        r.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        r.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
        r.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
        r.extend_from_slice(&ends.client.port().to_be_bytes());
        r.extend_from_slice(&ends.server.port().to_be_bytes());
        r.extend_from_slice(&address(family, ends.client));
        r.extend_from_slice(&address(family, ends.server));
        r.extend_from_slice(&0u32.to_ne_bytes()); // any interface
        r.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
        r
    }

    /// An address as `idiag_src`/`idiag_dst` hold it for `family`: IPv4 in the first four
    /// bytes, IPv6 in all sixteen (an IPv4 address v4-mapped).
    fn address(family: u8, end: SocketAddr) -> [u8; 16] {
        let mut out = [0u8; 16];
        match (family, end.ip()) {
            (AF_INET, IpAddr::V4(v4)) => out[..4].copy_from_slice(&v4.octets()),
            (_, IpAddr::V4(v4)) => out = v4.to_ipv6_mapped().octets(),
            (_, IpAddr::V6(v6)) => out = v6.octets(),
        }
        out
    }

    /// The inode of a `SOCK_DIAG_BY_FAMILY` reply (an error reply, for no such socket, has
    /// none).
    fn inode_in(reply: &[u8]) -> Option<u32> {
        let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
        if kind != SOCK_DIAG_BY_FAMILY {
            return None;
        }
        let inode = u32::from_ne_bytes(reply.get(INODE_AT..INODE_AT + 4)?.try_into().ok()?);
        (inode != 0).then_some(inode)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_request_is_a_header_and_the_four_values_in_network_order() {
            let ends = Ends {
                client: "127.0.0.1:40000".parse().unwrap(),
                server: "10.0.0.9:5432".parse().unwrap(),
            };
            let r = request(AF_INET, ends);
            assert_eq!(r.len(), 72);
            assert_eq!(&r[16..18], &[AF_INET, IPPROTO_TCP]);
            assert_eq!(&r[24..26], &40000u16.to_be_bytes());
            assert_eq!(&r[26..28], &5432u16.to_be_bytes());
            assert_eq!(&r[28..32], &[127, 0, 0, 1]);
            assert_eq!(&r[44..48], &[10, 0, 0, 9]);
            let mapped = request(AF_INET6, ends);
            let v4_mapped: std::net::Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
            assert_eq!(&mapped[28..44], &v4_mapped.octets());
        }

        #[test]
        fn only_a_reply_of_the_right_type_gives_an_inode() {
            let mut reply = vec![0u8; INODE_AT + 4];
            reply[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
            reply[INODE_AT..].copy_from_slice(&4242u32.to_ne_bytes());
            assert_eq!(inode_in(&reply), Some(4242));
            reply[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
            assert_eq!(inode_in(&reply), None);
            assert_eq!(inode_in(&reply[..10]), None);
        }
    }
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

    /// The listing holds this process's connections to the port, and only those: not
    /// another process's to the same port, not this one's to another port, not the
    /// accepted ends (their remote port is the client's).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_connections_held_to_a_port_are_this_process_s_own() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mine: Vec<std::net::TcpStream> = (0..3)
            .map(|_| std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap())
            .collect();
        let _elsewhere = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        let mut child = std::process::Command::new("bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}; sleep 5")])
            .spawn()
            .expect("bash");
        let accepted: Vec<_> = (0..4).map(|_| listener.accept().unwrap().0).collect();
        let held = held_connections(port);
        let _ = child.kill();
        let _ = child.wait();
        let mut held = held.expect("this process's connections are listed");
        let mut expected: Vec<Ends> = mine
            .iter()
            .map(|s| Ends {
                client: s.local_addr().unwrap(),
                server: s.peer_addr().unwrap(),
            })
            .collect();
        held.sort_by_key(|e| e.client);
        expected.sort_by_key(|e| e.client);
        assert_eq!(held, expected);
        drop(accepted);
    }

    /// The kernel finds another process's socket by its ends too; it is not this one's.
    #[cfg(target_os = "linux")]
    #[test]
    fn another_process_s_socket_is_not_this_one_s() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut child = std::process::Command::new("bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}; sleep 5")])
            .spawn()
            .expect("bash");
        let (accepted, _) = listener.accept().unwrap();
        let theirs = Ends {
            client: accepted.peer_addr().unwrap(),
            server: accepted.local_addr().unwrap(),
        };
        let ours = Ends {
            client: accepted.local_addr().unwrap(),
            server: accepted.peer_addr().unwrap(),
        };
        let (theirs_held, ours_held) = (held_here(theirs), held_here(ours));
        let _ = child.kill();
        let _ = child.wait();
        assert!(!theirs_held, "the child's end of the connection");
        assert!(ours_held, "this process's end of the same connection");
    }
}
