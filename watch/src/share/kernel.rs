//! What the kernel says was received on a port: the payload bytes (`tcpi_bytes_received`) of the
//! connections accepted there, read through sock_diag netlink (`ss -ti` reads the same; no
//! privilege is needed). The source the node's own byte count is checked against.

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{nlas::Nla, ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};
use std::io;
use std::net::IpAddr;

/// One TCP socket of the dump: its local end, whether it listens, and what it received.
struct Sock {
    local: (IpAddr, u16),
    listening: bool,
    bytes_received: u64,
}

/// The payload bytes received by the established connections accepted on local `port` (a
/// socket listens on their local address, or on every address, and that port).
pub fn bytes_received(port: u16) -> io::Result<u64> {
    let mut socks = dump(AF_INET)?;
    socks.extend(dump(AF_INET6)?);
    let listening: Vec<IpAddr> = socks.iter().filter(|s| s.listening && s.local.1 == port).map(|s| s.local.0).collect();
    let on_port = socks.iter().filter(|s| !s.listening && s.local.1 == port);
    Ok(on_port.filter(|s| super::conns::accepted(&listening, s.local.0)).map(|s| s.bytes_received).sum())
}

/// Every established or listening TCP socket of `family`, with its TCP info.
fn dump(family: u8) -> io::Result<Vec<Sock>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let request = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::INFO,
        states: StateFlags::ESTABLISHED | StateFlags::LISTEN,
        socket_id,
    });
    let mut packet = NetlinkMessage::new(header, request.into());
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut out = Vec::new();
    let mut receive = vec![0u8; 64 << 10];
    loop {
        let size = socket.recv(&mut &mut receive[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&receive[offset..size])
                .map_err(|e| io::Error::other(format!("sock_diag answer: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let bytes_received = r
                        .nlas
                        .iter()
                        .find_map(|n| if let Nla::TcpInfo(info) = n { Some(info.bytes_received) } else { None })
                        .unwrap_or(0);
                    out.push(Sock {
                        local: (r.header.socket_id.source_address, r.header.socket_id.source_port),
                        listening: r.header.state == netlink_packet_sock_diag::constants::TCP_LISTEN,
                        bytes_received,
                    });
                }
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => return Err(io::Error::other(format!("sock_diag: {e:?}"))),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn counts_what_the_accepted_connections_received() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        client.write_all(&[7u8; 100_000]).unwrap();
        let mut got = vec![0u8; 100_000];
        accepted.read_exact(&mut got).unwrap();
        // The client's own socket received nothing; only the accepted side counts.
        assert_eq!(bytes_received(port).unwrap(), 100_000);
        accepted.write_all(b"reply").unwrap();
        let mut reply = [0u8; 5];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(bytes_received(port).unwrap(), 100_000);
    }
}
