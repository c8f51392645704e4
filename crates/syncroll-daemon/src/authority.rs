//! Serves gRPC clients that send the socket's path as the HTTP/2
//! `:authority`.
//!
//! gRPC C-core (Python's grpcio, Ruby, PHP, C++) and grpc-swift connect to
//! `unix:/run/x.sock` with `:authority` set to the percent-encoded path
//! (`run%2Fx.sock`). That is no valid `host[:port]`, and the HTTP/2 layer
//! under tonic (h2) answers such a request with `RST_STREAM(PROTOCOL_ERROR)`
//! before any service sees it; nothing above h2 can intervene, and h2 has no
//! switch for it. So every connection's client-to-daemon bytes pass through
//! [`LocalAuthority`], which rewrites each header block that carries an
//! authority h2 would refuse to `localhost` (what grpc-go, grpc-java, .NET
//! and Dart send on a Unix socket, and what an authority on one means).
//!
//! Header blocks are HPACK-compressed against a table the client and the
//! receiver keep in step, so a block cannot be edited in place: every block
//! is decoded here (keeping the client's table) and encoded again as plain
//! literals that add nothing to h2's table, so the two never disagree.
//! Everything else (the preface, DATA, SETTINGS, PING...) passes unchanged,
//! and the daemon-to-client direction is not touched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use loona_hpack::Decoder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::codegen::http::uri::Authority;
use tonic::transport::server::{Connected, UdsConnectInfo};

/// What replaces an authority h2 would refuse.
const LOCAL_AUTHORITY: &[u8] = b"localhost";

/// The client connection preface that precedes the first frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Frames re-encoded here are cut to this payload size, the least every
/// HTTP/2 peer accepts (SETTINGS_MAX_FRAME_SIZE's minimum).
const MAX_FRAME_PAYLOAD: usize = 16_384;

/// The HPACK table size a client may use: the HTTP/2 default, which the
/// daemon's h2 server never raises.
const HEADER_TABLE_SIZE: usize = 4096;

/// A frame larger than any HTTP/2 peer may send (2^24 - 1): the stream is
/// not HTTP/2, and is cut off rather than buffered.
const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// A control connection whose incoming header blocks carry an authority h2
/// accepts; see the module docs.
#[derive(Debug)]
pub struct LocalAuthority<S = UnixStream> {
    inner: S,
    rewriter: HeaderRewriter,
    /// Rewritten bytes not yet handed to the reader.
    ready: Vec<u8>,
    ready_from: usize,
}

impl<S> LocalAuthority<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rewriter: HeaderRewriter::default(),
            ready: Vec::new(),
            ready_from: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LocalAuthority<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.ready_from == this.ready.len() {
            this.ready.clear();
            this.ready_from = 0;
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
            this.rewriter.feed(read.filled(), &mut this.ready)?;
        }
        let pending = &this.ready[this.ready_from..];
        let n = pending.len().min(buf.remaining());
        buf.put_slice(&pending[..n]);
        this.ready_from += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LocalAuthority<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Connected for LocalAuthority<UnixStream> {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// The client-to-server byte stream, frame by frame: header blocks decoded
/// and encoded again (their authority mended), everything else as it came.
struct HeaderRewriter {
    decoder: Decoder<'static>,
    /// Bytes received and not yet a whole preface or frame.
    input: Vec<u8>,
    preface_done: bool,
    /// A header block whose CONTINUATION frames are still to come.
    open_block: Option<OpenBlock>,
}

impl std::fmt::Debug for HeaderRewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderRewriter")
            .field("buffered", &self.input.len())
            .field("preface_done", &self.preface_done)
            .finish_non_exhaustive()
    }
}

struct OpenBlock {
    stream_id: u32,
    /// The HEADERS frame's flags, padding and continuation aside.
    flags: u8,
    /// The HEADERS frame's priority fields, when it had them.
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
}

impl Default for HeaderRewriter {
    fn default() -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(HEADER_TABLE_SIZE);
        Self {
            decoder,
            input: Vec::new(),
            preface_done: false,
            open_block: None,
        }
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl HeaderRewriter {
    /// Takes `bytes` from the client and appends what h2 should read to
    /// `out`. An error means the stream is not HTTP/2 this can follow.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut input = std::mem::take(&mut self.input);
        input.extend_from_slice(bytes);
        let used = self.take_whole(&input, out)?;
        input.drain(..used);
        self.input = input;
        Ok(())
    }

    /// Takes the preface and every whole frame at the start of `input`;
    /// returns how many bytes that was.
    fn take_whole(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut at = 0;
        if !self.preface_done {
            if input.len() < PREFACE.len() {
                return Ok(0);
            }
            // A stream that is not HTTP/2 goes on untouched, for h2 to
            // refuse in its own words.
            self.preface_done = true;
            out.extend_from_slice(&input[..PREFACE.len()]);
            at = PREFACE.len();
        }
        while let Some((header, payload)) = frame_at(&input[at..])? {
            let len = FRAME_HEADER_LEN + payload.len();
            self.take_frame(Frame::parse(header, payload), &input[at..at + len], out)?;
            at += len;
        }
        Ok(at)
    }

    fn take_frame(&mut self, frame: Frame<'_>, raw: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match (frame.kind, self.open_block.is_some()) {
            (HEADERS, false) => self.open_block = Some(open_block(&frame)?),
            (CONTINUATION, true) => match &mut self.open_block {
                Some(block) if block.stream_id == frame.stream_id => {
                    block.fragment.extend_from_slice(frame.payload);
                }
                _ => return Err(invalid("a CONTINUATION frame of another stream")),
            },
            (_, true) => return Err(invalid("a header block was interrupted by another frame")),
            (_, false) => {
                out.extend_from_slice(raw);
                return Ok(());
            }
        }
        if frame.flags & END_HEADERS != 0
            && let Some(block) = self.open_block.take()
        {
            self.write_block(block, out)?;
        }
        Ok(())
    }

    /// Decodes a whole header block and writes it as HEADERS (and
    /// CONTINUATION) frames of plain literals, its authority mended.
    fn write_block(&mut self, block: OpenBlock, out: &mut Vec<u8>) -> io::Result<()> {
        let mut encoded = Vec::with_capacity(block.fragment.len() * 2);
        let mut fault = None;
        self.decoder
            .decode_with_cb(&block.fragment, |name, value| {
                let value = if &*name == b":authority" && !is_valid_authority(&value) {
                    LOCAL_AUTHORITY
                } else {
                    &value
                };
                if let Err(e) = encode_literal(&name, value, &mut encoded) {
                    fault = Some(e);
                }
            })
            .map_err(|e| invalid(format!("cannot decode a header block: {e:?}")))?;
        if let Some(e) = fault {
            return Err(e);
        }
        let mut prefix = Vec::new();
        let mut flags = block.flags & !(END_HEADERS | PADDED | PRIORITY);
        if let Some(priority) = block.priority {
            prefix.extend_from_slice(&priority);
            flags |= PRIORITY;
        }
        let first_room = MAX_FRAME_PAYLOAD - prefix.len();
        let (first, mut rest) = encoded.split_at(encoded.len().min(first_room));
        let last = rest.is_empty();
        write_frame(
            out,
            HEADERS,
            flags | if last { END_HEADERS } else { 0 },
            block.stream_id,
            &[&prefix, first],
        );
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(rest.len().min(MAX_FRAME_PAYLOAD));
            let flags = if after.is_empty() { END_HEADERS } else { 0 };
            write_frame(out, CONTINUATION, flags, block.stream_id, &[chunk]);
            rest = after;
        }
        Ok(())
    }
}

/// A frame's fields, its payload as sent (padding included).
struct Frame<'a> {
    kind: u8,
    flags: u8,
    stream_id: u32,
    payload: &'a [u8],
}

impl<'a> Frame<'a> {
    fn parse(header: &[u8], payload: &'a [u8]) -> Self {
        Self {
            kind: header[3],
            flags: header[4],
            stream_id: u32::from_be_bytes([header[5], header[6], header[7], header[8]])
                & 0x7fff_ffff,
            payload,
        }
    }
}

/// The frame at the start of `bytes`, as (header, payload), once it has
/// fully arrived.
fn frame_at(bytes: &[u8]) -> io::Result<Option<(&[u8], &[u8])>> {
    if bytes.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
    if len > MAX_FRAME_LEN {
        return Err(invalid("frame too large"));
    }
    if bytes.len() < FRAME_HEADER_LEN + len {
        return Ok(None);
    }
    let (header, rest) = bytes.split_at(FRAME_HEADER_LEN);
    Ok(Some((header, &rest[..len])))
}

/// A HEADERS frame's block fragment, padding removed and priority kept.
fn open_block(frame: &Frame<'_>) -> io::Result<OpenBlock> {
    let mut payload = frame.payload;
    if frame.flags & PADDED != 0 {
        let (&pad, rest) = payload
            .split_first()
            .ok_or_else(|| invalid("a padded HEADERS frame without its pad length"))?;
        let keep = rest
            .len()
            .checked_sub(usize::from(pad))
            .ok_or_else(|| invalid("HEADERS padding longer than the frame"))?;
        payload = &rest[..keep];
    }
    let mut priority = None;
    if frame.flags & PRIORITY != 0 {
        let (fields, rest) = payload
            .split_first_chunk::<5>()
            .ok_or_else(|| invalid("a HEADERS frame too short for its priority"))?;
        priority = Some(*fields);
        payload = rest;
    }
    Ok(OpenBlock {
        stream_id: frame.stream_id,
        flags: frame.flags,
        priority,
        fragment: payload.to_vec(),
    })
}

fn write_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream_id: u32, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream_id.to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// Whether h2 takes `value` as an authority.
fn is_valid_authority(value: &[u8]) -> bool {
    Authority::try_from(value).is_ok()
}

/// A header as a literal field without indexing and with a new name
/// (RFC 7541 §6.2.2), strings not Huffman-coded: it leaves the receiver's
/// dynamic table as it is.
fn encode_literal(name: &[u8], value: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    out.push(0x00);
    for string in [name, value] {
        loona_hpack::encoder::encode_integer_into(string.len(), 7, 0, out)?;
        out.extend_from_slice(string);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The first request grpcio 1.85 sends on `unix:/tmp/capdir/s.sock`,
    /// as captured: every header a literal with incremental indexing.
    const GRPCIO_HEADERS: &str = "40053a70617468062f612e422f43400a3a617574686f726974791\
        b746d702532466361706469722d696e707574253246732e736f636b8386400c636f6e74656e742d747\
        9706510617070\
        6c69636174696f6e2f67727063";

    /// A decoded header block: (name, value) pairs.
    type Block = Vec<(Vec<u8>, Vec<u8>)>;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, kind, flags, stream, &[payload]);
        out
    }

    /// Feeds `bytes` one at a time (the worst split a socket can make) and
    /// decodes the header blocks of the result as h2 would.
    fn through(bytes: &[u8]) -> (Vec<u8>, Vec<Block>) {
        through_in_chunks(bytes, 1)
    }

    fn through_in_chunks(bytes: &[u8], chunk: usize) -> (Vec<u8>, Vec<Block>) {
        let mut rewriter = HeaderRewriter::default();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            rewriter.feed(piece, &mut out).unwrap();
        }
        let mut h2 = Decoder::new();
        let mut blocks = Vec::new();
        let mut at = PREFACE.len();
        let mut block = Vec::new();
        while let Some((header, payload)) = frame_at(&out[at..]).unwrap() {
            let frame = Frame::parse(header, payload);
            if frame.kind == HEADERS || frame.kind == CONTINUATION {
                let skip = if frame.flags & PRIORITY != 0 { 5 } else { 0 };
                block.extend_from_slice(&payload[skip..]);
                if frame.flags & END_HEADERS != 0 {
                    blocks.push(h2.decode(&block).unwrap());
                    block.clear();
                }
            }
            at += FRAME_HEADER_LEN + payload.len();
        }
        (out, blocks)
    }

    fn authority(block: &[(Vec<u8>, Vec<u8>)]) -> &[u8] {
        &block.iter().find(|(n, _)| n == b":authority").unwrap().1
    }

    #[test]
    fn a_socket_path_authority_becomes_localhost_and_the_rest_stays() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[])); // SETTINGS
        input.extend(frame(HEADERS, END_HEADERS, 1, &hex(GRPCIO_HEADERS)));
        input.extend(frame(0x0, 0x1, 1, b"\0\0\0\0\0")); // DATA, END_STREAM
        // The second request refers to the first one's table entries.
        input.extend(frame(HEADERS, END_HEADERS, 3, &[0xbf, 0xbe, 0x83, 0x86]));
        let (out, blocks) = through(&input);
        assert!(out.starts_with(PREFACE));
        assert_eq!(blocks.len(), 2);
        for block in &blocks {
            assert_eq!(authority(block), b"localhost");
        }
        assert_eq!(blocks[0][0], (b":path".to_vec(), b"/a.B/C".to_vec()));
        assert!(blocks[1].contains(&(b"content-type".to_vec(), b"application/grpc".to_vec())));
        assert!(
            out.windows(5).any(|w| w == b"\0\0\0\0\0"),
            "DATA passes unchanged"
        );
    }

    #[test]
    fn a_valid_authority_is_kept_and_padding_priority_and_continuations_are_followed() {
        let mut block = Vec::new();
        encode_literal(b":authority", b"syncrolld.invalid", &mut block).unwrap();
        encode_literal(b":path", b"/x.Y/Z", &mut block).unwrap();
        let (head, tail) = block.split_at(7);
        let mut payload = vec![3u8]; // pad length
        payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
        payload.extend_from_slice(head);
        payload.extend_from_slice(&[0, 0, 0]);
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, PADDED | PRIORITY | 0x1, 5, &payload));
        input.extend(frame(CONTINUATION, END_HEADERS, 5, tail));
        let (out, blocks) = through(&input);
        assert_eq!(authority(&blocks[0]), b"syncrolld.invalid");
        let first = Frame::parse(&out[PREFACE.len()..][..9], &[]);
        assert_eq!(first.flags, PRIORITY | END_HEADERS | 0x1);
    }

    #[test]
    fn a_block_larger_than_a_frame_is_split_into_continuations() {
        let mut block = Vec::new();
        encode_literal(b":authority", b"%2Fx", &mut block).unwrap();
        encode_literal(b"x-big", &vec![b'v'; 40_000], &mut block).unwrap();
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &block));
        let (_, blocks) = through(&input);
        assert_eq!(authority(&blocks[0]), b"localhost");
        assert_eq!(blocks[0][1].1.len(), 40_000);
    }

    #[test]
    fn huffman_coded_values_are_decoded() {
        // RFC 7541 C.4.1: `:authority: www.example.com`, Huffman-coded, with
        // the name from the static table.
        let block = hex("828684418cf1e3c2e5f23a6ba0ab90f4ff");
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &block));
        let (_, blocks) = through(&input);
        assert_eq!(authority(&blocks[0]), b"www.example.com");
        assert_eq!(blocks[0][0], (b":method".to_vec(), b"GET".to_vec()));
    }

    fn header() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let name = prop::sample::select(vec![":authority", ":path", "content-type", "x-a", "te"]);
        let value = prop_oneof!["[a-z0-9.:-]{0,20}", "[%a-zA-Z0-9/._-]{0,30}", ".{0,10}",];
        (name, value).prop_map(|(n, v)| (n.as_bytes().to_vec(), v.into_bytes()))
    }

    proptest! {
        #[test]
        fn any_header_blocks_read_back_the_same_but_for_a_mended_authority(
            blocks in prop::collection::vec(prop::collection::vec(header(), 1..8), 1..6),
            chunk in 1usize..64,
        ) {
            // loona's encoder indexes every new header, so later blocks lean
            // on the client's dynamic table, as real clients' do.
            let mut encoder = loona_hpack::Encoder::new();
            let mut input = PREFACE.to_vec();
            for (i, block) in blocks.iter().enumerate() {
                let encoded = encoder.encode(block.iter().map(|(n, v)| (&n[..], &v[..])));
                input.extend(frame(HEADERS, END_HEADERS, 2 * i as u32 + 1, &encoded));
                input.extend(frame(0x0, 0x1, 2 * i as u32 + 1, b"body"));
            }
            let (_, seen) = through_in_chunks(&input, chunk);
            let wanted: Vec<Block> = blocks
                .into_iter()
                .map(|block| {
                    block
                        .into_iter()
                        .map(|(n, v)| match (&n[..], is_valid_authority(&v)) {
                            (b":authority", false) => (n, LOCAL_AUTHORITY.to_vec()),
                            _ => (n, v),
                        })
                        .collect()
                })
                .collect();
            prop_assert_eq!(seen, wanted);
        }
    }

    #[test]
    fn a_frame_interrupting_a_header_block_is_refused() {
        let mut rewriter = HeaderRewriter::default();
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, 0, 1, &[0x82]));
        input.extend(frame(0x0, 0, 1, b"x"));
        assert!(rewriter.feed(&input, &mut Vec::new()).is_err());
    }
}
