//! Reads a WebSocket connection's frames straight off its TCP socket, with the kernel's
//! receive timestamp of each (`SO_TIMESTAMPNS`).
//!
//! Ten thousand subscribers share the benchmark machine's cores with the gateway, so when a
//! client process gets to read a message says as much about the scheduler as about the
//! gateway. The kernel stamps a segment when it reaches the subscriber's socket: that is the
//! moment it was delivered, whenever the client reads it. Parsing frames by hand also keeps
//! the clients' own CPU use low (no per-message allocation beyond the text).

use std::{
    io, mem,
    os::fd::{AsRawFd, RawFd},
};

use chrono::{DateTime, Utc};
use tokio::{io::Interest, net::TcpStream};

pub enum Frame {
    /// A text message and when its last segment reached the socket.
    Text(String, DateTime<Utc>),
    Close,
    /// Pings, pongs, binary.
    Other,
}

pub struct TimestampedFrames<'s> {
    stream: &'s mut TcpStream,
    buffer: Vec<u8>,
    filled: usize,
    arrived: DateTime<Utc>,
}

impl<'s> TimestampedFrames<'s> {
    pub fn new(stream: &'s mut TcpStream) -> io::Result<Self> {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on an open socket with a pointer to a live c_int of the stated size.
        let result = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { stream, buffer: vec![0; 16 << 10], filled: 0, arrived: Utc::now() })
    }

    /// The next frame; `None` at the end of the stream.
    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some((opcode, payload, length)) = parse(&self.buffer[..self.filled]) {
                let frame = match opcode {
                    0x1 => Frame::Text(String::from_utf8_lossy(&self.buffer[payload]).into_owned(), self.arrived),
                    0x8 => Frame::Close,
                    _ => Frame::Other,
                };
                self.buffer.copy_within(length..self.filled, 0);
                self.filled -= length;
                return Ok(Some(frame));
            }
            let wanted = missing(&self.buffer[..self.filled]);
            if self.buffer.len() < self.filled + wanted {
                self.buffer.resize(self.filled + wanted, 0);
            }
            if self.receive(wanted).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// One `recvmsg` of at most `wanted` bytes into the buffer, keeping the timestamp of the
    /// last segment read. Reading no further than the current frame matters: a read that
    /// reached into the next message's segment would report that segment's (later) arrival.
    async fn receive(&mut self, wanted: usize) -> io::Result<usize> {
        let fd = self.stream.as_raw_fd();
        loop {
            self.stream.readable().await?;
            let free = &mut self.buffer[self.filled..self.filled + wanted];
            let mut timestamp = None;
            let received = self.stream.try_io(Interest::READABLE, || {
                let (read, at) = receive_timestamped(fd, free)?;
                timestamp = at;
                Ok(read)
            });
            match received {
                Ok(read) => {
                    self.filled += read;
                    if let Some(at) = timestamp {
                        self.arrived = at;
                    }
                    return Ok(read);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Err(error),
            }
        }
    }
}

/// One `recvmsg` into `buffer`: the bytes read and the kernel's receive timestamp
/// (`SO_TIMESTAMPNS`) of the last segment they came from, if the socket has it on.
pub fn receive_timestamped(fd: RawFd, buffer: &mut [u8]) -> io::Result<(usize, Option<DateTime<Utc>>)> {
    let mut control = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: buffer.len() };
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut header: libc::msghdr = unsafe { mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: the buffers described by `header` are valid for writes of their lengths.
    let read = unsafe { libc::recvmsg(fd, &mut header, 0) };
    if read < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((read as usize, receive_timestamp(&header)))
}

/// The `SCM_TIMESTAMPNS` control message of a `recvmsg`, if any.
fn receive_timestamp(header: &libc::msghdr) -> Option<DateTime<Utc>> {
    // SAFETY: walks the control messages the kernel wrote within `msg_controllen`, with the
    // libc macros meant for it; the timespec is read unaligned.
    unsafe {
        let mut message = libc::CMSG_FIRSTHDR(header);
        while !message.is_null() {
            if (*message).cmsg_level == libc::SOL_SOCKET && (*message).cmsg_type == libc::SCM_TIMESTAMPNS {
                let time = std::ptr::read_unaligned(libc::CMSG_DATA(message).cast::<libc::timespec>());
                return DateTime::from_timestamp(time.tv_sec, time.tv_nsec as u32);
            }
            message = libc::CMSG_NXTHDR(header, message);
        }
    }
    None
}

/// How many more bytes complete the frame that `bytes` begins (its header first).
fn missing(bytes: &[u8]) -> usize {
    let header = match bytes.get(1).map(|second| second & 0x7f) {
        None => return 2 - bytes.len(),
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
    };
    if bytes.len() < header {
        return header - bytes.len();
    }
    let length = match header {
        4 => u16::from_be_bytes([bytes[2], bytes[3]]) as usize,
        10 => u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")) as usize,
        _ => (bytes[1] & 0x7f) as usize,
    };
    header + length - bytes.len()
}

/// A whole server frame at the start of `bytes`: its opcode, payload range and length.
/// Server frames are unmasked; the gateway doesn't fragment messages.
pub fn parse(bytes: &[u8]) -> Option<(u8, std::ops::Range<usize>, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (length, start) = match second & 0x7f {
        126 => (u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize, 10),
        short => (short as usize, 2),
    };
    assert!(first & 0x80 != 0 && second & 0x80 == 0, "a whole, unmasked frame");
    let end = start + length;
    (bytes.len() >= end).then_some((first & 0x0f, start..end, end))
}

#[cfg(test)]
mod tests {
    use super::{missing, parse};

    #[test]
    fn reads_stop_at_the_end_of_the_frame() {
        assert_eq!(missing(&[]), 2);
        assert_eq!(missing(&[0x81]), 1);
        assert_eq!(missing(&[0x81, 5]), 5);
        assert_eq!(missing(&[0x81, 5, b'a']), 4);
        assert_eq!(missing(&[0x81, 126]), 2);
        assert_eq!(missing(&[0x81, 126, 1, 0]), 256);
        assert_eq!(missing(&[0x81, 127, 0, 0, 0, 0, 0, 0, 0x10, 0]), 4096);
    }

    #[test]
    fn frames_of_every_length_form() {
        assert_eq!(parse(&[0x81, 2, b'h', b'i']), Some((1, 2..4, 4)));
        assert_eq!(parse(&[0x81, 3, b'h']), None);
        let mut long = vec![0x81, 126, 1, 0];
        long.extend(vec![b'x'; 256]);
        assert_eq!(parse(&long), Some((1, 4..260, 260)));
        assert_eq!(parse(&[0x88, 0]), Some((8, 2..2, 2)));
    }
}
