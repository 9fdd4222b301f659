//! What a media child says on its stdout: a tag byte, then
//! - `P` + u32 length + JSON [`VideoInfo`] (a probe's answer),
//! - `F` + i64 index + i64 timestamp (ms) + u32 rows + u32 cols + rows·cols·3 bytes of RGB,
//! - `E` + i64 frames read (decoding ended),
//! - `X` + u32 length + JSON [`VideoError`].
//!
//! All integers are little-endian. The reader trusts nothing: a frame larger than the video's
//! probed size is refused before its buffer is allocated.

use std::io::{self, Read, Write};

use opencv::{
    core::{CV_8UC3, Mat, Scalar},
    prelude::*,
};

use crate::video::{Frame, VideoError, VideoInfo};

pub enum Message {
    Probed(VideoInfo),
    Frame(Frame),
    End(i64),
    Failed(VideoError),
}

/// The largest frame a reader accepts, in rows and columns.
#[derive(Clone, Copy)]
pub struct MaxFrame {
    pub rows: i32,
    pub cols: i32,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

pub fn read(input: &mut impl Read, max_frame: MaxFrame) -> io::Result<Message> {
    let mut tag = [0; 1];
    input.read_exact(&mut tag)?;
    Ok(match tag[0] {
        b'P' => Message::Probed(serde_json::from_slice(&read_sized(input)?).map_err(|_| invalid("video info"))?),
        b'X' => Message::Failed(serde_json::from_slice(&read_sized(input)?).map_err(|_| invalid("video error"))?),
        b'E' => Message::End(read_i64(input)?),
        b'F' => {
            let index = read_i64(input)?;
            let timestamp_ms = read_i64(input)?;
            let rows = i32::try_from(read_u32(input)?).map_err(|_| invalid("frame size"))?;
            let cols = i32::try_from(read_u32(input)?).map_err(|_| invalid("frame size"))?;
            if !(1..=max_frame.rows).contains(&rows) || !(1..=max_frame.cols).contains(&cols) {
                return Err(invalid("a frame larger than the video"));
            }
            let mut rgb = Mat::new_rows_cols_with_default(rows, cols, CV_8UC3, Scalar::all(0.0))
                .map_err(|_| invalid("frame buffer"))?;
            input.read_exact(rgb.data_bytes_mut().map_err(|_| invalid("frame buffer"))?)?;
            Message::Frame(Frame { index, timestamp_ms, rgb })
        }
        _ => return Err(invalid("message tag")),
    })
}

pub fn write_probed(output: &mut impl Write, info: &VideoInfo) -> io::Result<()> {
    write_sized(output, b'P', &serde_json::to_vec(info).expect("video info serialises. This is a bug."))
}

pub fn write_error(output: &mut impl Write, error: &VideoError) -> io::Result<()> {
    write_sized(output, b'X', &serde_json::to_vec(error).expect("errors serialise. This is a bug."))
}

pub fn write_end(output: &mut impl Write, frames_read: i64) -> io::Result<()> {
    output.write_all(b"E")?;
    output.write_all(&frames_read.to_le_bytes())
}

pub fn write_frame(output: &mut impl Write, frame: &Frame) -> io::Result<()> {
    output.write_all(b"F")?;
    output.write_all(&frame.index.to_le_bytes())?;
    output.write_all(&frame.timestamp_ms.to_le_bytes())?;
    output.write_all(&(frame.rgb.rows() as u32).to_le_bytes())?;
    output.write_all(&(frame.rgb.cols() as u32).to_le_bytes())?;
    output.write_all(frame.rgb.data_bytes().map_err(|error| io::Error::other(error.to_string()))?)
}

fn read_i64(input: &mut impl Read) -> io::Result<i64> {
    let mut bytes = [0; 8];
    input.read_exact(&mut bytes)?;
    Ok(i64::from_le_bytes(bytes))
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_sized(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let length = read_u32(input)? as usize;
    if length > 1 << 16 {
        return Err(invalid("message too long"));
    }
    let mut bytes = vec![0; length];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn write_sized(output: &mut impl Write, tag: u8, json: &[u8]) -> io::Result<()> {
    output.write_all(&[tag])?;
    output.write_all(&(json.len() as u32).to_le_bytes())?;
    output.write_all(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rows: i32, cols: i32) -> Frame {
        let rgb = Mat::new_rows_cols_with_default(rows, cols, CV_8UC3, Scalar::all(7.0)).unwrap();
        Frame { index: 3, timestamp_ms: 120, rgb }
    }

    #[test]
    fn messages_survive_the_trip() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &frame(2, 3)).unwrap();
        write_end(&mut wire, 9).unwrap();
        write_error(&mut wire, &VideoError::Empty).unwrap();
        let mut input = wire.as_slice();
        let max = MaxFrame { rows: 2, cols: 3 };
        let Message::Frame(read_frame) = read(&mut input, max).unwrap() else { panic!("a frame") };
        assert_eq!((read_frame.index, read_frame.timestamp_ms), (3, 120));
        assert_eq!(read_frame.rgb.data_bytes().unwrap(), frame(2, 3).rgb.data_bytes().unwrap());
        assert!(matches!(read(&mut input, max).unwrap(), Message::End(9)));
        assert!(matches!(read(&mut input, max).unwrap(), Message::Failed(VideoError::Empty)));
    }

    /// A child that claims a frame larger than the video gets no buffer for it.
    #[test]
    fn frames_larger_than_the_video_are_refused_unread() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &frame(4, 3)).unwrap();
        let error = read(&mut wire.as_slice(), MaxFrame { rows: 2, cols: 3 }).err().expect("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let mut garbage: &[u8] = b"Zjunk";
        assert!(read(&mut garbage, MaxFrame { rows: 2, cols: 3 }).is_err());
    }
}
