//! When each message reached its subscriber, seen on the wire: a packet socket on the
//! loopback interface captures every segment the gateway sends to a subscriber, with the
//! kernel's timestamp of its arrival (taken as the receiving side's stack gets it, before TCP
//! queues it on the socket), and the WebSocket frames inside are read back afterwards.
//!
//! Why not the subscriber's own socket timestamps (`arrivals`): the clients share the
//! machine's two cores with the gateway and run below it, so a client may not yet have read
//! one message when the next arrives; TCP then merges the two in the socket and keeps only the
//! later arrival time. On the wire every segment keeps its own time, whenever anyone reads it,
//! as it would for clients on machines of their own. Needs `CAP_NET_RAW` (root).
//!
//! The capture costs the gateway a little (each of its segments is cloned for the tap and
//! filtered), so the latencies it shows are if anything pessimistic.

use std::{
    collections::HashSet,
    io, mem,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use chrono::{DateTime, Utc};

use crate::{EMITTED_AT, KIND, arrivals, field};

/// One message as it arrived at one subscriber.
pub struct WireDelivery {
    /// The subscriber's local port: which connection.
    pub port: u16,
    pub emitted: DateTime<Utc>,
    pub arrived: DateTime<Utc>,
    pub kind: String,
    pub bytes: usize,
}

impl WireDelivery {
    pub fn latency_ms(&self) -> f64 {
        crate::milliseconds(self.arrived - self.emitted)
    }
}

/// What a capture saw.
pub struct Captured {
    pub deliveries: Vec<WireDelivery>,
    /// Segments the kernel dropped because the capture fell behind (then deliveries are
    /// missing: the count is checked against the clients').
    pub dropped: u32,
    /// Segments to a subscriber whose payload didn't start with a whole frame (a message
    /// split across segments): their messages are missing too. (The gateway's port also
    /// answers the benchmark's own HTTP requests: those connections carry no frames.)
    pub unparsed: usize,
}

pub struct WireCapture {
    socket: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
    reader: JoinHandle<(Vec<WireDelivery>, Vec<u16>)>,
}

const ETH_P_IP: u16 = libc::ETH_P_IP as u16;

impl WireCapture {
    /// Starts capturing the segments that `gateway_port` sends over the loopback interface.
    pub fn start(gateway_port: u16) -> io::Result<Self> {
        // Protocol 0: nothing is queued until `bind` names one, after the filter is attached.
        // SAFETY: plain socket creation; the descriptor is owned from here on.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket() and nothing else owns it.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut program = filter(gateway_port);
        let program = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
        set_option(&socket, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
        // Room for the whole run even if the reader (below every other thread) falls behind.
        set_option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(1i32 << 30))?;
        set_option(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32)?;
        let timeout = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
        set_option(&socket, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
        // SAFETY: sockaddr_ll is plain data, fully initialised below; the name is a C string.
        let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETH_P_IP.to_be();
        // SAFETY: looks up a NUL-terminated interface name.
        address.sll_ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) } as i32;
        // SAFETY: binds the open socket to a live, correctly sized address.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::Builder::new().name("wire-capture".into()).spawn(move || read_until_stopped(&socket, &stop))?
        };
        Ok(Self { socket, stop, reader })
    }

    /// Stops once everything already captured is read.
    pub fn finish(self) -> Captured {
        self.stop.store(true, Ordering::SeqCst);
        let (deliveries, unparsed_ports) = self.reader.join().expect("the capture thread panicked");
        let subscribers: HashSet<u16> = deliveries.iter().map(|delivery| delivery.port).collect();
        let unparsed = unparsed_ports.iter().filter(|port| subscribers.contains(port)).count();
        // SAFETY: tpacket_stats is plain data; the kernel writes at most `length` bytes.
        let mut statistics: libc::tpacket_stats = unsafe { mem::zeroed() };
        let mut length = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut statistics as *mut libc::tpacket_stats).cast(),
                &mut length,
            )
        };
        Captured { deliveries, dropped: statistics.tp_drops, unparsed }
    }
}

fn set_option<T>(socket: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live T and its size is passed along.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Classic BPF, run on each IPv4 packet (from its IP header): TCP from `port`, as received
/// (`PACKET_HOST`; loopback shows every packet twice, also as `PACKET_OUTGOING`).
fn filter(port: u16) -> Vec<libc::sock_filter> {
    use libc::{BPF_ABS, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_MSH, BPF_RET};
    let op = |code: u32| code as u16;
    // SAFETY: BPF_STMT / BPF_JUMP only build plain structs.
    unsafe {
        vec![
            libc::BPF_STMT(op(BPF_LD | BPF_B | BPF_ABS), 9), // IP protocol
            libc::BPF_JUMP(op(BPF_JMP | BPF_JEQ | BPF_K), libc::IPPROTO_TCP as u32, 0, 5),
            libc::BPF_STMT(op(BPF_LDX | BPF_B | BPF_MSH), 0), // X = IP header length
            libc::BPF_STMT(op(BPF_LD | BPF_H | BPF_IND), 0),  // TCP source port
            libc::BPF_JUMP(op(BPF_JMP | BPF_JEQ | BPF_K), u32::from(port), 0, 3),
            libc::BPF_STMT(op(BPF_LD | BPF_B | BPF_ABS), (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32),
            libc::BPF_JUMP(op(BPF_JMP | BPF_JEQ | BPF_K), u32::from(libc::PACKET_HOST), 0, 1),
            libc::BPF_STMT(op(BPF_RET | BPF_K), 0x0004_0000), // whole packet
            libc::BPF_STMT(op(BPF_RET | BPF_K), 0),           // not ours
        ]
    }
}

/// Reads (at the lowest priority, like the clients) until stopped and drained.
/// Returns the messages and the ports of segments that didn't start with a frame.
fn read_until_stopped(socket: &OwnedFd, stop: &AtomicBool) -> (Vec<WireDelivery>, Vec<u16>) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: changes the calling thread's policy only.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    let mut deliveries = Vec::new();
    let mut unparsed = Vec::new();
    let mut packet = vec![0u8; 1 << 18];
    loop {
        match receive(socket, &mut packet) {
            Ok((length, arrived)) => {
                if let Err(port) = read_segment(&packet[..length], arrived, &mut deliveries) {
                    unparsed.push(port);
                }
            }
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            Err(error) => panic!("reading the capture: {error}"),
        }
    }
    (deliveries, unparsed)
}

fn receive(socket: &OwnedFd, packet: &mut [u8]) -> io::Result<(usize, DateTime<Utc>)> {
    let (read, arrived) = arrivals::receive_timestamped(socket.as_raw_fd(), packet)?;
    // Without the kernel's time the measurement would be the reader's: refuse it.
    Ok((read, arrived.expect("a captured packet carries its timestamp")))
}

/// The messages in one captured IPv4/TCP segment; `Err(its destination port)` if its payload
/// doesn't begin with a whole frame.
fn read_segment(packet: &[u8], arrived: DateTime<Utc>, deliveries: &mut Vec<WireDelivery>) -> Result<(), u16> {
    let ip_header = usize::from(packet.first().map_or(0, |first| first & 0x0f)) * 4;
    let total = packet.get(2..4).map_or(0, |t| usize::from(u16::from_be_bytes([t[0], t[1]])));
    let tcp = packet.get(ip_header..total.min(packet.len())).unwrap_or_default();
    if tcp.len() < 20 {
        return Err(0);
    }
    let port = u16::from_be_bytes([tcp[2], tcp[3]]);
    let mut payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
    while !payload.is_empty() {
        // The gateway's frames are whole (FIN) and unmasked: anything else began elsewhere.
        let whole = payload[0] & 0x80 != 0 && payload.get(1).is_some_and(|second| second & 0x80 == 0);
        if !whole {
            return Err(port);
        }
        let Some((opcode, range, length)) = arrivals::parse(payload) else { return Err(port) };
        if opcode == 0x1 {
            let text = String::from_utf8_lossy(&payload[range]);
            if let Some(emitted) = field(&text, EMITTED_AT).and_then(|at| at.parse::<DateTime<Utc>>().ok()) {
                deliveries.push(WireDelivery {
                    port,
                    emitted,
                    arrived,
                    kind: field(&text, KIND).unwrap_or("?").to_owned(),
                    bytes: text.len(),
                });
            }
        }
        payload = &payload[length..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::read_segment;

    /// An IPv4 + TCP segment (no options) from port 8080 to 40000 carrying `payload`.
    fn segment(payload: &[u8]) -> Vec<u8> {
        let total = (20 + 20 + payload.len()) as u16;
        let mut packet = vec![0x45, 0];
        packet.extend(total.to_be_bytes());
        packet.extend([0; 5]);
        packet.push(6);
        packet.extend([0; 10]);
        packet.extend(8080u16.to_be_bytes());
        packet.extend(40000u16.to_be_bytes());
        packet.extend([0; 8]);
        packet.push(5 << 4);
        packet.extend([0; 7]);
        packet.extend(payload);
        packet
    }

    fn text_frame(text: &str) -> Vec<u8> {
        let mut frame = vec![0x81, text.len() as u8];
        frame.extend(text.as_bytes());
        frame
    }

    #[test]
    fn every_message_of_a_segment_is_read_with_its_arrival() {
        let arrived = "2026-11-25T10:00:00.050Z".parse().unwrap();
        let progress = r#"{"id":"1","type":"next","payload":{"data":{"analysisProgress":{"kind":"DONE","emittedAt":"2026-11-25T10:00:00.000Z"}}}}"#;
        let mut payload = text_frame(progress);
        payload.extend(text_frame(r#"{"id":"1","type":"complete"}"#));
        let mut deliveries = Vec::new();
        assert_eq!(read_segment(&segment(&payload), arrived, &mut deliveries), Ok(()));
        assert_eq!(deliveries.len(), 1);
        assert_eq!((deliveries[0].port, deliveries[0].kind.as_str()), (40000, "DONE"));
        assert_eq!(deliveries[0].latency_ms(), 50.0);
        // A pure ACK carries nothing; a segment starting inside a frame is reported.
        assert_eq!(read_segment(&segment(&[]), arrived, &mut deliveries), Ok(()));
        assert_eq!(read_segment(&segment(&text_frame(progress)[40..]), arrived, &mut deliveries), Err(40000));
        assert_eq!(read_segment(&segment(&text_frame(progress)[..40]), arrived, &mut deliveries), Err(40000));
        assert_eq!(deliveries.len(), 1);
    }
}
