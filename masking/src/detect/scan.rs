//! What the detectors share: boundaries, full-width digits, context words, and a search
//! loop that retries one character later when a match is refused.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::pi_type::PiType;

/// The current calendar year (UTC), bounding birth years.
pub fn current_year() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // 365.2425 days a year on average; a day either side of New Year does not matter here.
    u32::try_from(1970 + secs / 31_556_952).unwrap_or(2100)
}

/// `[0-9０-９]`: a digit as typed, in ASCII or full width (CJK input methods).
pub const D: &str = "[0-9０-９]";

/// Whether `c` is a digit as typed ([`D`]): ASCII or full width.
pub fn typed_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// Whether `c` is an ASCII letter or digit, or a full-width digit: a character that would
/// continue an identifier.
pub fn continues(c: char) -> bool {
    c.is_ascii_alphabetic() || typed_digit(c)
}

/// Whether the identifier at `start..end` stands alone: no letter or digit touches it, no
/// `@` either (it would be part of an e-mail address), and it is not glued to a masked
/// value (see [`glued`]).
pub fn bounded(text: &str, start: usize, end: usize) -> bool {
    let bytes = text.as_bytes();
    // A full-width digit is the three bytes EF BC 90..99.
    let digit_at = |at: usize| {
        bytes
            .get(at..at + 3)
            .is_some_and(|c| c[0] == 0xEF && c[1] == 0xBC && (0x90..=0x99).contains(&c[2]))
    };
    let before = match start.checked_sub(1).map(|i| bytes[i]) {
        Some(b) if b < 0x80 => b.is_ascii_alphanumeric() || b == b'@',
        Some(_) => start >= 3 && digit_at(start - 3),
        None => false,
    };
    let after = match bytes.get(end) {
        Some(&b) if b < 0x80 => b.is_ascii_alphanumeric() || b == b'@',
        Some(_) => digit_at(end),
        None => false,
    };
    // Only a `*` right beside the identifier can glue it.
    let star = start > 0 && bytes[start - 1] == b'*' || bytes.get(end) == Some(&b'*');
    !(before || after || star && glued(text, start, end))
}

/// Whether `start..end` touches a run of `*` that is the inside of a masked value
/// (`E*****982`, `z***@qq.com`, a landline's `(021)****0574` or `024 ***0824`), whose kept
/// characters are not an identifier of their own. Such a run is four stars or more
/// (Markdown's emphasis takes one to three), or has beyond it a character an identifier is
/// made of (a letter, a digit, or `@ . - _ : / + #`), or, before the span, what ends the
/// first part of a masked number: a closing bracket, or a space and then a digit, a `*` or
/// a closing bracket. A shorter run with only space or punctuation beyond it (Markdown's
/// `**13800138000**`) does not glue.
pub fn glued(text: &str, start: usize, end: usize) -> bool {
    // Most spans have no `*` beside them: nothing to read.
    let bytes = text.as_bytes();
    if !(start > 0 && bytes[start - 1] == b'*' || bytes.get(end) == Some(&b'*')) {
        return false;
    }
    let closing = |c: char| matches!(c, ')' | '）');
    let digit_or_star = |c: char| typed_digit(c) || c == '*';
    let beyond = |chars: &mut dyn Iterator<Item = char>, before_span: bool| {
        let mut chars = chars.peekable();
        let mut stars = 0;
        while chars.next_if_eq(&'*').is_some() {
            stars += 1;
        }
        stars > 0
            && (stars >= 4
                || chars.next().is_some_and(|c| {
                    c.is_alphanumeric()
                        || "@.-_:/+#".contains(c)
                        || before_span
                            && (closing(c)
                                || matches!(c, ' ' | '\u{3000}')
                                    && chars.next().is_some_and(|d| digit_or_star(d) || closing(d)))
                }))
    };
    beyond(&mut text[..start].chars().rev(), true) || beyond(&mut text[end..].chars(), false)
}

/// The letters and digits of `s`, full-width digits folded to ASCII and ASCII letters
/// upper-cased; separators dropped. (Detectors apply it to spans of ASCII letters, digits
/// and separators; operators to whole values, whose other letters, such as a plate's
/// province, stay.) Borrowed when `s` is compact already (ASCII digits and capitals only,
/// as most numbers are written).
pub fn compact(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'Z')) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter_map(|c| match c {
                '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
                c if c.is_alphanumeric() => Some(c.to_ascii_uppercase()),
                _ => None,
            })
            .collect(),
    )
}

/// An identifier compacted (see [`compact_span`]): the text itself, short ASCII on the
/// stack, or a string.
pub enum Compacted<'a> {
    /// The span as written: ASCII letters and digits only.
    Borrowed(&'a str),
    /// Up to [`Compacted::STACK`] ASCII letters and digits.
    Stack([u8; Compacted::STACK], usize),
    /// Anything else.
    Owned(String),
}

impl Compacted<'_> {
    /// How many characters fit on the stack: more than any identifier a detector checks.
    const STACK: usize = 32;
}

impl std::ops::Deref for Compacted<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Compacted::Borrowed(s) => s,
            // Only ASCII is put there, which is UTF-8.
            Compacted::Stack(bytes, len) => std::str::from_utf8(&bytes[..*len]).unwrap_or(""),
            Compacted::Owned(s) => s,
        }
    }
}

/// The identifier at `start..end` with separators dropped and full-width digits folded, as
/// [`compact`] gives it, without allocating in the common cases: borrowed when it is
/// already plain ASCII letters and digits (kept in their case), on the stack when it
/// compacts to a few ASCII letters and digits.
pub fn compact_span(text: &str, start: usize, end: usize) -> Compacted<'_> {
    let raw = &text[start..end];
    // Most spans asked about are runs of ASCII digits: checked eight bytes at a time.
    let mut eights = raw.as_bytes().chunks_exact(8);
    let digits =
        eights.by_ref().all(eight_digits) && eights.remainder().iter().all(u8::is_ascii_digit);
    if digits || raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Compacted::Borrowed(raw);
    }
    let mut bytes = [0; Compacted::STACK];
    let mut len = 0;
    for c in raw.chars() {
        let b = match c {
            '0'..='9' | 'A'..='Z' | 'a'..='z' => c.to_ascii_uppercase() as u8,
            '０'..='９' => b'0' + (u32::from(c) - u32::from('０')) as u8,
            c if c.is_alphanumeric() => return Compacted::Owned(compact(raw).into_owned()),
            _ => continue,
        };
        let Some(slot) = bytes.get_mut(len) else {
            return Compacted::Owned(compact(raw).into_owned());
        };
        *slot = b;
        len += 1;
    }
    Compacted::Stack(bytes, len)
}

/// Words that, shortly before a number, say what it is: looked for, ignoring ASCII case,
/// only where the two bytes that begin one occur.
pub struct ContextWords {
    /// The words, lower-case.
    words: &'static [&'static str],
    /// One bit per pair of bytes (see [`pair`]): set for the first two bytes of a word in
    /// either ASCII case, and for a word of one byte, for that byte before any other (or
    /// before the window's end, which reads as byte 0).
    pairs: Box<[u64; 1024]>,
}

/// The key of the bytes `a`, `b` in [`ContextWords`]'s pairs.
fn pair(a: u8, b: u8) -> usize {
    usize::from(a) << 8 | usize::from(b)
}

impl ContextWords {
    /// The context words `words` (lower-case).
    pub fn new(words: &'static [&'static str]) -> ContextWords {
        let mut pairs = Box::new([0u64; 1024]);
        let mut set = |key: usize| pairs[key / 64] |= 1 << (key % 64);
        for w in words.iter().map(|w| w.as_bytes()) {
            // A byte in each ASCII case (twice the same for any other byte).
            let cases = |b: u8| [b.to_ascii_lowercase(), b.to_ascii_uppercase()];
            match *w {
                [a, b, ..] => {
                    for a in cases(a) {
                        cases(b).into_iter().for_each(|b| set(pair(a, b)));
                    }
                }
                [a] => {
                    for a in cases(a) {
                        (0..=u8::MAX).for_each(|b| set(pair(a, b)));
                    }
                }
                [] => {}
            }
        }
        ContextWords { words, pairs }
    }

    /// Whether one of the words lies within the `window` characters before `start`.
    ///
    /// The window is counted in characters, not bytes, so that masking an earlier finding
    /// with as many characters as it had (`阳阳` to `阳*`) cannot move a context word into
    /// or out of a later number's window: masking a masked text again changes nothing.
    pub fn before(&self, text: &str, start: usize, window: usize) -> bool {
        let bytes = text.as_bytes();
        let window = window.max(1);
        // One pass back from `start`, a character at a time. Lower-casing changes only
        // ASCII letters in most windows (CJK and its punctuation have no case): those are
        // searched as they are, ignoring ASCII case; any other window is lower-cased.
        let (mut at, mut seen) = (start, 0);
        // The byte after `at` in the window (0 past its end).
        let mut next = 0;
        while at > 0 && seen < window {
            at -= 1;
            let b = bytes[at];
            // Every byte but a UTF-8 continuation byte starts a character.
            if b & 0xC0 != 0x80 {
                seen += 1;
                if b >= 0xC0 && !caseless_at(bytes, at) {
                    return self.in_lower_case(&text[chars_back(text, start, window)..start]);
                }
                let key = pair(b, next);
                if self.pairs[key / 64] & (1 << (key % 64)) != 0
                    && self.starts_at(&bytes[at..start])
                {
                    return true;
                }
            }
            next = b;
        }
        false
    }

    /// Whether one of the words begins `rest`, ignoring ASCII case.
    fn starts_at(&self, rest: &[u8]) -> bool {
        self.words.iter().any(|w| {
            rest.get(..w.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(w.as_bytes()))
        })
    }

    /// Whether one of the words occurs in `window` lower-cased.
    fn in_lower_case(&self, window: &str) -> bool {
        let window = window.to_lowercase();
        self.words.iter().any(|w| window.contains(w))
    }
}

/// Where the `n`th character before `end` starts (0 when there are fewer).
fn chars_back(text: &str, end: usize, n: usize) -> usize {
    let mut seen = 0;
    for (i, b) in text.as_bytes()[..end].iter().enumerate().rev() {
        // Every byte but a UTF-8 continuation byte starts a character.
        if b & 0xC0 != 0x80 {
            seen += 1;
            if seen == n {
                return i;
            }
        }
    }
    0
}

/// Whether lower-casing the character whose lead byte is at `i` leaves it as it is, or
/// changes only an ASCII letter (true for any other byte): the characters Chinese text is
/// written with have no case: general punctuation (U+2000..U+206F), CJK radicals,
/// punctuation, kana and ideographs (U+2E80..U+9FFF), and the full-width forms but the
/// capitals Ａ..Ｚ (U+FF00..U+FF7F).
fn caseless_at(bytes: &[u8], i: usize) -> bool {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    match at(i) {
        // ASCII, or a continuation byte: judged with its lead.
        ..0xC0 => true,
        // U+3000..U+9FFF.
        0xE3..=0xE9 => true,
        // U+2000..U+206F (E2 80 and E2 81), and U+2E80..U+2FFF (E2 BA 80 and up).
        0xE2 => matches!(at(i + 1), 0x80 | 0x81 | 0xBA..),
        // U+FF00..U+FF3F but Ａ..Ｚ (EF BC A1..BA), and U+FF40..U+FF7F.
        0xEF => match at(i + 1) {
            0xBC => !(0xA1..=0xBA).contains(&at(i + 2)),
            0xBD => true,
            _ => false,
        },
        _ => false,
    }
}

/// A mark on an ideograph that can begin a surname (see [`Text::marked`]).
pub const SURNAME: u8 = 1;
/// A mark on an ideograph that can begin a province or a city as an address starts.
pub const PLACE: u8 = 2;
/// A mark on the ideograph of a province as a licence plate abbreviates it (`粤`): noted
/// by the preparation before a capital, not kept among the marked ideographs.
const PLATE: u8 = 4;

/// The marks of the ideographs U+4000..U+9FFF (the three-byte characters led by E4..E9),
/// by code point from U+4000.
static MARKS: LazyLock<Box<[u8]>> = LazyLock::new(|| {
    let mut marks = vec![0u8; 0x6000].into_boxed_slice();
    let mut mark = |chars: &str, mark: u8| {
        for c in chars.chars() {
            if let Some(i) = u32::from(c).checked_sub(0x4000)
                && let Some(m) = marks.get_mut(i as usize)
            {
                *m |= mark;
            }
        }
    };
    mark(&super::person::surname_starts(), SURNAME);
    mark(&super::address::place_starts(), PLACE);
    mark(super::plate::PROVINCES, PLATE);
    marks
});

/// The ASCII bytes [`Text::new`] only steps over: not a digit, an upper-case letter, `@`,
/// `.` or `:`.
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0;
    while b < 128 {
        plain[b] = !matches!(b as u8, b'0'..=b'9' | b'A'..=b'Z' | b'@' | b'.' | b':');
        b += 1;
    }
    plain
};

/// The code point of the three-byte UTF-8 character `lead`, `b1`, `b2` (the lead E0..EF).
pub fn three_byte_code(lead: u8, b1: u8, b2: u8) -> u32 {
    u32::from(lead & 0x0F) << 12 | u32::from(b1 & 0x3F) << 6 | u32::from(b2 & 0x3F)
}

/// Whether the three bytes `lead`, `b1`, `b2` are a character read with the ideographs: led
/// by E3..E9 (CJK punctuation, ideographs) or by EF (the full-width forms), but no
/// full-width digit (EF BC 90..99).
fn read_with_ideographs(lead: u8, b1: u8, b2: u8) -> bool {
    match lead {
        0xE3..=0xE9 => true,
        0xEF => !(b1 == 0xBC && (0x90..=0x99).contains(&b2)),
        _ => false,
    }
}

/// Whether the eight `bytes` are all ASCII digits: each byte XOR `0` is below 10, so adding
/// 0x76 to it leaves its top bit clear (a byte whose top bit is already set, or that
/// carries into the next, is no digit either way).
fn eight_digits(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])) ^ 0x3030_3030_3030_3030;
    (x.wrapping_add(0x7676_7676_7676_7676) | x) & HIGH == 0
}

/// A text prepared for the detectors in one pass: its maximal runs of digits (ASCII or
/// full width), the ideographs that can begin a surname or a place, which kinds of
/// character it has, and where the first pair of characters that some pattern needs
/// occurs. A detector whose PI cannot be in the text skips its pattern; one whose PI can
/// looks only where it can begin (a digit run, a marked ideograph, grouped runs), or
/// starts its pattern at the first place it can match, not at the start of the text. It
/// dereferences to the text itself.
pub struct Text<'a> {
    text: &'a str,
    /// `(start, end, digits)` of each maximal run of digits, in bytes.
    runs: Vec<(usize, usize, usize)>,
    /// Bit `n` set when some run has `n` digits (bit 63: 63 or more).
    lengths: u64,
    /// The indices in `runs`, in order, of the runs right after an ASCII upper-case letter
    /// (where a document number's digits are: `E12345678`).
    lettered: Vec<usize>,
    /// An ASCII upper-case letter occurs.
    pub upper: bool,
    /// A non-ASCII character occurs.
    pub non_ascii: bool,
    /// Where each `@` is, in order.
    pub at_signs: Vec<usize>,
    /// `.` occurs.
    pub dot: bool,
    /// How many `:` touch a hexadecimal digit or another `:` (as those of an IPv6 address do).
    pub colons: usize,
    /// The first country code of an IBAN right before an ASCII digit (`GB8`): where an IBAN
    /// can start.
    country_digit: Option<usize>,
    /// The first province's character right before an ASCII upper-case letter (`粤B`):
    /// where a plate can start.
    province_upper: Option<usize>,
    /// Each space between an ASCII lower-case and an upper-case letter (`Wei Zhang`), in
    /// order: a pinyin name has one after its first word.
    word_spaces: Vec<usize>,
    /// `(position, character, marks)` of each ideograph with a mark ([`SURNAME`],
    /// [`PLACE`]), in order: the first `marked` slots (see [`Text::reusing`]).
    ideographs: Vec<(usize, char, u8)>,
    /// How many of the slots of `ideographs` hold a marked ideograph.
    marked: usize,
    /// Every gate and anchor says "maybe, from the start": the detectors then search the
    /// whole text, as they would without this preparation (the one-pass property test
    /// compares the two).
    ungated: bool,
}

/// The vectors a [`Text`] fills, emptied, for the next text to fill without allocating
/// (see [`Text::reusing`]).
#[derive(Default)]
pub struct Spares {
    runs: Vec<(usize, usize, usize)>,
    lettered: Vec<usize>,
    at_signs: Vec<usize>,
    word_spaces: Vec<usize>,
    ideographs: Vec<(usize, char, u8)>,
}

impl Spares {
    /// Whether these vectors grew too large to keep (a text of megabytes was prepared).
    pub fn too_large(&self) -> bool {
        const MOST: usize = 1 << 14;
        self.runs.capacity() > MOST
            || self.lettered.capacity() > MOST
            || self.at_signs.capacity() > MOST
            || self.word_spaces.capacity() > MOST
            || self.ideographs.capacity() > MOST
    }
}

impl<'a> Text<'a> {
    /// Prepares `text`.
    pub fn new(text: &'a str) -> Text<'a> {
        Text::reusing(text, Spares::default())
    }

    /// Prepares `text` in the vectors `spares` (see [`Text::into_spares`]).
    pub fn reusing(text: &'a str, spares: Spares) -> Text<'a> {
        let Spares {
            mut runs,
            mut lettered,
            mut at_signs,
            mut word_spaces,
            mut ideographs,
        } = spares;
        runs.clear();
        runs.reserve(16);
        lettered.clear();
        at_signs.clear();
        word_spaces.clear();
        // A slot for each ideograph the text could hold, so that each is written to the
        // next slot and kept by counting it, with no branch on its mark (which ideographs
        // carry one follows no pattern a branch could learn). The slots stay for the next
        // text: most need no more.
        let slots = text.len() / 3;
        if ideographs.len() < slots {
            ideographs.resize(slots, (0, '\0', 0));
        }
        let mut t = Text {
            text,
            runs,
            lengths: 0,
            lettered,
            upper: false,
            non_ascii: false,
            at_signs,
            dot: false,
            colons: 0,
            country_digit: None,
            province_upper: None,
            word_spaces,
            ideographs,
            marked: 0,
            ungated: false,
        };
        let marks = &**MARKS;
        let mut run: Option<(usize, usize)> = None;
        let bytes = text.as_bytes();
        let mut i = 0;
        // A byte loop: ASCII decides most characters alone, and a full-width digit is the
        // three bytes EF BC 90..99; an ideograph (and the CJK punctuation and full-width
        // forms among them) is looked up in the marks; any other non-ASCII character only
        // ends runs, and is stepped over whole.
        while i < bytes.len() {
            let b = bytes[i];
            // Most bytes are ASCII that neither continues a run nor is noted: skip them.
            if PLAIN[usize::from(b)] {
                if let Some((s, n)) = run.take() {
                    t.runs.push((s, i, n));
                }
                i += 1;
                while i < bytes.len() && PLAIN[usize::from(bytes[i])] {
                    i += 1;
                }
                continue;
            }
            // Ideographs (U+4000..U+9FFF, led by E4..E9) come in runs, with the CJK
            // punctuation (led by E3) and the full-width forms (led by EF) between them:
            // looked up in the marks, a run at a time, so that a `，` or a `。` does not
            // end the run (a change of class costs more than the bytes). Only a full-width
            // digit (EF BC 90..99) ends it; the characters outside the marks' range carry
            // no mark.
            if let Some(&[lead, b1, b2]) = bytes.get(i..i + 3)
                && read_with_ideographs(lead, b1, b2)
            {
                if let Some((s, n)) = run.take() {
                    t.runs.push((s, i, n));
                }
                t.non_ascii = true;
                while let Some(&[lead, b1, b2]) = bytes.get(i..i + 3)
                    && read_with_ideographs(lead, b1, b2)
                {
                    let code = three_byte_code(lead, b1, b2);
                    let mark = (marks.get((code as usize).wrapping_sub(0x4000)))
                        .copied()
                        .unwrap_or(0);
                    if let Some(slot) = t.ideographs.get_mut(t.marked) {
                        // A three-byte character's code is a character.
                        *slot = (i, char::from_u32(code).unwrap_or_default(), mark);
                    }
                    t.marked += usize::from(mark & (SURNAME | PLACE) != 0);
                    i += 3;
                }
                continue;
            }
            let digit_width = match b {
                b'0'..=b'9' => 1,
                0xEF if bytes.get(i + 1) == Some(&0xBC)
                    && bytes.get(i + 2).is_some_and(|c| (0x90..=0x99).contains(c)) =>
                {
                    3
                }
                _ => 0,
            };
            if digit_width > 0 {
                // ASCII digits come in runs: take the rest of this one at once.
                let mut end = i + digit_width;
                if digit_width == 1 {
                    // Eight at a time while eight are digits (identifiers, phones and
                    // cards are long runs), then one at a time.
                    while bytes.get(end..end + 8).is_some_and(eight_digits) {
                        end += 8;
                    }
                    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                        end += 1;
                    }
                }
                let digits = if digit_width == 1 {
                    end - i
                } else {
                    t.non_ascii = true;
                    1
                };
                run = Some(run.map_or((i, digits), |(s, n)| (s, n + digits)));
                i = end;
                continue;
            }
            if let Some((s, n)) = run.take() {
                t.runs.push((s, i, n));
            }
            i += match b {
                b'A'..=b'Z' => {
                    t.upper = true;
                    t.first_upper_at(bytes, i);
                    1
                }
                b'@' => {
                    t.at_signs.push(i);
                    1
                }
                b'.' => {
                    t.dot = true;
                    1
                }
                b':' => {
                    // An address's every `:` touches a hexadecimal digit or another `:`.
                    let hexy =
                        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_hexdigit() || *b == b':');
                    if hexy(i.checked_sub(1).map(|j| &bytes[j])) || hexy(bytes.get(i + 1)) {
                        t.colons += 1;
                    }
                    1
                }
                0x80.. => {
                    t.non_ascii = true;
                    // The width a UTF-8 lead byte announces.
                    match b {
                        0xF0.. => 4,
                        0xE0.. => 3,
                        0xC0.. => 2,
                        _ => 1,
                    }
                }
                _ => 1,
            };
        }
        if let Some((s, n)) = run {
            t.runs.push((s, text.len(), n));
        }
        t.lengths = (t.runs.iter()).fold(0, |lengths, r| lengths | 1 << r.2.min(63));
        if t.upper {
            let after_upper = |r: &(usize, usize, usize)| {
                r.0.checked_sub(1)
                    .is_some_and(|i| bytes[i].is_ascii_uppercase())
            };
            (t.lettered).extend(
                (t.runs.iter().enumerate()).filter_map(|(i, r)| after_upper(r).then_some(i)),
            );
        }
        t
    }

    /// The vectors this text filled, for the next text (see [`Text::reusing`]).
    pub fn into_spares(self) -> Spares {
        Spares {
            runs: self.runs,
            lettered: self.lettered,
            at_signs: self.at_signs,
            word_spaces: self.word_spaces,
            ideographs: self.ideographs,
        }
    }

    /// Notes the pairs an upper-case ASCII letter at `i` ends or begins.
    fn first_upper_at(&mut self, bytes: &[u8], i: usize) {
        if self.country_digit.is_none()
            && bytes.get(i + 2).is_some_and(u8::is_ascii_digit)
            && bytes
                .get(i + 1)
                .is_some_and(|&b| b.is_ascii_uppercase() && super::iban::is_country(bytes[i], b))
        {
            self.country_digit = Some(i);
        }
        // E4..E9 only ever lead a three-byte character: U+4000..U+9FFF, the ideographs.
        if self.province_upper.is_none()
            && let Some(&[lead @ 0xE4..=0xE9, b1, b2]) = i.checked_sub(3).map(|j| &bytes[j..i])
            && MARKS
                .get(three_byte_code(lead, b1, b2) as usize - 0x4000)
                .is_some_and(|mark| mark & PLATE != 0)
        {
            self.province_upper = Some(i - 3);
        }
        if i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2].is_ascii_lowercase() {
            self.word_spaces.push(i - 1);
        }
    }

    /// The text prepared with no gate and no anchor: every detector searches all of it,
    /// and every character of U+4000..U+9FFF (led by E4..E9, bytes that only ever lead
    /// one) carries every mark.
    #[cfg(test)]
    pub fn ungated(text: &'a str) -> Text<'a> {
        let ideographs: Vec<_> = (text.char_indices())
            .filter(|&(at, _)| (0xE4..=0xE9).contains(&text.as_bytes()[at]))
            .map(|(at, c)| (at, c, u8::MAX))
            .collect();
        Text {
            upper: true,
            non_ascii: true,
            dot: true,
            colons: usize::MAX,
            ungated: true,
            marked: ideographs.len(),
            ideographs,
            ..Text::new(text)
        }
    }

    /// Whether the text was prepared with no gate and no anchor (only the one-pass test
    /// does so): a detector that finds its PI in the prepared runs then searches the whole
    /// text with its pattern instead, the reference the test compares the runs against.
    pub fn whole(&self) -> bool {
        self.ungated
    }

    /// The byte positions and characters, in order, of the ideographs that carry `mark`
    /// (ungated, of every character of U+4000..U+9FFF, which the one-pass test's ungated
    /// text marks with every mark).
    pub fn marked(&self, mark: u8) -> impl Iterator<Item = (usize, char)> + '_ {
        (self.ideographs[..self.marked].iter())
            .filter(move |(_, _, m)| m & mark != 0)
            .map(|&(at, c, _)| (at, c))
    }

    /// Where a pattern that starts at most `before` bytes ahead of `anchor` can first
    /// match, on a character boundary; `None` when the anchor is absent.
    fn search_start(&self, anchor: Option<usize>, before: usize) -> Option<usize> {
        if self.ungated {
            return Some(0);
        }
        let mut at = anchor?.saturating_sub(before);
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        Some(at)
    }

    /// Each `groups.len()` consecutive digit runs whose digit counts lie in `groups`, each
    /// one space or hyphen from the next (a number written in groups), with the index of
    /// the first among all the runs; in order.
    pub fn grouped<'g>(
        &'g self,
        groups: &'g [std::ops::RangeInclusive<usize>],
    ) -> impl Iterator<Item = (usize, &'g [(usize, usize, usize)])> + 'g {
        (self.runs.windows(groups.len()).enumerate()).filter(move |(_, w)| {
            w.iter().zip(groups).all(|(r, want)| want.contains(&r.2))
                && w.windows(2).all(|p| self.joined(&p[0], &p[1]))
        })
    }

    /// Whether the digit runs `a` and `b` are one space or hyphen apart: two groups of one
    /// number.
    pub fn joined(&self, a: &(usize, usize, usize), b: &(usize, usize, usize)) -> bool {
        b.0 == a.1 + 1 && matches!(self.text.as_bytes()[a.1], b' ' | b'-')
    }

    /// Where the first runs [`Text::grouped`] gives start; from the start, ungated.
    pub fn first_grouped(&self, groups: &[std::ops::RangeInclusive<usize>]) -> Option<usize> {
        if self.ungated {
            return Some(0);
        }
        self.grouped(groups).next().map(|(_, w)| w[0].0)
    }

    /// Where an IBAN (a country code before digits) can first start.
    pub fn country_then_digits(&self) -> Option<usize> {
        self.search_start(self.country_digit, 0)
    }

    /// Where a plate (a province's ideograph and an upper-case letter) can first start.
    pub fn province_then_letter(&self) -> Option<usize> {
        self.search_start(self.province_upper, 0)
    }

    /// Each space between an ASCII lower-case and an upper-case letter, in order: where
    /// two capitalised words (a pinyin name) can meet.
    pub fn word_spaces(&self) -> &[usize] {
        &self.word_spaces
    }

    /// The maximal runs of exactly 18 ASCII letters and digits that stand alone: found
    /// around the runs of 6 to 18 digits (a credit code's characters 3 to 8, its division
    /// code, are digits, so every valid code holds such a run), or, ungated, every such
    /// word, by reading the whole text. Each is handed to `found` as it is read, in order
    /// (a text has few, and collecting them cost an allocation).
    pub fn each_word18(&self, mut found: impl FnMut(usize, usize)) {
        let bytes = self.text.as_bytes();
        let alnum = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
        let word_at = |i: usize| {
            let start = (0..i).rev().find(|&j| !alnum(j)).map_or(0, |j| j + 1);
            let end = (i..bytes.len()).find(|&j| !alnum(j)).unwrap_or(bytes.len());
            (start, end)
        };
        let mut words = |start: usize, end: usize| {
            if bounded(self.text, start, end) {
                found(start, end);
            }
        };
        if self.ungated {
            let mut i = 0;
            while i < bytes.len() {
                let (start, end) = if alnum(i) { word_at(i) } else { (i, i + 1) };
                if end - start == 18 && alnum(start) {
                    words(start, end);
                }
                i = end;
            }
        } else {
            let mut covered = 0;
            let long = 6..=18;
            let runs = if self.has_run(long.clone()) {
                &self.runs[..]
            } else {
                &[]
            };
            for &(s, e, n) in runs.iter().filter(|r| long.contains(&r.2)) {
                // A run of ASCII digits lies in one word; a run with full-width digits may
                // touch several.
                let ascii = e - s == n;
                // Most runs are words of their own (no letter or digit beside them): the
                // word is the run.
                if ascii && (s == 0 || !alnum(s - 1)) && !alnum(e) {
                    if n == 18 {
                        words(s, e);
                    }
                    covered = e;
                    continue;
                }
                let mut q = s.max(covered);
                while q < e {
                    if bytes[q].is_ascii_digit() {
                        let (start, end) = word_at(q);
                        if end - start == 18 {
                            words(start, end);
                        }
                        covered = end;
                        if ascii {
                            break;
                        }
                        q = end;
                    } else {
                        q += 1;
                    }
                }
            }
        }
    }

    /// Every maximal digit run as `(start, end, digits)`, bounded or not.
    pub fn all_runs(&self) -> &[(usize, usize, usize)] {
        &self.runs
    }

    /// The digit runs, in order, right after an ASCII upper-case letter.
    pub fn lettered_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.lettered.iter().map(|&i| self.runs[i])
    }

    /// Whether some maximal digit run has a digit count in `digits` (always, ungated):
    /// found from the counts the text has, by a mask, not by reading its runs.
    pub fn has_run(&self, digits: std::ops::RangeInclusive<usize>) -> bool {
        if self.ungated {
            return true;
        }
        let (low, high) = (*digits.start(), *digits.end());
        // The counts below 63 have a bit each; the last bit stands for every count from
        // 63 up: those runs are read.
        let below = low < 63
            && low <= high
            && self.lengths & (u64::MAX >> (63 - high.min(62)) & u64::MAX << low) != 0;
        below
            || high >= 63
                && self.lengths >> 63 != 0
                && self.runs.iter().any(|r| r.2 >= 63 && digits.contains(&r.2))
    }

    /// The maximal digit runs of `min..=max` digits that stand alone (no letter or digit on
    /// either side), as byte ranges.
    pub fn runs(&self, min: usize, max: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let some = self.has_run(min..=max);
        let runs = if some { &self.runs[..] } else { &[] };
        runs.iter()
            .filter(move |&&(s, e, n)| (min..=max).contains(&n) && bounded(self.text, s, e))
            .map(|&(s, e, _)| (s, e))
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.text
    }
}

/// Offers each run of [`Text::runs`] to `judge`, as [`find_with`] offers regex matches.
pub fn find_runs(
    text: &Text<'_>,
    (min, max): (usize, usize),
    pi_type: PiType,
    out: &mut Vec<Candidate>,
    mut judge: impl FnMut(usize, usize) -> Option<(f32, &'static str)>,
) {
    for (start, end) in text.runs(min, max) {
        offer(out, pi_type, (start, end), judge(start, end));
    }
}

/// Adds the candidate at `start..end` to `out` if `judged` accepted it (a score and the
/// validator's name); returns whether it did.
pub fn offer(
    out: &mut Vec<Candidate>,
    pi_type: PiType,
    (start, end): (usize, usize),
    judged: Option<(f32, &'static str)>,
) -> bool {
    let Some((score, validator)) = judged else {
        return false;
    };
    out.push(Candidate {
        pi_type,
        start,
        end,
        score,
        validator,
    });
    true
}

/// Runs `re` over `text` and offers each match to `judge`, which returns the score and the
/// validator's name, or `None` to refuse it. After a refusal the search restarts after the
/// run of letters and digits the refused match starts in: every detector refuses a match
/// whose left neighbour continues an identifier, so no match can start inside that run,
/// and a refused candidate never hides a real one that starts after it.
pub fn find_with(
    re: &Regex,
    text: &str,
    pi_type: PiType,
    out: &mut Vec<Candidate>,
    judge: impl FnMut(usize, usize) -> Option<(f32, &'static str)>,
) {
    find_from(re, text, Some(0), pi_type, out, judge);
}

/// [`find_with`] from byte `from`, a place before which the pattern cannot match (found by
/// one of [`Text`]'s anchors); nothing when `from` is `None`, where the pattern cannot match
/// at all.
pub fn find_from(
    re: &Regex,
    text: &str,
    from: Option<usize>,
    pi_type: PiType,
    out: &mut Vec<Candidate>,
    mut judge: impl FnMut(usize, usize) -> Option<(f32, &'static str)>,
) {
    if let Some(from) = from {
        search(re, text, from, pi_type, out, &mut judge);
    }
}

/// Offers `candidates`, matches found by reading the text rather than by a pattern, to
/// `judge` as [`find_with`] offers a pattern's: leftmost first, skipping those that start
/// before the last accepted one ends or, after a refusal, inside the run of letters and
/// digits the refused one starts in. `candidates` are in order of start, and at one start
/// in the order the pattern would prefer them.
pub fn find_among(
    text: &str,
    candidates: &[(usize, usize)],
    pi_type: PiType,
    out: &mut Vec<Candidate>,
    mut judge: impl FnMut(usize, usize) -> Option<(f32, &'static str)>,
) {
    let mut at = 0;
    for &(start, end) in candidates {
        if start < at {
            continue;
        }
        at = if offer(out, pi_type, (start, end), judge(start, end)) {
            end.max(start + 1)
        } else {
            resume(text, start)
        };
    }
}

/// Where a search resumes after refusing a match that starts at `start`: after the run of
/// letters and digits it starts in (at least one character on), on a character boundary.
fn resume(haystack: &str, start: usize) -> usize {
    let mut rest = haystack[start..].char_indices();
    let first = rest.next().map_or(1, |(_, c)| c.len_utf8());
    let mut at = start
        + rest
            .find(|(_, c)| !continues(*c))
            .map_or(haystack.len() - start, |(i, _)| i)
            .max(first);
    while at < haystack.len() && !haystack.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// The search loop of [`find_with`] over `text[from..]`.
fn search(
    re: &Regex,
    text: &str,
    mut at: usize,
    pi_type: PiType,
    out: &mut Vec<Candidate>,
    judge: &mut impl FnMut(usize, usize) -> Option<(f32, &'static str)>,
) {
    while at <= text.len() {
        let Some(m) = re.find_at(text, at) else {
            break;
        };
        let (start, end) = (m.start(), m.end());
        if offer(out, pi_type, (start, end), judge(start, end)) {
            at = end.max(start + 1);
            while at < text.len() && !text.is_char_boundary(at) {
                at += 1;
            }
        } else {
            at = resume(text, start);
        }
    }
}

/// Where the `n`th digit (ASCII or full width) before `end` starts, in a run of at least
/// `n` digits that ends at `end`.
pub fn digits_back(text: &str, end: usize, n: usize) -> usize {
    let bytes = text.as_bytes();
    (0..n).fold(end, |at, _| {
        at - if bytes[at - 1].is_ascii_digit() { 1 } else { 3 }
    })
}

/// The width of the digit (ASCII or full width) at `at` whose value lies in `values`.
pub fn digit_in(text: &str, at: usize, values: std::ops::RangeInclusive<u8>) -> Option<usize> {
    match *text.as_bytes().get(at..)? {
        [b, ..] if b.is_ascii_digit() && values.contains(&(b - b'0')) => Some(1),
        [0xEF, 0xBC, b, ..] if (0x90..=0x99).contains(&b) && values.contains(&(b - 0x90)) => {
            Some(3)
        }
        _ => None,
    }
}

/// Where the digits (ASCII or full width) from `at` end, having read at most `most` of
/// them, and how many were read.
pub fn digits_from(text: &str, mut at: usize, most: usize) -> (usize, usize) {
    let mut n = 0;
    while n < most
        && let Some(w) = digit_in(text, at, 0..=9)
    {
        at += w;
        n += 1;
    }
    (at, n)
}

/// Compiles a pattern written in this crate. The patterns are constants that the unit
/// tests compile, so a failure here is a bug caught before release.
#[allow(
    clippy::expect_used,
    reason = "constant patterns, compiled by every test run"
)]
pub fn pattern(source: &str) -> Regex {
    Regex::new(source).expect("a constant pattern compiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Borrowing a value that is compact already gives what folding each character
        /// gives (so every pseudonym keyed on it stays as it was).
        #[test]
        fn compact_borrows_only_what_folding_leaves_as_it_is(
            value in "[0-9A-Za-z +\\-（）()０-９Ａ-Ｚé]{0,24}",
        ) {
            let folded: String = value
                .chars()
                .filter_map(|c| match c {
                    '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
                    c if c.is_alphanumeric() => Some(c.to_ascii_uppercase()),
                    _ => None,
                })
                .collect();
            proptest::prop_assert_eq!(compact(&value), folded);
        }
    }

    proptest::proptest! {
        #[test]
        fn compacted_spans_are_what_compact_gives(text in "[0-9a-zA-Z０-９Ａｘ -+()（）王]{0,40}") {
            let ours = compact_span(&text, 0, text.len());
            let theirs = compact(&text);
            if matches!(ours, Compacted::Borrowed(_)) {
                proptest::prop_assert_eq!(ours.to_ascii_uppercase(), theirs);
            } else {
                proptest::prop_assert_eq!(&*ours, theirs);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn eight_digits_are_eight_ascii_digits(
            bytes in proptest::array::uniform8(proptest::prelude::any::<u8>()),
            digits in proptest::array::uniform8(b'0'..=b'9'),
            mix in proptest::array::uniform8(proptest::prelude::any::<bool>()),
        ) {
            let mixed: Vec<u8> = (0..8)
                .map(|i| if mix[i] { digits[i] } else { bytes[i] })
                .collect();
            proptest::prop_assert_eq!(eight_digits(&mixed), mixed.iter().all(u8::is_ascii_digit));
            proptest::prop_assert!(eight_digits(&digits));
        }
    }

    #[test]
    fn eight_digits_refuses_any_other_byte_anywhere() {
        for at in 0..8 {
            for b in 0..=u8::MAX {
                let mut bytes = *b"01234567";
                bytes[at] = b;
                assert_eq!(eight_digits(&bytes), b.is_ascii_digit(), "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn compact_folds_width_and_case() {
        assert_eq!(compact("１３８ 0013-8000"), "13800138000");
        assert_eq!(compact("11010519491231002x"), "11010519491231002X");
    }

    /// Whether every character of `s` is caseless (see [`caseless_at`]).
    fn caseless(s: &str) -> bool {
        (0..s.len()).all(|i| caseless_at(s.as_bytes(), i))
    }

    #[test]
    fn context_words_ignore_case_without_copying() {
        // The in-place search assumes ideographs and their punctuation have no case.
        let beyond_ascii = ('\u{80}'..=char::MAX).filter(|c| caseless(c.encode_utf8(&mut [0; 4])));
        for c in beyond_ascii {
            assert!(c.to_lowercase().eq([c]), "{:?} has a lower case", c);
        }
        for c in [
            '\u{2000}', '“', '…', '\u{2e80}', '，', '：', '（', '９', 'ａ', '\u{ff7f}',
        ] {
            assert!(caseless(c.encode_utf8(&mut [0; 4])), "{c:?}");
        }
        for c in ['\u{2e7f}', 'É', 'Ｉ', '\u{212a}', '\u{1f600}', '\u{ff80}'] {
            assert!(!caseless(c.encode_utf8(&mut [0; 4])), "{c:?}");
        }
        let seen = |text: &str, words: &'static [&'static str]| {
            ContextWords::new(words).before(text, text.len(), 8)
        };
        assert!(seen("证件ID：", &["id"]));
        assert!(seen("ＩＤ ", &["ｉｄ"]));
        assert!(seen("致电TeL", &["tel"]));
        assert!(
            seen("\u{212a}ey", &["key"]),
            "the Kelvin sign lower-cases to k"
        );
        assert!(!seen("身份 证", &["身份证"]));
        assert!(!seen("电话是很久以前的号码，现在", &["电话"]));
        assert!(seen("电话很久以前，现", &["电话"]), "eight characters back");
    }

    proptest::proptest! {
        #[test]
        fn context_words_are_found_where_the_lower_cased_window_holds_them(
            text in "[a-zA-Z电话台湾号 ：Ｔ\u{212a}İ]{0,24}",
            window in 1usize..12,
        ) {
            let words = ContextWords::new(&["tel", "电话", "台湾", "key", "i"]);
            let from = chars_back(&text, text.len(), window);
            let lower = text[from..].to_lowercase();
            let naive = words.words.iter().any(|w| lower.contains(w));
            proptest::prop_assert_eq!(words.before(&text, text.len(), window), naive);
        }
    }

    #[test]
    fn counting_characters_back() {
        let text = "ab身份x";
        assert_eq!(chars_back(text, text.len(), 1), 8);
        assert_eq!(chars_back(text, text.len(), 2), 5);
        assert_eq!(chars_back(text, text.len(), 4), 1);
        assert_eq!(chars_back(text, text.len(), 9), 0);
    }

    #[test]
    fn run_lengths_are_known_without_reading_the_runs() {
        let text = Text::new("12 345 ６７");
        assert!(text.has_run(3..=3) && text.has_run(2..=2) && text.has_run(1..=4));
        assert!(!text.has_run(4..=usize::MAX) && !text.has_run(0..=0));
        let long = "1".repeat(70);
        let text = Text::new(&long);
        assert!(text.has_run(70..=70) && text.has_run(4..=usize::MAX));
        assert!(text.has_run(62..=71) && text.has_run(63..=usize::MAX));
        assert!(!text.has_run(63..=63) && !text.has_run(71..=usize::MAX));
        assert!(!text.has_run(1..=62));
        assert_eq!(text.runs(64, 80).count(), 1);
        let long = "1".repeat(61);
        let text = Text::new(&long);
        assert!(text.has_run(61..=61) && !text.has_run(62..=62) && !text.has_run(60..=60));
    }

    #[test]
    fn the_stars_of_a_masked_value_glue_and_markdowns_do_not() {
        let glued_at = |text: &str| {
            let s = text.find("0574").unwrap();
            glued(text, s, s + 4)
        };
        for masked in [
            "138****0574",
            "E*0574",
            "0574****",
            "0574*8",
            "(021)****0574",
            "（0931）***0574",
            "0931 ***0574",
            "(0931) ***0574",
            "0931 ** ***0574",
        ] {
            assert!(glued_at(masked), "{masked}");
        }
        for markdown in [
            "0574",
            "**0574**",
            "Tel **0574**",
            "（**0574**）",
            "**0574** 5 times",
            "***0574***",
            "：*0574*",
        ] {
            assert!(!glued_at(markdown), "{markdown}");
        }
    }

    #[test]
    fn boundaries() {
        let by_chars = |text: &str, start: usize, end: usize| {
            let joins = |c: char| continues(c) || c == '@';
            !text[..start].chars().next_back().is_some_and(joins)
                && !text[end..].chars().next().is_some_and(joins)
                && !glued(text, start, end)
        };
        for text in [
            "１12４", "a12b", "@12@", "号12，", "*12*x", "x*12", "12", "٣12٣", "ｂ12Ａ",
        ] {
            let (start, end) = (text.find("12").unwrap(), text.find("12").unwrap() + 2);
            assert_eq!(
                bounded(text, start, end),
                by_chars(text, start, end),
                "{text}"
            );
        }
        assert!(bounded("号13800138000，", 3, 14));
        assert!(!bounded("(021)****0574", 9, 13));
        assert!(!bounded("a13800138000", 1, 12));
        assert!(!bounded("138001380001", 0, 11));
    }
}
