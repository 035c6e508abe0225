//! What a file is and what it holds: recognised by content (the `DICM` magic after the 128-byte
//! preamble, or a data set that starts as one), then its elements read into a tree of ranges
//! with every length, at every nesting level, within the bytes that remain (a flipped bit or a
//! cut file is an error here, never an allocation of a declared length).

use std::borrow::Cow;
use std::ops::Range;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;

/// How a file's bytes begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// 128-byte preamble, `DICM`, the file meta group.
    Preamble,
    /// `DICM` and the file meta group at offset 0 (no preamble).
    Magic,
    /// The file meta group at offset 0 without `DICM` (some old writers).
    MetaGroup,
    /// A bare data set in implicit VR little endian (no meta group: ACR-NEMA style exports).
    ImplicitDataSet,
}

/// The transfer syntax UIDs the structure check and the reader name.
pub mod uids {
    pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
    pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
    pub const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
    pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
}

/// Whether `head` (the first bytes of a file, 132 or more where the file has them) starts a
/// DICOM file, and how.
pub fn recognise(head: &[u8]) -> Option<Start> {
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Some(Start::Preamble);
    }
    if head.len() >= 4 && &head[..4] == b"DICM" {
        return Some(Start::Magic);
    }
    if head.len() < 8 {
        return None;
    }
    let group = u16::from_le_bytes([head[0], head[1]]);
    let element = u16::from_le_bytes([head[2], head[3]]);
    // Explicit VR little endian meta group: (0002,xxxx) then two upper-case VR letters.
    if group == 0x0002 && head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase() {
        return Some(Start::MetaGroup);
    }
    // A bare implicit VR little endian data set starts with a small element of group 0008
    // (0008,0005 Specific Character Set, 0008,0008 Image Type, 0008,0016 SOP Class UID ...)
    // whose 32-bit length is even and short.
    let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if group == 0x0008 && element < 0x0100 && length.is_multiple_of(2) && length < 1024 {
        return Some(Start::ImplicitDataSet);
    }
    None
}

/// A structural fault, as one line for an error message.
pub type Fault = String;

/// The encoding of a data set.
#[derive(Clone, Copy, Debug)]
struct Encoding {
    explicit: bool,
    little: bool,
}

/// Nesting deeper than this is not a CT image (its functional groups nest 3 deep).
const MAX_DEPTH: u32 = 16;

/// Whether an explicit VR has a 2-byte reserved field and a 32-bit length: every VR but the
/// 21 with a 16-bit length (PS3.5 7.1.2). An unknown VR counts as long, as dicom-rs reads it
/// (as UN), so the lengths checked are the lengths the parser will read.
fn long_vr(vr: [u8; 2]) -> bool {
    !matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// One element as read: its tag, its VR (the explicit one, else the dictionary's), where its
/// value is, and the items of a sequence or the fragments of encapsulated pixel data.
#[derive(Clone, Debug)]
pub struct Elem {
    pub tag: Tag,
    pub vr: Option<[u8; 2]>,
    pub value: Range<usize>,
    pub items: Vec<Vec<Elem>>,
    pub fragments: Vec<Range<usize>>,
}

/// A file's data set, every element within the bytes it has.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The transfer syntax UID.
    pub ts: String,
    /// Numbers little-endian (all but explicit VR big endian).
    pub little: bool,
    /// The bytes the elements' ranges index (the file, or a deflated data set inflated).
    pub data: Cow<'a, [u8]>,
    /// The data set's top-level elements (the file meta group left out).
    pub elements: Vec<Elem>,
}

/// A deflated data set inflates to at most this many times its size (deflate's own limit
/// is 1032; more is a bomb).
const MAX_INFLATE_RATIO: usize = 1032;

/// Read the element structure of a whole file (`bytes`, starting as `start` says): every
/// element's length within the bytes left at its level, sequences and items closed, the meta
/// group's length its elements' length. Nothing is allocated from a declared length.
pub fn parse(bytes: &[u8], start: Start) -> Result<Parsed<'_>, Fault> {
    let mut pos = match start {
        Start::Preamble => 132,
        Start::Magic => 4,
        Start::MetaGroup | Start::ImplicitDataSet => 0,
    };
    let mut ts = uids::IMPLICIT_VR_LE.to_string();
    if start != Start::ImplicitDataSet {
        // The file meta group: explicit VR little endian, group 0002 only, led by its length
        // (0002,0000), which parsers trust to find where the data set starts: it must be the
        // length of the elements that follow it in the group.
        let le = Encoding { explicit: true, little: true };
        let (first, next) = element(bytes, pos, bytes.len(), le, 0)?;
        if first.tag != Tag(0x0002, 0x0000) || first.value.len() != 4 {
            return Err(format!(
                "the file meta group does not start with its 4-byte length (0002,0000) but {}",
                first.tag
            ));
        }
        let v = first.value.start;
        let group_length = u32::from_le_bytes([bytes[v], bytes[v + 1], bytes[v + 2], bytes[v + 3]]);
        pos = next;
        let group_start = pos;
        while pos + 8 <= bytes.len() && u16::from_le_bytes([bytes[pos], bytes[pos + 1]]) == 0x0002 {
            let (e, next) = element(bytes, pos, bytes.len(), le, 0)?;
            if e.tag == Tag(0x0002, 0x0010) {
                ts = String::from_utf8_lossy(&bytes[e.value])
                    .trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace())
                    .to_string();
            }
            pos = next;
        }
        if (pos - group_start) as u64 != u64::from(group_length) {
            return Err(format!(
                "the file meta group's length (0002,0000) says {group_length} bytes, its elements take {}",
                pos - group_start
            ));
        }
    }
    let (enc, data): (Encoding, Cow<'_, [u8]>) = match ts.as_str() {
        uids::IMPLICIT_VR_LE => (Encoding { explicit: false, little: true }, Cow::Borrowed(bytes)),
        uids::EXPLICIT_VR_BE => (Encoding { explicit: true, little: false }, Cow::Borrowed(bytes)),
        uids::DEFLATED_EXPLICIT_VR_LE => {
            use std::io::Read as _;
            let rest = &bytes[pos..];
            let cap = rest.len().saturating_mul(MAX_INFLATE_RATIO) as u64;
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(rest)
                .take(cap + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("the deflated data set does not inflate: {e}"))?;
            if out.len() as u64 > cap {
                return Err(format!("the deflated data set inflates beyond {MAX_INFLATE_RATIO} times its size"));
            }
            pos = 0;
            (Encoding { explicit: true, little: true }, Cow::Owned(out))
        }
        // Every other transfer syntax (the compressed ones) encodes the data set in explicit VR
        // little endian.
        _ => (Encoding { explicit: true, little: true }, Cow::Borrowed(bytes)),
    };
    let (elements, stop) = walk(&data, pos, data.len(), enc, 0)?;
    if stop != data.len() {
        return Err(format!("a stray item delimiter at byte {stop} of the data set"));
    }
    Ok(Parsed { ts, little: enc.little, data, elements })
}

/// [`parse`], keeping only the transfer syntax UID.
pub fn check_structure(bytes: &[u8], start: Start) -> Result<String, Fault> {
    parse(bytes, start).map(|p| p.ts)
}

fn u16_at(b: &[u8], p: usize, little: bool) -> u16 {
    let v = [b[p], b[p + 1]];
    if little { u16::from_le_bytes(v) } else { u16::from_be_bytes(v) }
}

fn u32_at(b: &[u8], p: usize, little: bool) -> u32 {
    let v = [b[p], b[p + 1], b[p + 2], b[p + 3]];
    if little { u32::from_le_bytes(v) } else { u32::from_be_bytes(v) }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);

/// The elements from `pos` to `end` (a data set or an item's contents), and where they stop (at
/// `end`, or at an item delimiter, which the caller handles).
fn walk(b: &[u8], mut pos: usize, end: usize, enc: Encoding, depth: u32) -> Result<(Vec<Elem>, usize), Fault> {
    let mut out = Vec::new();
    while pos < end {
        if u16_at_checked(b, pos, end, enc.little)? == 0xFFFE {
            return Ok((out, pos));
        }
        let (e, next) = element(b, pos, end, enc, depth)?;
        out.push(e);
        pos = next;
    }
    Ok((out, pos))
}

fn u16_at_checked(b: &[u8], pos: usize, end: usize, little: bool) -> Result<u16, Fault> {
    if pos + 2 > end {
        return Err(format!("element header cut at byte {pos}"));
    }
    Ok(u16_at(b, pos, little))
}

/// One element at `pos`, and where the next element starts.
fn element(b: &[u8], pos: usize, end: usize, enc: Encoding, depth: u32) -> Result<(Elem, usize), Fault> {
    if pos + 8 > end {
        return Err(format!("element header cut at byte {pos} ({} bytes left)", end - pos));
    }
    let tag = Tag(u16_at(b, pos, enc.little), u16_at(b, pos + 2, enc.little));
    let (vr, length, value) = if enc.explicit && tag.0 != 0xFFFE {
        let vr = [b[pos + 4], b[pos + 5]];
        if long_vr(vr) {
            if pos + 12 > end {
                return Err(format!("element {tag} header cut at byte {pos}"));
            }
            (Some(vr), u32_at(b, pos + 8, enc.little), pos + 12)
        } else {
            (Some(vr), u32::from(u16_at(b, pos + 6, enc.little)), pos + 8)
        }
    } else {
        (None, u32_at(b, pos + 4, enc.little), pos + 8)
    };
    // The VR the value is read as: the explicit one, else the dictionary's.
    let vr: Option<[u8; 2]> = vr.or_else(|| match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(v)) => v.to_string().as_bytes().try_into().ok(),
        _ => None,
    });
    let sequence = vr.is_some_and(|v| &v == b"SQ");
    // A binary value whose length is not a whole number of its numbers is corrupt (parsers
    // that read whole numbers lose their place in the file).
    let size = match vr.as_ref().map(|v| &v[..]) {
        Some(b"SS" | b"US" | b"OW") => 2,
        Some(b"SL" | b"UL" | b"FL" | b"AT" | b"OL" | b"OF") => 4,
        Some(b"FD" | b"OD" | b"SV" | b"UV" | b"OV") => 8,
        _ => 1,
    };
    if length != UNDEFINED && length % size != 0 {
        return Err(format!("element {tag}: {length} bytes is not a whole number of {size}-byte values"));
    }
    let mut e = Elem { tag, vr, value: value..value, items: Vec::new(), fragments: Vec::new() };
    if length == UNDEFINED {
        if depth >= MAX_DEPTH {
            return Err(format!("sequences nested deeper than {MAX_DEPTH} at element {tag}"));
        }
        // A sequence, encapsulated pixel data, or (implicit VR) an unknown element of
        // undefined length, which only a sequence may be: items until the delimiter.
        let fragments = tag == Tag(0x7FE0, 0x0010);
        let (items, frags, next) = items(b, value, end, enc, depth + 1, fragments, true)?;
        (e.items, e.fragments) = (items, frags);
        e.value = value..next;
        return Ok((e, next));
    }
    let length = length as usize;
    if length > end - value {
        return Err(format!(
            "element {tag} declares {length} bytes where {} remain (a cut or corrupt file)",
            end - value
        ));
    }
    e.value = value..value + length;
    if sequence && length > 0 {
        if depth >= MAX_DEPTH {
            return Err(format!("sequences nested deeper than {MAX_DEPTH} at element {tag}"));
        }
        let (items, _, stop) = items(b, value, value + length, enc, depth + 1, false, false)?;
        if stop != value + length {
            return Err(format!("sequence {tag} ends at byte {stop}, its length says {}", value + length));
        }
        e.items = items;
    }
    Ok((e, value + length))
}

/// The items and fragments of a sequence, and where it ends.
type Items = (Vec<Vec<Elem>>, Vec<Range<usize>>, usize);

/// Items from `pos`: of a defined-length sequence (up to `end`) or an undefined-length one (up
/// to its delimiter, returning the position after it). `fragments`: the items are raw bytes
/// (encapsulated pixel data), not data sets; `undefined`: the sequence must end with its
/// delimiter.
fn items(
    b: &[u8],
    mut pos: usize,
    end: usize,
    enc: Encoding,
    depth: u32,
    fragments: bool,
    undefined: bool,
) -> Result<Items, Fault> {
    let (mut sets, mut frags) = (Vec::new(), Vec::new());
    loop {
        if pos == end {
            if undefined {
                return Err(format!("a sequence of undefined length is not closed before byte {end}"));
            }
            return Ok((sets, frags, pos));
        }
        if pos + 8 > end {
            return Err(format!("item header cut at byte {pos}"));
        }
        let tag = Tag(u16_at(b, pos, enc.little), u16_at(b, pos + 2, enc.little));
        let length = u32_at(b, pos + 4, enc.little);
        let value = pos + 8;
        match tag {
            SEQUENCE_END if undefined => return Ok((sets, frags, value)),
            ITEM if length == UNDEFINED && !fragments => {
                let (set, stop) = walk(b, value, end, enc, depth)?;
                if stop + 8 > end || Tag(u16_at(b, stop, enc.little), u16_at(b, stop + 2, enc.little)) != ITEM_END {
                    return Err(format!("item at byte {pos} is not closed"));
                }
                sets.push(set);
                pos = stop + 8;
            }
            ITEM if length != UNDEFINED => {
                let length = length as usize;
                if length > end - value {
                    return Err(format!("item at byte {pos} declares {length} bytes where {} remain", end - value));
                }
                if fragments {
                    frags.push(value..value + length);
                } else {
                    let (set, stop) = walk(b, value, value + length, enc, depth)?;
                    if stop != value + length {
                        return Err(format!("item at byte {pos} holds a stray delimiter at byte {stop}"));
                    }
                    sets.push(set);
                }
                pos = value + length;
            }
            _ => return Err(format!("expected an item at byte {pos}, found {tag}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_le(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        out.extend(vr);
        if long_vr(*vr) {
            out.extend([0, 0]);
            out.extend((value.len() as u32).to_le_bytes());
        } else {
            out.extend((value.len() as u16).to_le_bytes());
        }
        out.extend(value);
        out
    }

    fn file(ts: &str, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 128];
        out.extend(b"DICM");
        let mut uid = ts.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        let meta = explicit_le((0x0002, 0x0010), b"UI", &uid);
        out.extend(explicit_le((0x0002, 0x0000), b"UL", &(meta.len() as u32).to_le_bytes()));
        out.extend(meta);
        out.extend(body);
        out
    }

    #[test]
    fn recognises_by_content() {
        let f = file(uids::EXPLICIT_VR_LE, &[]);
        assert_eq!(recognise(&f), Some(Start::Preamble));
        assert_eq!(recognise(&f[128..]), Some(Start::Magic));
        assert_eq!(recognise(&f[132..]), Some(Start::MetaGroup));
        // (0008,0016) implicit, length 26.
        let bare = [0x08, 0x00, 0x16, 0x00, 26, 0, 0, 0, b'1', b'.'];
        assert_eq!(recognise(&bare), Some(Start::ImplicitDataSet));
        assert_eq!(recognise(b"\0\0\0\0\0\0\0\0\0\0"), None);
        assert_eq!(recognise(b"Bud1 .DS_Store junk"), None);
        assert_eq!(recognise(b"hello, this is text"), None);
        assert_eq!(recognise(&[]), None);
    }

    #[test]
    fn structure_checks_lengths_at_every_level() {
        let rows = explicit_le((0x0028, 0x0010), b"US", &[2, 0]);
        let ok = file(uids::EXPLICIT_VR_LE, &rows);
        assert_eq!(check_structure(&ok, Start::Preamble).as_deref(), Ok(uids::EXPLICIT_VR_LE));
        // A cut file: the last element's value missing.
        assert!(check_structure(&ok[..ok.len() - 1], Start::Preamble).is_err());
        // A meta group length that is not its elements' length.
        let mut bad = ok.clone();
        bad[140] += 2;
        let err = check_structure(&bad, Start::Preamble).expect_err("a fault");
        assert!(err.contains("(0002,0000) says"), "{err}");
        // A corrupt 32-bit length.
        let mut big = explicit_le((0x0028, 0x0010), b"OB", &[0; 4]);
        big[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let err = check_structure(&file(uids::EXPLICIT_VR_LE, &big), Start::Preamble).expect_err("a fault");
        assert!(err.contains("4294967280 bytes"), "{err}");
        // A defined-length sequence whose item claims more than the sequence holds.
        let mut item = Vec::new();
        item.extend(0xFFFEu16.to_le_bytes());
        item.extend(0xE000u16.to_le_bytes());
        item.extend(100u32.to_le_bytes());
        let seq = explicit_le((0x5200, 0x9230), b"SQ", &item);
        let err = check_structure(&file(uids::EXPLICIT_VR_LE, &seq), Start::Preamble).expect_err("a fault");
        assert!(err.contains("item at byte"), "{err}");
        // An undefined-length sequence never closed.
        let mut open = explicit_le((0x5200, 0x9230), b"SQ", &[]);
        open[8..12].copy_from_slice(&UNDEFINED.to_le_bytes());
        assert!(check_structure(&file(uids::EXPLICIT_VR_LE, &open), Start::Preamble).is_err());
    }

    #[test]
    fn an_unknown_vr_has_a_long_length_as_the_parser_reads_it() {
        // (0008,4422) with VR "A\0": dicom-rs reads it as UN, a 32-bit length after two
        // reserved bytes; here that length is 875704370 (the bytes of "2024").
        let mut e = vec![0x08, 0x00, 0x22, 0x44, b'A', 0x00, 0x08, 0x00];
        e.extend(b"20240102");
        let err = check_structure(&file(uids::EXPLICIT_VR_LE, &e), Start::Preamble).expect_err("a fault");
        assert!(err.contains("875704370"), "{err}");
    }

    #[test]
    fn binary_values_are_whole_numbers() {
        // (0020,0010) as SL (4-byte values) with 2 bytes: the parser would lose its place.
        let e = explicit_le((0x0020, 0x0010), b"SL", b"1 ");
        let err = check_structure(&file(uids::EXPLICIT_VR_LE, &e), Start::Preamble).expect_err("a fault");
        assert!(err.contains("not a whole number of 4-byte values"), "{err}");
        let ok = explicit_le((0x0020, 0x0010), b"SH", b"1 ");
        assert!(check_structure(&file(uids::EXPLICIT_VR_LE, &ok), Start::Preamble).is_ok());
    }

    #[test]
    fn nesting_is_capped() {
        // 40 undefined-length sequences inside each other: an error, not a stack overflow.
        let mut body = Vec::new();
        for _ in 0..40 {
            let mut seq = explicit_le((0x5200, 0x9230), b"SQ", &[]);
            seq[8..12].copy_from_slice(&UNDEFINED.to_le_bytes());
            body.extend(seq);
            body.extend(0xFFFEu16.to_le_bytes());
            body.extend(0xE000u16.to_le_bytes());
            body.extend(UNDEFINED.to_le_bytes());
        }
        let err = check_structure(&file(uids::EXPLICIT_VR_LE, &body), Start::Preamble).expect_err("a fault");
        assert!(err.contains("nested deeper"), "{err}");
    }
}
