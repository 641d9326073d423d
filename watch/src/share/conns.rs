//! The kernel's TCP tables, `/proc/net/tcp` and `tcp6` (world-readable: no privilege needed), and
//! from them who is connected to the service port: the remote addresses of its established
//! connections. The addresses stay in memory; nothing here logs them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// The TCP tables of this process's network namespace. Not `/proc/net`, its symlink: systemd's
/// `ProcSubset=pid` (which the baked unit sets) hides it, and keeps `/proc/self`.
pub const PROC_NET: &str = "/proc/self/net";

/// `st` in `/proc/net/tcp` of an established connection and of a listening socket.
const ESTABLISHED: &str = "01";
const LISTEN: &str = "0A";

/// One row of the kernel's TCP tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub established: bool,
    pub listening: bool,
}

/// Every row of `tcp` and `tcp6` under `proc_net` (normally [`PROC_NET`]).
pub fn table(proc_net: &Path) -> std::io::Result<Vec<Row>> {
    let mut out = Vec::new();
    for name in ["tcp", "tcp6"] {
        let path = proc_net.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => out.extend(parse(&text)),
            // A kernel without IPv6 has no tcp6.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "tcp6" => {}
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    Ok(out)
}

/// The remote address of each connection accepted on local `port`: one entry per connection,
/// so an address appears once per connection it holds. A connection is accepted there when a
/// socket listens on its local address (or on every address) and port; a connection this
/// machine opened from an ephemeral port of that number on another address is not.
pub fn remote_addrs(proc_net: &Path, port: u16) -> std::io::Result<Vec<IpAddr>> {
    let rows = table(proc_net)?;
    let listening: Vec<IpAddr> =
        rows.iter().filter(|r| r.listening && r.local.port() == port).map(|r| r.local.ip()).collect();
    let on_port = rows.iter().filter(|r| r.established && r.local.port() == port);
    Ok(on_port.filter(|r| accepted(&listening, r.local.ip())).map(|r| r.remote.ip()).collect())
}

/// Whether a connection with local address `local` was accepted by a socket listening on one of
/// `listening` (on its port): that address, or every address.
pub(crate) fn accepted(listening: &[IpAddr], local: IpAddr) -> bool {
    listening.iter().any(|l| l.is_unspecified() || *l == local)
}

/// The rows of one table. Rows that do not parse are skipped: the kernel's format is fixed, a
/// row cut short is not.
fn parse(text: &str) -> impl Iterator<Item = Row> + '_ {
    text.lines().skip(1).filter_map(|row| {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let (local, remote) = (endpoint(cols.get(1)?)?, endpoint(cols.get(2)?)?);
        let state = *cols.get(3)?;
        Some(Row { local, remote, established: state == ESTABLISHED, listening: state == LISTEN })
    })
}

/// `ADDR:PORT` as the kernel prints it: the address as 32-bit words in the host's byte order, the
/// port as a number.
/// An IPv4 peer on a dual-stack socket (`::ffff:a.b.c.d`) is given as that IPv4 address.
fn endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| Some(u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?.to_ne_bytes());
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(unmap(ip), port))
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn rows_as_the_kernel_prints_them() {
        // Two established peers on :8935 (one IPv4, one IPv4-mapped on tcp6), one listening
        // socket, one connection from another local port, one torn row.
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:22E7 00000000:0000 0A 00000000:00000000 00:00000000 00000000   935        0 1 1 0 100 0 0 10 0
   1: 0100007F:22E7 0200007F:A1B2 01 00000000:00000000 00:00000000 00000000   935        0 2 1 0 20 4 30 10 -1
   2: 0100007F:1F0F 0300007F:A1B3 01 00000000:00000000 00:00000000 00000000   935        0 3 1 0 20 4 30 10 -1
   3: 0100007F:22E7
";
        let rows: Vec<Row> = parse(tcp).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].remote, "127.0.0.2:41394".parse().unwrap());
        assert_eq!((rows[1].local.port(), rows[1].established, rows[1].listening), (8935, true, false));
        assert!(!rows[0].established && rows[0].listening);
        let tcp6 = "  sl  local_address                         remote_address                        st
   0: 0000000000000000FFFF00000100007F:22E7 0000000000000000FFFF0000090A0BC6:C350 01 0:0 0:0 0 935 0 7
   1: 00000000000000000000000001000000:22E7 B80D0120000000000000000001000000:C351 01 0:0 0:0 0 935 0 8
";
        let got: Vec<SocketAddr> = parse(tcp6).map(|r| r.remote).collect();
        assert_eq!(got, vec!["198.11.10.9:50000".parse().unwrap(), "[2001:db8::1]:50001".parse().unwrap()]);
    }

    #[test]
    fn reads_this_machines_tables() {
        // A real connection from 127.0.0.2 to a loopback listener: the kernel's own table has it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let socket = connect_from("127.0.0.2", 0, port);
        let (_accepted, _) = listener.accept().unwrap();
        // A connection this machine opens from 127.0.0.3 with that same port number is not one.
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let outgoing = connect_from("127.0.0.3", port, other.local_addr().unwrap().port());
        let seen = remote_addrs(Path::new(PROC_NET), port).unwrap();
        assert_eq!(seen, vec!["127.0.0.2".parse::<IpAddr>().unwrap()], "{seen:?}");
        drop((socket, outgoing));
    }

    /// Connects to 127.0.0.1:`port` from `source`:`source_port` (any 127/8 address is this machine's).
    fn connect_from(source: &str, source_port: u16, port: u16) -> TcpStream {
        let std_socket = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap().block_on(async {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind(format!("{source}:{source_port}").parse().unwrap()).unwrap();
            s.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap().into_std().unwrap()
        });
        std_socket.set_nonblocking(false).unwrap();
        std_socket
    }
}
