//! The packed model file: a header, the tokenizer's pieces and normalisation map, and a
//! directory of tensors (f32, or Q4_0: per 32 weights an f16 scale and 16 bytes of nibbles).
//! Every count and offset is checked against the file before it is used, so a truncated or
//! foreign file is an error naming what is wrong, never a panic or a huge allocation.

use std::collections::HashMap;
use std::ops::Range;

const MAGIC: &[u8; 4] = b"E5S1";
const VERSION: u32 = 1;
/// Weights per Q4_0 block.
pub const QK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 32 nibbles.
pub const Q4_BLOCK_BYTES: usize = 18;

const DTYPE_F32: u8 = 0;
const DTYPE_Q4: u8 = 1;

/// The network's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub eps: f32,
}

/// The tokenizer's tables as stored.
pub struct Vocabulary {
    /// Piece bytes, concatenated; piece `i` is `blob[offsets[i]..offsets[i + 1]]`.
    pub blob: Vec<u8>,
    pub offsets: Vec<usize>,
    pub scores: Vec<f32>,
    pub bos: u32,
    pub eos: u32,
    pub unk: u32,
    /// Code point -> its replacement (possibly empty), as pairs sorted by code point.
    pub normalisation: Vec<(char, Vec<char>)>,
}

/// The parsed file: tensors are byte ranges into it, read by name.
pub struct Parsed {
    pub header: Header,
    pub vocabulary: Vocabulary,
    tensors: HashMap<String, Tensor>,
}

struct Tensor {
    dtype: u8,
    elements: usize,
    bytes: Range<usize>,
}

pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err("it does not start with the E5S1 magic".into());
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!("format version {version}, expected {VERSION}"));
    }
    let header = Header {
        hidden: r.count("hidden size", 4096)?,
        layers: r.count("layers", 64)?,
        heads: r.count("attention heads", 64)?,
        ffn: r.count("feed-forward size", 16384)?,
        vocab: r.count("vocabulary size", 1 << 22)?,
        max_positions: r.count("positions", 8192)?,
        type_vocab: r.count("token types", 16)?,
        eps: r.f32()?,
    };
    let qk = r.i32()?;
    let h = &header;
    if !h.hidden.is_multiple_of(QK)
        || !h.ffn.is_multiple_of(QK)
        || !h.hidden.is_multiple_of(h.heads)
        || h.max_positions < 3
    {
        return Err(format!("inconsistent shape {h:?}"));
    }
    if qk != QK as i32 {
        return Err(format!("block size {qk}, expected {QK}"));
    }
    if !(h.eps.is_finite() && h.eps > 0.0) {
        return Err(format!("layer-norm epsilon {}", h.eps));
    }
    let vocabulary = vocabulary(&mut r, h.vocab)?;
    let tensors = directory(&mut r, bytes.len())?;
    Ok(Parsed {
        header,
        vocabulary,
        tensors,
    })
}

fn vocabulary(r: &mut Reader<'_>, vocab: usize) -> Result<Vocabulary, String> {
    let n = r.count("pieces", vocab)?;
    let mut special = || -> Result<u32, String> {
        let id = r.i32()?;
        u32::try_from(id)
            .ok()
            .filter(|&id| (id as usize) < n)
            .ok_or_else(|| format!("special token id {id} outside the {n} pieces"))
    };
    // The padding id is checked but not kept: padding is masked out, never looked up.
    let (bos, eos, _pad, unk) = (special()?, special()?, special()?, special()?);
    let blob_len = usize::try_from(r.u64()?).map_err(|_| "piece bytes too long")?;
    let offsets: Vec<usize> = r
        .take(n.checked_add(1).ok_or("too many pieces")? * 4)?
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.last() > Some(&blob_len) {
        return Err("piece offsets out of order or past the piece bytes".into());
    }
    let scores: Vec<f32> = r.take(n * 4)?.chunks_exact(4).map(f32_le).collect();
    if scores.iter().any(|s| !s.is_finite()) {
        return Err("a piece score is not a finite number".into());
    }
    let blob = r.take(blob_len)?.to_vec();

    let entries = r.i32()?;
    let map_len = r.u32()? as usize;
    let mut m = Reader {
        bytes: r.take(map_len)?,
        at: 0,
    };
    let entries = usize::try_from(entries).map_err(|_| "negative normalisation entries")?;
    let mut normalisation = Vec::with_capacity(entries.min(map_len / 5));
    for _ in 0..entries {
        let from = char_at(m.u32()?)?;
        let count = m.take(1)?[0] as usize;
        let to = m
            .take(count * 4)?
            .chunks_exact(4)
            .map(|b| char_at(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect::<Result<Vec<char>, String>>()?;
        normalisation.push((from, to));
    }
    normalisation.sort_by_key(|(from, _)| *from);
    Ok(Vocabulary {
        blob,
        offsets,
        scores,
        bos,
        eos,
        unk,
        normalisation,
    })
}

fn directory(r: &mut Reader<'_>, file_len: usize) -> Result<HashMap<String, Tensor>, String> {
    let n = r.count("tensors", 100_000)?;
    let mut tensors = HashMap::with_capacity(n);
    for _ in 0..n {
        let name_len = usize::from(r.u16()?);
        let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        let dtype = r.take(1)?[0];
        let elements = r.u32()? as usize;
        let offset = usize::try_from(r.u64()?).map_err(|_| "tensor offset too large")?;
        let len = usize::try_from(r.u64()?).map_err(|_| "tensor size too large")?;
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= file_len)
            .ok_or_else(|| format!("tensor {name} ends past the end of the file (truncated?)"))?;
        tensors.insert(
            name,
            Tensor {
                dtype,
                elements,
                bytes: offset..end,
            },
        );
    }
    Ok(tensors)
}

impl Parsed {
    /// The bytes of a Q4_0 tensor of `elements` weights.
    pub fn q4<'a>(&self, file: &'a [u8], name: &str, elements: usize) -> Result<&'a [u8], String> {
        self.tensor(
            file,
            name,
            DTYPE_Q4,
            elements,
            elements / QK * Q4_BLOCK_BYTES,
        )
    }

    /// Where a Q4_0 tensor lies in the file.
    pub fn q4_range(&self, name: &str, elements: usize) -> Result<Range<usize>, String> {
        self.check(name, DTYPE_Q4, elements, elements / QK * Q4_BLOCK_BYTES)
            .map(|t| t.bytes.clone())
    }

    /// An f32 tensor of `elements` values.
    pub fn f32s(&self, file: &[u8], name: &str, elements: usize) -> Result<Vec<f32>, String> {
        Ok(self
            .tensor(file, name, DTYPE_F32, elements, elements * 4)?
            .chunks_exact(4)
            .map(f32_le)
            .collect())
    }

    fn tensor<'a>(
        &self,
        file: &'a [u8],
        name: &str,
        dtype: u8,
        elements: usize,
        len: usize,
    ) -> Result<&'a [u8], String> {
        let t = self.check(name, dtype, elements, len)?;
        file.get(t.bytes.clone())
            .ok_or_else(|| format!("tensor {name} lies outside the file"))
    }

    fn check(&self, name: &str, dtype: u8, elements: usize, len: usize) -> Result<&Tensor, String> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| format!("tensor {name} is missing"))?;
        if t.dtype != dtype || t.elements != elements || t.bytes.len() != len {
            return Err(format!(
                "tensor {name} has type {} and {} values in {} bytes, expected type {dtype} and {elements} values in {len} bytes",
                t.dtype,
                t.elements,
                t.bytes.len()
            ));
        }
        Ok(t)
    }
}

/// Dequantises Q4_0 blocks into `out` (32 values per block): byte `j` of a block holds weight
/// `j` in its low nibble and weight `j + 16` in its high one, each `(q - 8) * scale`.
pub fn dequantise_q4(blocks: &[u8], out: &mut [f32]) {
    for (block, out) in blocks
        .chunks_exact(Q4_BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK))
    {
        let scale = half::f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
        let (low, high) = out.split_at_mut(QK / 2);
        for ((byte, lo), hi) in block[2..].iter().zip(low).zip(high) {
            *lo = (f32::from(byte & 0x0f) - 8.0) * scale;
            *hi = (f32::from(byte >> 4) - 8.0) * scale;
        }
    }
}

fn f32_le(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn char_at(cp: u32) -> Result<char, String> {
    char::from_u32(cp).ok_or_else(|| format!("normalisation map holds {cp:#x}, not a character"))
}

/// Little-endian reads that fail instead of running past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "it ends early (needed {n} bytes at offset {}, {} left; truncated?)",
                    self.at,
                    self.bytes.len().saturating_sub(self.at)
                )
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        self.u32().map(|v| i32::from_le_bytes(v.to_le_bytes()))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    fn f32(&mut self) -> Result<f32, String> {
        self.take(4).map(f32_le)
    }

    /// A positive i32 no larger than `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, String> {
        let v = self.i32()?;
        usize::try_from(v)
            .ok()
            .filter(|v| (1..=max).contains(v))
            .ok_or_else(|| format!("{what} is {v}, expected 1..={max}"))
    }
}
