//! The column codec shared by segment blocks and checkpoint records: a run of
//! `u64` values stored as frame-of-reference or delta residuals, scaled by
//! their greatest common divisor, bit-packed at one width, with the few
//! residuals that do not fit that width patched in as exceptions.
//!
//! The encoder picks, per column, whichever of FOR, DELTA or ZIGZAG is
//! smallest and the width that minimises the total size. All arithmetic is
//! modulo 2^64, so any `u64` sequence round-trips (times are stored as
//! `i64 as u64`). Values: FOR `v[i] = base + scale*r[i]`; DELTA
//! `v[i] = v[i-1] + step + scale*r[i-1]`; ZIGZAG
//! `v[i] = v[i-1] + step + unzigzag(r[i-1])`; both delta modes start at
//! `v[0] = base`.
//!
//! Decoding is the hot path of every replay: 64 residuals (exactly `width`
//! 8-byte words) unpack as eight byte-aligned runs of eight, each value one
//! unaligned 8-byte load and a shift fixed by the width (monomorphised per
//! width); exceptions patch in 64 at a time. [`Column::constant`] and
//! [`Column::upper_bound`] let readers skip expanding or checking a column
//! whose header already says enough.
//!
//! Invariant: [`Column::parse`] and [`Column::decode`] never reads outside the slice it is given and never
//! panics, whatever the bytes; it checks every length against the slice
//! before reading and returns [`ColumnError`] naming the problem. The caller
//! maps that to `Error::Corrupt` with its file and offset.
//!
//! Layout of one column (little-endian), `m` residuals (`m = n` for FOR,
//! `n - 1` for DELTA and ZIGZAG, where `n` is the value count the caller knows):
//!
//! ```text
//! u8  mode        0 = FOR, 1 = DELTA, 2 = ZIGZAG (signed DELTA)
//! u8  width       bits per packed residual, 0..=64
//! u8  exc_width   bits of an exception's high part, 0..=64-width
//! u8  reserved    0
//! u32 exc_count   exceptions, <= m
//! u64 base        FOR: the minimum;  DELTA, ZIGZAG: the first value
//! u64 step        FOR: 0;  DELTA: the smallest difference;  ZIGZAG: the median difference
//! u64 scale       >= 1, every residual is multiplied by it (1 for ZIGZAG)
//! ..  lows        ceil(m*width/8) bytes: residual i's low bits at bit i*width, LSB first
//! ..  exc_index   ceil(exc_count*iw/8) bytes: strictly increasing residual indices, iw = bit length of m-1
//! ..  exc_high    ceil(exc_count*exc_width/8) bytes: residual >> width
//! ```

/// Bytes of a column header.
pub(crate) const COLUMN_HEADER_LEN: usize = 32;

const MODE_FOR: u8 = 0;
const MODE_DELTA: u8 = 1;
const MODE_ZIGZAG: u8 = 2;

#[inline]
fn zigzag(v: u64) -> u64 {
    let x = v as i64;
    ((x << 1) ^ (x >> 63)) as u64
}

#[inline]
fn unzigzag(r: u64) -> u64 {
    (r >> 1) ^ 0u64.wrapping_sub(r & 1)
}

/// Why a column failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnError(pub &'static str);

/// Bits needed to write `v` (0 for 0).
#[inline]
pub(crate) fn bit_len(v: u64) -> u32 {
    64 - v.leading_zeros()
}

#[inline]
fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Bytes taken by `count` values of `width` bits.
#[inline]
pub(crate) fn packed_len(count: usize, width: u32) -> usize {
    // count <= u32::MAX and width <= 64 in every caller, so this fits u64.
    ((count as u64 * u64::from(width)).div_ceil(8)) as usize
}

/// Appends `values`, each cut to `width` bits, LSB first.
pub(crate) fn pack(values: impl IntoIterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let m = mask(width);
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    for v in values {
        acc |= u128::from(v & m) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    let tail = bits.div_ceil(8) as usize;
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
}

/// Eight bytes at `pos`, zero-filled past the end of `bytes`.
#[inline(always)]
fn load_u64(bytes: &[u8], pos: usize) -> u64 {
    match bytes.get(pos..pos.wrapping_add(8)) {
        Some(s) => {
            let mut b = [0u8; 8];
            b.copy_from_slice(s);
            u64::from_le_bytes(b)
        }
        None => {
            let mut b = [0u8; 8];
            if let Some(s) = bytes.get(pos..) {
                let k = s.len().min(8);
                b[..k].copy_from_slice(&s[..k]);
            }
            u64::from_le_bytes(b)
        }
    }
}

/// Value `i` of a packed array of `width`-bit values (zero past the end).
#[inline(always)]
pub(crate) fn unpack_one(bytes: &[u8], width: u32, i: usize) -> u64 {
    if width == 0 {
        return 0;
    }
    let bit = i as u64 * u64::from(width);
    let byte = (bit >> 3) as usize;
    let shift = (bit & 7) as u32;
    let mut v = load_u64(bytes, byte) >> shift;
    if shift + width > 64 {
        let next = u64::from(bytes.get(byte + 8).copied().unwrap_or(0));
        v |= next << (64 - shift);
    }
    v & mask(width)
}

/// Unpacks 64 values of `W` bits from exactly `W` little-endian words,
/// adding `base` to each.
#[inline(always)]
fn unpack_block<const W: usize>(bytes: &[u8], base: u64, out: &mut [u64]) {
    let mut words = [0u64; W];
    for (w, c) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *w = u64::from_le_bytes(b);
    }
    let m = mask(W as u32);
    for (j, o) in out.iter_mut().take(64).enumerate() {
        let bit = j * W;
        let (wi, sh) = (bit / 64, bit % 64);
        let mut v = words[wi] >> sh;
        if sh + W > 64 && wi + 1 < W {
            v |= words[wi + 1] << (64 - sh);
        }
        *o = base.wrapping_add(v & m);
    }
}

/// Unpacks 64 values of `W <= 56` bits from `src`, which holds the
/// group's `W * 8` bytes and at least 8 more: eight runs of eight values,
/// each run starting on a byte boundary, and every value read with one
/// unaligned 8-byte load at an offset fixed by `W` (the loop over a run is
/// unrolled, so there is no per-value offset arithmetic or branch).
#[inline(always)]
fn unpack_group_padded<const W: usize>(src: &[u8], base: u64, out: &mut [u64]) {
    debug_assert!(W <= 56 && src.len() >= W * 8 + 8 && out.len() == 64);
    let m = mask(W as u32);
    for (run, o) in out.chunks_exact_mut(8).enumerate() {
        let Some(bytes) = src.get(run * W..run * W + W + 8) else {
            return;
        };
        for (k, v) in o.iter_mut().enumerate() {
            let (at, shift) = (k * W / 8, k * W % 8);
            let mut b = [0u8; 8];
            // In range: at + 8 <= 7 * W / 8 + 8 <= bytes.len() = W + 8.
            b.copy_from_slice(&bytes[at..at + 8]);
            *v = base.wrapping_add((u64::from_le_bytes(b) >> shift) & m);
        }
    }
}

/// Unpacks with the width known at compile time: whole groups of 64 values
/// (exactly `W` words each) through [`unpack_group_padded`] while 8 bytes
/// follow the group (a copy padded with zeros otherwise) or [`unpack_block`]
/// for widths above 56, the tail value by value.
fn unpack_fixed<const W: usize>(bytes: &[u8], base: u64, out: &mut [u64]) {
    let groups = out.len() / 64;
    for (g, o) in out.chunks_exact_mut(64).enumerate() {
        let start = g * W * 8;
        match bytes.get(start..start + W * 8) {
            Some(group) if W <= 56 => match bytes.get(start..start + W * 8 + 8) {
                Some(src) => unpack_group_padded::<W>(src, base, o),
                None => {
                    let mut padded = [0u8; 64 * 8 + 8];
                    padded[..W * 8].copy_from_slice(group);
                    unpack_group_padded::<W>(&padded[..W * 8 + 8], base, o);
                }
            },
            Some(b) => unpack_block::<W>(b, base, o),
            None => o.fill(base),
        }
    }
    for (i, o) in out.iter_mut().enumerate().skip(groups * 64) {
        *o = base.wrapping_add(unpack_one(bytes, W as u32, i));
    }
}

/// Unpacks `out.len()` values of `width` bits (zero past the end of `bytes`).
pub(crate) fn unpack(bytes: &[u8], width: u32, out: &mut [u64]) {
    unpack_plus(bytes, width, 0, out);
}

/// Unpacks `out.len()` values of `width` bits plus `base` (mod 2^64).
fn unpack_plus(bytes: &[u8], width: u32, base: u64, out: &mut [u64]) {
    macro_rules! dispatch {
        ($($w:literal)*) => {
            match width {
                0 => out.fill(base),
                $($w => unpack_fixed::<$w>(bytes, base, out),)*
                _ => {
                    for (i, o) in out.iter_mut().enumerate() {
                        *o = base.wrapping_add(unpack_one(bytes, width, i));
                    }
                }
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64);
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// A column ready to write: header fields plus residuals.
struct Plan {
    mode: u8,
    base: u64,
    step: u64,
    scale: u64,
    width: u32,
    exc_width: u32,
    exceptions: usize,
    bits: u64,
}

/// Best width for `residuals` (already divided by the scale): returns
/// `(width, exc_width, exceptions, total bits)`.
fn choose_width(residuals: impl Iterator<Item = u64>, m: usize) -> (u32, u32, usize, u64) {
    let mut hist = [0u64; 65];
    for r in residuals {
        hist[bit_len(r) as usize] += 1;
    }
    let max_len = (0..=64).rev().find(|&l| hist[l] > 0).unwrap_or(0) as u32;
    let iw = u64::from(bit_len(m.saturating_sub(1) as u64));
    let mut best = (max_len, 0u32, 0usize, m as u64 * u64::from(max_len));
    let mut above: u64 = 0; // residuals longer than the candidate width
    for w in (0..max_len).rev() {
        above += hist[w as usize + 1];
        let exc_width = max_len - w;
        let bits = m as u64 * u64::from(w) + above * (iw + u64::from(exc_width));
        if bits < best.3 {
            best = (w, exc_width, above as usize, bits);
        }
    }
    best
}

fn plan_for(values: &[u64]) -> Plan {
    let base = values.iter().copied().min().unwrap_or(0);
    let scale = values
        .iter()
        .fold(0, |g, &v| if g == 1 { 1 } else { gcd(g, v - base) })
        .max(1);
    let (width, exc_width, exceptions, bits) =
        choose_width(values.iter().map(|&v| (v - base) / scale), values.len());
    Plan {
        mode: MODE_FOR,
        base,
        step: 0,
        scale,
        width,
        exc_width,
        exceptions,
        bits,
    }
}

/// Signed differences around their median, zig-zag coded: suits columns
/// that mostly climb by a steady step with rare jumps both ways (seqs with
/// late rows).
fn plan_zigzag(values: &[u64]) -> Plan {
    let base = values.first().copied().unwrap_or(0);
    let mut d: Vec<i64> = deltas(values).map(|d| d as i64).collect();
    let mid = d.len() / 2;
    let step = if d.is_empty() {
        0
    } else {
        *d.select_nth_unstable(mid).1 as u64
    };
    let m = values.len().saturating_sub(1);
    let (width, exc_width, exceptions, bits) =
        choose_width(deltas(values).map(|d| zigzag(d.wrapping_sub(step))), m);
    Plan {
        mode: MODE_ZIGZAG,
        base,
        step,
        scale: 1,
        width,
        exc_width,
        exceptions,
        bits,
    }
}

fn deltas(values: &[u64]) -> impl Iterator<Item = u64> + '_ {
    values.windows(2).map(|w| w[1].wrapping_sub(w[0]))
}

fn plan_delta(values: &[u64]) -> Plan {
    let base = values.first().copied().unwrap_or(0);
    let step = deltas(values).min().unwrap_or(0);
    let scale = deltas(values)
        .fold(0, |g, d| if g == 1 { 1 } else { gcd(g, d - step) })
        .max(1);
    let m = values.len().saturating_sub(1);
    let (width, exc_width, exceptions, bits) = choose_width(deltas(values).map(|d| (d - step) / scale), m);
    Plan {
        mode: MODE_DELTA,
        base,
        step,
        scale,
        width,
        exc_width,
        exceptions,
        bits,
    }
}

/// Appends the encoding of `values` to `out`. The decoder must be told
/// `values.len()`.
pub(crate) fn encode(values: &[u64], out: &mut Vec<u8>) {
    let f = plan_for(values);
    let plan = if values.len() > 1 {
        let d = plan_delta(values);
        let z = plan_zigzag(values);
        let best = if d.bits < f.bits { d } else { f };
        if z.bits < best.bits { z } else { best }
    } else {
        f
    };
    out.push(plan.mode);
    out.push(plan.width as u8);
    out.push(plan.exc_width as u8);
    out.push(0);
    out.extend_from_slice(&(plan.exceptions as u32).to_le_bytes());
    out.extend_from_slice(&plan.base.to_le_bytes());
    out.extend_from_slice(&plan.step.to_le_bytes());
    out.extend_from_slice(&plan.scale.to_le_bytes());
    let m = if plan.mode == MODE_FOR {
        values.len()
    } else {
        values.len() - 1
    };
    let residual = |i: usize| -> u64 {
        match plan.mode {
            MODE_FOR => (values[i] - plan.base) / plan.scale,
            MODE_DELTA => (values[i + 1].wrapping_sub(values[i]) - plan.step) / plan.scale,
            _ => zigzag(values[i + 1].wrapping_sub(values[i]).wrapping_sub(plan.step)),
        }
    };
    pack((0..m).map(residual), plan.width, out);
    let iw = bit_len(m.saturating_sub(1) as u64);
    let limit = mask(plan.width);
    let exceptions = || (0..m).map(residual).enumerate().filter(move |&(_, r)| r > limit);
    pack(exceptions().map(|(i, _)| i as u64), iw, out);
    // An exception exists only when width < 64, so the shift is in range.
    pack(exceptions().map(|(_, r)| r >> plan.width), plan.exc_width, out);
}

/// A parsed column header with its byte ranges, borrowed from the block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column<'a> {
    mode: u8,
    width: u32,
    exc_width: u32,
    exc_count: usize,
    base: u64,
    step: u64,
    scale: u64,
    /// Values in the column.
    n: usize,
    lows: &'a [u8],
    exc_index: &'a [u8],
    exc_high: &'a [u8],
}

/// The packed values of `width` bits from value `first` on (a multiple of
/// 64, so they start on a byte boundary).
fn exception_group(bytes: &[u8], width: u32, first: usize) -> &[u8] {
    bytes.get(first / 8 * width as usize..).unwrap_or_default()
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

impl<'a> Column<'a> {
    /// Parses a column of `n` values at the start of `bytes`; returns it and
    /// the bytes it took.
    pub(crate) fn parse(bytes: &'a [u8], n: usize) -> Result<(Column<'a>, usize), ColumnError> {
        let head = bytes
            .get(..COLUMN_HEADER_LEN)
            .ok_or(ColumnError("column header cut short"))?;
        let mode = head[0];
        let width = u32::from(head[1]);
        let exc_width = u32::from(head[2]);
        if mode > MODE_ZIGZAG {
            return Err(ColumnError("unknown column mode"));
        }
        if head[3] != 0 {
            return Err(ColumnError("reserved column byte is not zero"));
        }
        if width > 64 || width + exc_width > 64 {
            return Err(ColumnError("column bit width above 64"));
        }
        let exc_count = le_u32(head, 4).ok_or(ColumnError("column header cut short"))? as usize;
        let base = le_u64(head, 8).ok_or(ColumnError("column header cut short"))?;
        let step = le_u64(head, 16).ok_or(ColumnError("column header cut short"))?;
        let scale = le_u64(head, 24).ok_or(ColumnError("column header cut short"))?;
        if scale == 0 || (mode == MODE_ZIGZAG && scale != 1) {
            return Err(ColumnError("column scale is zero, or not one in zig-zag mode"));
        }
        let m = if mode == MODE_FOR { n } else { n.saturating_sub(1) };
        if mode != MODE_FOR && n == 0 {
            return Err(ColumnError("delta column with no values"));
        }
        if exc_count > m {
            return Err(ColumnError("more column exceptions than values"));
        }
        if exc_count > 0 && exc_width == 0 {
            return Err(ColumnError("column exceptions without high bits"));
        }
        let iw = bit_len(m.saturating_sub(1) as u64);
        let lows_len = packed_len(m, width);
        let idx_len = packed_len(exc_count, iw);
        let high_len = packed_len(exc_count, exc_width);
        let mut at = COLUMN_HEADER_LEN;
        let mut take = |len: usize| -> Result<&'a [u8], ColumnError> {
            let end = at
                .checked_add(len)
                .ok_or(ColumnError("column length overflows"))?;
            let s = bytes.get(at..end).ok_or(ColumnError("column data cut short"))?;
            at = end;
            Ok(s)
        };
        let lows = take(lows_len)?;
        let exc_index = take(idx_len)?;
        let exc_high = take(high_len)?;
        // Exception indices must be strictly increasing and in range.
        let mut prev: Option<u64> = None;
        let mut index = [0u64; 64];
        for first in (0..exc_count).step_by(64) {
            let len = (exc_count - first).min(64);
            unpack(exception_group(exc_index, iw, first), iw, &mut index[..len]);
            for &i in &index[..len] {
                if i >= m as u64 || prev.is_some_and(|p| i <= p) {
                    return Err(ColumnError("column exception index out of order or range"));
                }
                prev = Some(i);
            }
        }
        Ok((
            Column {
                mode,
                width,
                exc_width,
                exc_count,
                base,
                step,
                scale,
                n,
                lows,
                exc_index,
                exc_high,
            },
            at,
        ))
    }

    /// The length of the column of `n` values at the start of `bytes`,
    /// checking only its header and that its data fits: for a column a
    /// reader does not decode (the block crc already vouches for its bytes).
    pub(crate) fn skip(bytes: &[u8], n: usize) -> Result<usize, ColumnError> {
        let head = bytes
            .get(..COLUMN_HEADER_LEN)
            .ok_or(ColumnError("column header cut short"))?;
        let (mode, width, exc_width) = (head[0], u32::from(head[1]), u32::from(head[2]));
        if mode > MODE_ZIGZAG || width > 64 || width + exc_width > 64 {
            return Err(ColumnError("unknown column mode or bit width above 64"));
        }
        let exc_count = le_u32(head, 4).ok_or(ColumnError("column header cut short"))? as usize;
        let m = if mode == MODE_FOR { n } else { n.saturating_sub(1) };
        if exc_count > m {
            return Err(ColumnError("more column exceptions than values"));
        }
        let iw = bit_len(m.saturating_sub(1) as u64);
        let len = COLUMN_HEADER_LEN
            + packed_len(m, width)
            + packed_len(exc_count, iw)
            + packed_len(exc_count, exc_width);
        if len > bytes.len() {
            return Err(ColumnError("column data cut short"));
        }
        Ok(len)
    }

    /// The column's one value when every value is the same by construction
    /// (no bits per value, no exceptions, and no step between values).
    pub(crate) fn constant(&self) -> Option<u64> {
        (self.width == 0 && self.exc_count == 0 && (self.mode == MODE_FOR || self.step == 0))
            .then_some(self.base)
    }

    /// A bound no value of the column exceeds, read from its header: for a
    /// frame-of-reference column without exceptions, `base + scale * (2^width - 1)`;
    /// `None` for other columns (or if the bound overflows).
    pub(crate) fn upper_bound(&self) -> Option<u64> {
        if self.mode != MODE_FOR || self.exc_count > 0 {
            return None;
        }
        mask(self.width).checked_mul(self.scale)?.checked_add(self.base)
    }

    /// Decodes every value into `out` (resized to the column's length).
    pub(crate) fn decode(&self, out: &mut Vec<u64>) {
        // Every element is overwritten below, so a buffer of the right
        // length is reused as is.
        if out.len() != self.n {
            out.clear();
            out.resize(self.n, 0);
        }
        let m = if self.mode == MODE_FOR { self.n } else { self.n - 1 };
        let (base, step, scale) = (self.base, self.step, self.scale);
        // FOR columns of scale 1 (ids, states, error indices: most columns)
        // get their base added while unpacking.
        let fused = self.mode == MODE_FOR && scale == 1;
        let residuals: &mut [u64] = if self.mode == MODE_FOR { out } else { &mut out[1..] };
        unpack_plus(
            self.lows,
            self.width,
            if fused { base } else { 0 },
            &mut residuals[..m],
        );
        // Exceptions in groups of 64: a group's indices and high parts start
        // on a byte boundary, so each unpacks through the fixed-width path.
        let iw = bit_len(m.saturating_sub(1) as u64);
        let (mut index, mut high) = ([0u64; 64], [0u64; 64]);
        for first in (0..self.exc_count).step_by(64) {
            let len = (self.exc_count - first).min(64);
            unpack(exception_group(self.exc_index, iw, first), iw, &mut index[..len]);
            unpack(
                exception_group(self.exc_high, self.exc_width, first),
                self.exc_width,
                &mut high[..len],
            );
            for (&i, &h) in index[..len].iter().zip(&high[..len]) {
                if let Some(r) = residuals.get_mut(i as usize) {
                    // width + exc_width <= 64 was checked, so width < 64 here;
                    // the low bits hold less than 1 << width, so adding the
                    // high part equals or-ing it in, with or without the base.
                    *r = r.wrapping_add(h << (self.width & 63));
                }
            }
        }
        if self.mode == MODE_FOR {
            if !fused {
                out.iter_mut()
                    .for_each(|v| *v = base.wrapping_add(v.wrapping_mul(scale)));
            }
        } else if self.mode == MODE_DELTA {
            let mut acc = base;
            out[0] = base;
            for v in out[1..].iter_mut() {
                acc = acc.wrapping_add(step).wrapping_add(v.wrapping_mul(scale));
                *v = acc;
            }
        } else {
            let mut acc = base;
            out[0] = base;
            for v in out[1..].iter_mut() {
                acc = acc.wrapping_add(step).wrapping_add(unzigzag(*v));
                *v = acc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[u64]) {
        let mut buf = Vec::new();
        encode(values, &mut buf);
        buf.extend_from_slice(b"trailing");
        let (col, used) = Column::parse(&buf, values.len()).expect("parse");
        assert_eq!(&buf[used..], b"trailing");
        let mut out = Vec::new();
        col.decode(&mut out);
        assert_eq!(out, values);
    }

    #[test]
    fn pack_unpack_every_width() {
        // One group and a tail; whole groups only (the last one read from a
        // padded copy); several groups and a tail.
        for (w, len) in (0..=64u32).flat_map(|w| [(w, 77u64), (w, 64 * 3), (w, 64 * 5 + 9)]) {
            let vals: Vec<u64> = (0..len)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask(w))
                .collect();
            let mut buf = Vec::new();
            pack(vals.iter().copied(), w, &mut buf);
            assert_eq!(buf.len(), packed_len(vals.len(), w));
            let mut out = vec![0; vals.len()];
            unpack(&buf, w, &mut out);
            assert_eq!(out, vals, "width {w}");
            for (i, v) in vals.iter().enumerate() {
                assert_eq!(unpack_one(&buf, w, i), *v);
            }
        }
    }

    #[test]
    fn codec_edge_cases() {
        round_trip(&[]);
        round_trip(&[0]);
        round_trip(&[u64::MAX]);
        round_trip(&[u64::MAX, 0, u64::MAX, 1]);
        round_trip(&[i64::MIN as u64, i64::MAX as u64]);
        round_trip(&[5; 100]);
        round_trip(&(0..1000).map(|i| i * 1000).collect::<Vec<_>>());
        let mut skewed = vec![0u64; 500];
        skewed[17] = 3;
        skewed[499] = u32::MAX as u64;
        round_trip(&skewed);
    }

    #[test]
    fn exceptions_keep_columns_small() {
        let mut v = vec![0u64; 4096];
        v[100] = 9;
        v[200] = 7;
        let mut buf = Vec::new();
        encode(&v, &mut buf);
        assert!(buf.len() < COLUMN_HEADER_LEN + 16, "{} bytes", buf.len());
    }

    #[test]
    fn many_exceptions_round_trip() {
        // More than one group of 64 exceptions, the last group partial.
        let values: Vec<u64> = (0..4096u64)
            .map(|i| if i % 20 == 7 { (1 << 40) + i } else { i % 4 })
            .collect();
        let mut buf = Vec::new();
        encode(&values, &mut buf);
        let (col, _) = Column::parse(&buf, values.len()).expect("parse");
        assert!(
            col.exc_count > 64 && col.exc_count % 64 != 0,
            "{} exceptions",
            col.exc_count
        );
        round_trip(&values);
    }

    #[test]
    fn one_repeated_value_is_a_constant_column() {
        for (values, constant) in [
            (vec![7u64; 4096], Some(7)),
            (vec![0u64; 3], Some(0)),
            (vec![7, 7, 8], None),
            ((0..100).collect(), None),
        ] {
            let mut buf = Vec::new();
            encode(&values, &mut buf);
            let (col, _) = Column::parse(&buf, values.len()).expect("parse");
            assert_eq!(col.constant(), constant, "{values:?}");
            let max = values.iter().copied().max().unwrap_or(0);
            assert!(col.upper_bound().is_none_or(|b| b >= max), "{values:?}");
        }
    }

    proptest! {
        #[test]
        fn codec_round_trips(values in proptest::collection::vec(any::<u64>(), 0..200), small in proptest::collection::vec(0u64..50, 0..300)) {
            round_trip(&values);
            round_trip(&small);
            let mut sorted = small.clone();
            sorted.sort_unstable();
            round_trip(&sorted);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120), n in 0usize..40) {
            if let Ok((col, _)) = Column::parse(&bytes, n) {
                let mut out = Vec::new();
                col.decode(&mut out);
                prop_assert_eq!(out.len(), n);
                if let Some(bound) = col.upper_bound() {
                    prop_assert!(out.iter().all(|&x| x <= bound), "bound {} but decoded {:?}", bound, out);
                }
                if let Some(v) = col.constant() {
                    prop_assert!(out.iter().all(|&x| x == v), "constant {} but decoded {:?}", v, out);
                }
            }
        }
    }
}
