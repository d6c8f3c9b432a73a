//! SCRAM-SHA-256 verifiers in PostgreSQL's format, for PgBouncer's `userlist.txt`: PgBouncer can
//! pass a client's SCRAM login on to PostgreSQL only when both hold the very same verifier, so
//! sitewright has to compute it the way PostgreSQL does, from a salt it can compute again.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use stringprep::tables;
use unicode_normalization::UnicodeNormalization as _;

/// PostgreSQL's default `scram_iterations` (and the only count before 16, which added the setting).
pub(crate) const ITERATIONS: u32 = 4096;

/// The verifier PostgreSQL stores in `pg_authid.rolpassword` for `password` with this salt and
/// iteration count: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 as
/// PostgreSQL writes it (RFC 5802 and 7677). PostgreSQL takes such a text in `ALTER ROLE …
/// PASSWORD` as it is, and PgBouncer reads the same text from `userlist.txt`.
///
/// `iterations` is 1 or more, as PostgreSQL's `scram_iterations` is.
pub(crate) fn verifier(password: &str, salt: &[u8; 16], iterations: u32) -> String {
    assert!(iterations > 0, "SCRAM needs at least one iteration");
    let prepared = saslprep(password);
    let salted: [u8; 32] =
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(prepared.as_bytes(), salt, iterations);
    let stored_key = Sha256::digest(hmac(&salted, b"Client Key"));
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// The salt for `user`'s verifier in `context` (the site, say): derived, not random, because a
/// random salt would make every render write a different verifier for an unchanged password, so
/// `diff` would never come back clean and each deploy would have to change the role's password
/// in PostgreSQL to keep it equal to PgBouncer's copy. Keyed by the password, so a new password
/// gets a new salt, and nobody without the password knows a user's salt ahead of time to
/// precompute guesses for it; the context and user in the message keep two sites or two users
/// with one password from sharing a salt, and so a verifier.
///
/// The salt is public, written in the verifier itself, so it must not be a cheaper test of a
/// guessed password than the verifier is: it is PBKDF2 with the verifiers' [`ITERATIONS`], so
/// checking a guess against it costs what checking it against the verifier does, and it tells
/// nothing the verifier does not. (A plain HMAC of the password would have let a guess be
/// checked some four thousand times faster; a verifier with more iterations would want a salt
/// derived with as many.)
pub(crate) fn deterministic_salt(context: &str, user: &str, password: &str) -> [u8; 16] {
    // Length-prefixed, so no context and user pair reads as another ("a\0b", "c" vs "a", "b\0c").
    let mut message = b"sitewright scram salt\0".to_vec();
    message.extend_from_slice(&(context.len() as u64).to_be_bytes());
    message.extend_from_slice(context.as_bytes());
    message.extend_from_slice(user.as_bytes());
    pbkdf2::pbkdf2_hmac_array::<Sha256, 16>(password.as_bytes(), &message, ITERATIONS)
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The password as PostgreSQL's `pg_saslprep` (src/common/saslprep.c) prepares it before hashing,
/// or the password as it is where PostgreSQL's SASLprep fails, as the server then hashes the raw
/// bytes. This follows PostgreSQL rather than RFC 4013 where the two part, since the verifier
/// has to match what PostgreSQL computes from the same password:
/// - an ASCII password is taken as is, control characters too;
/// - a password that maps to nothing (only soft hyphens, say) fails;
/// - the prohibited, unassigned and bidirectional checks look at the mapped characters before
///   NFKC, not at its output (so a character unassigned in Unicode 3.2 fails even where NFKC
///   would turn it into assigned ones);
/// - right-to-left and left-to-right are RFC 3454's tables D.1 and D.2, which PostgreSQL copies,
///   not today's Unicode bidi classes (Braille, for one, is left-to-right now and was not then).
///
/// The stringprep crate's own `saslprep` parts from PostgreSQL on the last three, so only its
/// RFC 3454 tables are used here.
fn saslprep(password: &str) -> Cow<'_, str> {
    if password.is_ascii() {
        return Cow::Borrowed(password);
    }
    let mapped: Vec<char> = password
        .chars()
        .filter_map(|c| {
            if tables::non_ascii_space_character(c) {
                Some(' ')
            } else if tables::commonly_mapped_to_nothing(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect();
    let fails = mapped.is_empty()
        || mapped
            .iter()
            .any(|&c| prohibited(c) || tables::unassigned_code_point(c))
        || bidi_fails(&mapped);
    if fails {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(mapped.into_iter().nfkc().collect())
    }
}

/// SASLprep's prohibited output: RFC 4013 section 2.3 (RFC 3454's C.1.2, C.2.1 to C.9; a Rust
/// `char` is never a surrogate, C.5).
fn prohibited(c: char) -> bool {
    tables::non_ascii_space_character(c)
        || tables::ascii_control_character(c)
        || tables::non_ascii_control_character(c)
        || tables::private_use(c)
        || tables::non_character_code_point(c)
        || tables::inappropriate_for_plain_text(c)
        || tables::inappropriate_for_canonical_representation(c)
        || tables::change_display_properties_or_deprecated(c)
        || tables::tagging_character(c)
}

/// RFC 3454 section 6: text with a right-to-left character holds no left-to-right one, and
/// starts and ends with a right-to-left one.
fn bidi_fails(chars: &[char]) -> bool {
    let (Some(&first), Some(&last)) = (chars.first(), chars.last()) else {
        return false;
    };
    if !chars.iter().any(|&c| in_table(RAND_AL_CAT, c)) {
        return false;
    }
    chars.iter().any(|&c| in_table(L_CAT, c))
        || !in_table(RAND_AL_CAT, first)
        || !in_table(RAND_AL_CAT, last)
}

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    table
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

// RFC 3454 D.1 and D.2: the characters whose Unicode 3.2 bidi class is R or AL, and L, as
// inclusive ranges (surrogates left out). Generated with Python's stringprep module
// (`in_table_d1`, `in_table_d2`, which read Unicode 3.2's data), and equal to PostgreSQL's
// RandALCat_codepoint_ranges and LCat_codepoint_ranges.
#[rustfmt::skip]
const RAND_AL_CAT: &[(u32, u32)] = &[
    (0x05BE, 0x05BE), (0x05C0, 0x05C0), (0x05C3, 0x05C3), (0x05D0, 0x05EA),
    (0x05F0, 0x05F4), (0x061B, 0x061B), (0x061F, 0x061F), (0x0621, 0x063A),
    (0x0640, 0x064A), (0x066D, 0x066F), (0x0671, 0x06D5), (0x06DD, 0x06DD),
    (0x06E5, 0x06E6), (0x06FA, 0x06FE), (0x0700, 0x070D), (0x0710, 0x0710),
    (0x0712, 0x072C), (0x0780, 0x07A5), (0x07B1, 0x07B1), (0x200F, 0x200F),
    (0xFB1D, 0xFB1D), (0xFB1F, 0xFB28), (0xFB2A, 0xFB36), (0xFB38, 0xFB3C),
    (0xFB3E, 0xFB3E), (0xFB40, 0xFB41), (0xFB43, 0xFB44), (0xFB46, 0xFBB1),
    (0xFBD3, 0xFD3D), (0xFD50, 0xFD8F), (0xFD92, 0xFDC7), (0xFDF0, 0xFDFC),
    (0xFE70, 0xFE74), (0xFE76, 0xFEFC),
];

#[rustfmt::skip]
const L_CAT: &[(u32, u32)] = &[
    (0x0041, 0x005A), (0x0061, 0x007A), (0x00AA, 0x00AA), (0x00B5, 0x00B5),
    (0x00BA, 0x00BA), (0x00C0, 0x00D6), (0x00D8, 0x00F6), (0x00F8, 0x0220),
    (0x0222, 0x0233), (0x0250, 0x02AD), (0x02B0, 0x02B8), (0x02BB, 0x02C1),
    (0x02D0, 0x02D1), (0x02E0, 0x02E4), (0x02EE, 0x02EE), (0x037A, 0x037A),
    (0x0386, 0x0386), (0x0388, 0x038A), (0x038C, 0x038C), (0x038E, 0x03A1),
    (0x03A3, 0x03CE), (0x03D0, 0x03F5), (0x0400, 0x0482), (0x048A, 0x04CE),
    (0x04D0, 0x04F5), (0x04F8, 0x04F9), (0x0500, 0x050F), (0x0531, 0x0556),
    (0x0559, 0x055F), (0x0561, 0x0587), (0x0589, 0x0589), (0x0903, 0x0903),
    (0x0905, 0x0939), (0x093D, 0x0940), (0x0949, 0x094C), (0x0950, 0x0950),
    (0x0958, 0x0961), (0x0964, 0x0970), (0x0982, 0x0983), (0x0985, 0x098C),
    (0x098F, 0x0990), (0x0993, 0x09A8), (0x09AA, 0x09B0), (0x09B2, 0x09B2),
    (0x09B6, 0x09B9), (0x09BE, 0x09C0), (0x09C7, 0x09C8), (0x09CB, 0x09CC),
    (0x09D7, 0x09D7), (0x09DC, 0x09DD), (0x09DF, 0x09E1), (0x09E6, 0x09F1),
    (0x09F4, 0x09FA), (0x0A05, 0x0A0A), (0x0A0F, 0x0A10), (0x0A13, 0x0A28),
    (0x0A2A, 0x0A30), (0x0A32, 0x0A33), (0x0A35, 0x0A36), (0x0A38, 0x0A39),
    (0x0A3E, 0x0A40), (0x0A59, 0x0A5C), (0x0A5E, 0x0A5E), (0x0A66, 0x0A6F),
    (0x0A72, 0x0A74), (0x0A83, 0x0A83), (0x0A85, 0x0A8B), (0x0A8D, 0x0A8D),
    (0x0A8F, 0x0A91), (0x0A93, 0x0AA8), (0x0AAA, 0x0AB0), (0x0AB2, 0x0AB3),
    (0x0AB5, 0x0AB9), (0x0ABD, 0x0AC0), (0x0AC9, 0x0AC9), (0x0ACB, 0x0ACC),
    (0x0AD0, 0x0AD0), (0x0AE0, 0x0AE0), (0x0AE6, 0x0AEF), (0x0B02, 0x0B03),
    (0x0B05, 0x0B0C), (0x0B0F, 0x0B10), (0x0B13, 0x0B28), (0x0B2A, 0x0B30),
    (0x0B32, 0x0B33), (0x0B36, 0x0B39), (0x0B3D, 0x0B3E), (0x0B40, 0x0B40),
    (0x0B47, 0x0B48), (0x0B4B, 0x0B4C), (0x0B57, 0x0B57), (0x0B5C, 0x0B5D),
    (0x0B5F, 0x0B61), (0x0B66, 0x0B70), (0x0B83, 0x0B83), (0x0B85, 0x0B8A),
    (0x0B8E, 0x0B90), (0x0B92, 0x0B95), (0x0B99, 0x0B9A), (0x0B9C, 0x0B9C),
    (0x0B9E, 0x0B9F), (0x0BA3, 0x0BA4), (0x0BA8, 0x0BAA), (0x0BAE, 0x0BB5),
    (0x0BB7, 0x0BB9), (0x0BBE, 0x0BBF), (0x0BC1, 0x0BC2), (0x0BC6, 0x0BC8),
    (0x0BCA, 0x0BCC), (0x0BD7, 0x0BD7), (0x0BE7, 0x0BF2), (0x0C01, 0x0C03),
    (0x0C05, 0x0C0C), (0x0C0E, 0x0C10), (0x0C12, 0x0C28), (0x0C2A, 0x0C33),
    (0x0C35, 0x0C39), (0x0C41, 0x0C44), (0x0C60, 0x0C61), (0x0C66, 0x0C6F),
    (0x0C82, 0x0C83), (0x0C85, 0x0C8C), (0x0C8E, 0x0C90), (0x0C92, 0x0CA8),
    (0x0CAA, 0x0CB3), (0x0CB5, 0x0CB9), (0x0CBE, 0x0CBE), (0x0CC0, 0x0CC4),
    (0x0CC7, 0x0CC8), (0x0CCA, 0x0CCB), (0x0CD5, 0x0CD6), (0x0CDE, 0x0CDE),
    (0x0CE0, 0x0CE1), (0x0CE6, 0x0CEF), (0x0D02, 0x0D03), (0x0D05, 0x0D0C),
    (0x0D0E, 0x0D10), (0x0D12, 0x0D28), (0x0D2A, 0x0D39), (0x0D3E, 0x0D40),
    (0x0D46, 0x0D48), (0x0D4A, 0x0D4C), (0x0D57, 0x0D57), (0x0D60, 0x0D61),
    (0x0D66, 0x0D6F), (0x0D82, 0x0D83), (0x0D85, 0x0D96), (0x0D9A, 0x0DB1),
    (0x0DB3, 0x0DBB), (0x0DBD, 0x0DBD), (0x0DC0, 0x0DC6), (0x0DCF, 0x0DD1),
    (0x0DD8, 0x0DDF), (0x0DF2, 0x0DF4), (0x0E01, 0x0E30), (0x0E32, 0x0E33),
    (0x0E40, 0x0E46), (0x0E4F, 0x0E5B), (0x0E81, 0x0E82), (0x0E84, 0x0E84),
    (0x0E87, 0x0E88), (0x0E8A, 0x0E8A), (0x0E8D, 0x0E8D), (0x0E94, 0x0E97),
    (0x0E99, 0x0E9F), (0x0EA1, 0x0EA3), (0x0EA5, 0x0EA5), (0x0EA7, 0x0EA7),
    (0x0EAA, 0x0EAB), (0x0EAD, 0x0EB0), (0x0EB2, 0x0EB3), (0x0EBD, 0x0EBD),
    (0x0EC0, 0x0EC4), (0x0EC6, 0x0EC6), (0x0ED0, 0x0ED9), (0x0EDC, 0x0EDD),
    (0x0F00, 0x0F17), (0x0F1A, 0x0F34), (0x0F36, 0x0F36), (0x0F38, 0x0F38),
    (0x0F3E, 0x0F47), (0x0F49, 0x0F6A), (0x0F7F, 0x0F7F), (0x0F85, 0x0F85),
    (0x0F88, 0x0F8B), (0x0FBE, 0x0FC5), (0x0FC7, 0x0FCC), (0x0FCF, 0x0FCF),
    (0x1000, 0x1021), (0x1023, 0x1027), (0x1029, 0x102A), (0x102C, 0x102C),
    (0x1031, 0x1031), (0x1038, 0x1038), (0x1040, 0x1057), (0x10A0, 0x10C5),
    (0x10D0, 0x10F8), (0x10FB, 0x10FB), (0x1100, 0x1159), (0x115F, 0x11A2),
    (0x11A8, 0x11F9), (0x1200, 0x1206), (0x1208, 0x1246), (0x1248, 0x1248),
    (0x124A, 0x124D), (0x1250, 0x1256), (0x1258, 0x1258), (0x125A, 0x125D),
    (0x1260, 0x1286), (0x1288, 0x1288), (0x128A, 0x128D), (0x1290, 0x12AE),
    (0x12B0, 0x12B0), (0x12B2, 0x12B5), (0x12B8, 0x12BE), (0x12C0, 0x12C0),
    (0x12C2, 0x12C5), (0x12C8, 0x12CE), (0x12D0, 0x12D6), (0x12D8, 0x12EE),
    (0x12F0, 0x130E), (0x1310, 0x1310), (0x1312, 0x1315), (0x1318, 0x131E),
    (0x1320, 0x1346), (0x1348, 0x135A), (0x1361, 0x137C), (0x13A0, 0x13F4),
    (0x1401, 0x1676), (0x1681, 0x169A), (0x16A0, 0x16F0), (0x1700, 0x170C),
    (0x170E, 0x1711), (0x1720, 0x1731), (0x1735, 0x1736), (0x1740, 0x1751),
    (0x1760, 0x176C), (0x176E, 0x1770), (0x1780, 0x17B6), (0x17BE, 0x17C5),
    (0x17C7, 0x17C8), (0x17D4, 0x17DA), (0x17DC, 0x17DC), (0x17E0, 0x17E9),
    (0x1810, 0x1819), (0x1820, 0x1877), (0x1880, 0x18A8), (0x1E00, 0x1E9B),
    (0x1EA0, 0x1EF9), (0x1F00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45),
    (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B),
    (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC),
    (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4), (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3),
    (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC),
    (0x200E, 0x200E), (0x2071, 0x2071), (0x207F, 0x207F), (0x2102, 0x2102),
    (0x2107, 0x2107), (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D),
    (0x2124, 0x2124), (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D),
    (0x212F, 0x2131), (0x2133, 0x2139), (0x213D, 0x213F), (0x2145, 0x2149),
    (0x2160, 0x2183), (0x2336, 0x237A), (0x2395, 0x2395), (0x249C, 0x24E9),
    (0x3005, 0x3007), (0x3021, 0x3029), (0x3031, 0x3035), (0x3038, 0x303C),
    (0x3041, 0x3096), (0x309D, 0x309F), (0x30A1, 0x30FA), (0x30FC, 0x30FF),
    (0x3105, 0x312C), (0x3131, 0x318E), (0x3190, 0x31B7), (0x31F0, 0x321C),
    (0x3220, 0x3243), (0x3260, 0x327B), (0x327F, 0x32B0), (0x32C0, 0x32CB),
    (0x32D0, 0x32FE), (0x3300, 0x3376), (0x337B, 0x33DD), (0x33E0, 0x33FE),
    (0x3400, 0x4DB5), (0x4E00, 0x9FA5), (0xA000, 0xA48C), (0xAC00, 0xD7A3),
    (0xE000, 0xFA2D), (0xFA30, 0xFA6A), (0xFB00, 0xFB06), (0xFB13, 0xFB17),
    (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0xFF66, 0xFFBE), (0xFFC2, 0xFFC7),
    (0xFFCA, 0xFFCF), (0xFFD2, 0xFFD7), (0xFFDA, 0xFFDC), (0x10300, 0x1031E),
    (0x10320, 0x10323), (0x10330, 0x1034A), (0x10400, 0x10425), (0x10428, 0x1044D),
    (0x1D000, 0x1D0F5), (0x1D100, 0x1D126), (0x1D12A, 0x1D166), (0x1D16A, 0x1D172),
    (0x1D183, 0x1D184), (0x1D18C, 0x1D1A9), (0x1D1AE, 0x1D1DD), (0x1D400, 0x1D454),
    (0x1D456, 0x1D49C), (0x1D49E, 0x1D49F), (0x1D4A2, 0x1D4A2), (0x1D4A5, 0x1D4A6),
    (0x1D4A9, 0x1D4AC), (0x1D4AE, 0x1D4B9), (0x1D4BB, 0x1D4BB), (0x1D4BD, 0x1D4C0),
    (0x1D4C2, 0x1D4C3), (0x1D4C5, 0x1D505), (0x1D507, 0x1D50A), (0x1D50D, 0x1D514),
    (0x1D516, 0x1D51C), (0x1D51E, 0x1D539), (0x1D53B, 0x1D53E), (0x1D540, 0x1D544),
    (0x1D546, 0x1D546), (0x1D54A, 0x1D550), (0x1D552, 0x1D6A3), (0x1D6A8, 0x1D7C9),
    (0x20000, 0x2A6D6), (0x2F800, 0x2FA1D), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifiers PostgreSQL 16.14 made, each password with its own random salt: `CREATE ROLE r
    /// LOGIN; ALTER ROLE r PASSWORD U&'…'` (the passwords below, as `U&` escapes) on a server
    /// started with `password_encryption = scram-sha-256`, the last after `SET scram_iterations =
    /// 10000`, then `SELECT rolpassword FROM pg_authid WHERE rolname = 'r'`.
    const FROM_POSTGRES_16: &[(&str, &str)] = &[
        // ASCII, taken as is.
        (
            "correct horse battery staple",
            "SCRAM-SHA-256$4096:y5YwRHWcJUiBxiLlcHPnIw==$qdnBW5EP6L/dgz+u4NzWH9XIyowopdnTA+3G+859H+Y=:BgiFXeIVZNuO7fXpztj6JYt6fSocICI8v+PHik3XZy0=",
        ),
        // The soft hyphen maps to nothing: hashed as "IX".
        (
            "I\u{00AD}X",
            "SCRAM-SHA-256$4096:FrlaXFv2mwL+yLGfzzMWXQ==$xOmI3oqL9WbHuV0x8PJPmuBbH26oVixFeaeJeJSZ4y0=:b8V4NdrRctGiVnxUt3uwXLsZBFrow1CLuqGtYg+82V0=",
        ),
        (
            "IX",
            "SCRAM-SHA-256$4096:8gdhZy5U3uTJtwr1gnshDw==$8wf/p/t0Sl7f7WIB0zMw15JPxbgfZ0lEs38uFIjUesA=:Doaqyu2nXSKTXcWYy6f34uVQ5tSzc02UFmVoH10brwc=",
        ),
        // Maps to nothing at all: PostgreSQL's SASLprep refuses it, the raw bytes are hashed.
        (
            "\u{00AD}",
            "SCRAM-SHA-256$4096:sm78ie3XdIHUM3czzftOoQ==$8rzgeRdVvKwIb3aabzWxjSQF+Uprzq6Jz1MznJ43zj8=:CRATSNS1NtGo5eKNBcIi1qqzZpwmtrJN/U5NSZibfhs=",
        ),
        // Unassigned in Unicode 3.2 (NFKC would make it "0."): raw bytes.
        (
            "a\u{1F100}",
            "SCRAM-SHA-256$4096:ysEY2VRskqzr6K47HXrDVA==$weV1axWmrfInagx2NE4QGLEMaKm7A5AJRdVtar6PBAg=:ODbV88ZZ9SV+ntVKb1kejOu3Viyh3yKJjDeRnXnxmRE=",
        ),
        // Private use, prohibited: raw bytes.
        (
            "x\u{E000}y",
            "SCRAM-SHA-256$4096:+12O9+I23z2WTnA+2FkUsQ==$so6nTI/+xH4q3bqbX1Q+d4WY/IJKuFexBnF2Wqz8t4I=:x9pxwAgQOB33lvGa6kVzJq5lBH6f2tNe3aXJzyaZV4A=",
        ),
        // NFKC: the ligature is hashed as "fix".
        (
            "\u{FB01}x",
            "SCRAM-SHA-256$4096:PSTxte4BvAM4Si2n+yjHoA==$9xr86PbbAWTrCD76p+AxrPJLEtV5Iqh+U0JqufuiXE0=:NmGWDeSsDIvXnZ+ziEGhVj77PMyG1r+3Ah9ExCMRzNo=",
        ),
        // Right-to-left with a left-to-right letter: raw bytes.
        (
            "\u{05D0}a",
            "SCRAM-SHA-256$4096:cowCTq4I8s7UbI2zar5JVA==$oSuiUlNaX59WuFyC/C6ttZKyb15Yws/8bPq7HhB4pxY=:r48XZGDy/u8BTTsVRJYY7Q0W0jt6xWrrCKuD2dhYKhs=",
        ),
        // Braille was not left-to-right in Unicode 3.2: prepared, the wide alef made an alef.
        (
            "\u{FB21}\u{2801}\u{05D0}",
            "SCRAM-SHA-256$4096:QEeM26oXFr/gk70FudCr2g==$a7eyAB8fVaA+FotRYaQx1hpXMZ2ajRoxLB8x/yTmPOk=:daZlH1tlFSZaFFItWms9+UNlMKAB/JYb6nl6KQ0fKOc=",
        ),
        // Khmer's inherent AQ was left-to-right in Unicode 3.2 (a mark now): raw bytes.
        (
            "\u{FB21}\u{17B4}\u{05D0}",
            "SCRAM-SHA-256$4096:fOFMrop/DmBg7sx5R8bnsQ==$lOM0RZsO2B6RSN7faHrFHHOpHrj0sI+MOKjh9NMpXxg=:WpBemYd2b8YfMWHEX+7zMzdRkzJsRLH2KHXyNpGBMho=",
        ),
        (
            "correct horse battery staple",
            "SCRAM-SHA-256$10000:3WyoBi0+oq+OXFwnoAXJ1A==$leaT3Umjhmvyr8YLgtcAZDcjG6zl//BqpuJdGGKIghE=:7r/FoGj+a1weQGh69iSYTWRtyDW7OYr1ECfkotWSY6k=",
        ),
    ];

    /// The iteration count and salt written in a verifier.
    fn parameters(verifier: &str) -> (u32, [u8; 16]) {
        let (iterations, rest) = verifier
            .strip_prefix("SCRAM-SHA-256$")
            .and_then(|v| v.split_once(':'))
            .unwrap();
        let salt = STANDARD.decode(rest.split_once('$').unwrap().0).unwrap();
        (iterations.parse().unwrap(), salt.try_into().unwrap())
    }

    #[test]
    fn verifiers_match_postgresql_for_its_salts() {
        for &(password, expected) in FROM_POSTGRES_16 {
            let (iterations, salt) = parameters(expected);
            assert_eq!(
                verifier(password, &salt, iterations),
                expected,
                "{password:?}"
            );
        }
    }

    #[test]
    fn saslprep_follows_postgresql() {
        let prepared = |password| saslprep(password).into_owned();
        assert_eq!(prepared("I\u{00AD}X"), "IX");
        assert_eq!(prepared("a\u{00A0}b"), "a b");
        assert_eq!(prepared("\u{FB01}x"), "fix");
        assert_eq!(
            prepared("\u{FB21}\u{2801}\u{05D0}"),
            "\u{05D0}\u{2801}\u{05D0}"
        );
        // PostgreSQL hashes these as they are.
        for raw in [
            "tab\there\u{7}",
            "\u{00AD}",
            "a\u{1F100}",
            "x\u{E000}y",
            "\u{05D0}a",
            "a\u{05D0}",
            "\u{FB21}\u{17B4}\u{05D0}",
        ] {
            assert!(
                matches!(saslprep(raw), Cow::Borrowed(p) if p == raw),
                "{raw:?}"
            );
        }
        let salt = [7; 16];
        assert_eq!(
            verifier("I\u{00AD}X", &salt, ITERATIONS),
            verifier("IX", &salt, ITERATIONS)
        );
    }

    #[test]
    fn the_bidi_tables_are_sorted_ranges() {
        for table in [RAND_AL_CAT, L_CAT] {
            assert!(table.iter().all(|(low, high)| low <= high));
            assert!(table.windows(2).all(|w| w[0].1 < w[1].0));
        }
        assert!(in_table(L_CAT, 'A') && !in_table(L_CAT, '\u{2801}'));
        assert!(in_table(RAND_AL_CAT, '\u{05D0}') && !in_table(RAND_AL_CAT, 'A'));
    }

    #[test]
    fn salts_are_the_same_for_the_same_inputs_and_differ_otherwise() {
        let salt = deterministic_salt("shop", "app", "s3cret");
        assert_eq!(salt, deterministic_salt("shop", "app", "s3cret"));
        for other in [
            deterministic_salt("shop", "app", "s3cret2"),
            deterministic_salt("shop", "reporting", "s3cret"),
            deterministic_salt("blog", "app", "s3cret"),
            // The length prefix: the same bytes split differently between context and user.
            deterministic_salt("shopa", "pp", "s3cret"),
        ] {
            assert_ne!(salt, other);
        }
        assert_eq!(
            verifier("s3cret", &salt, ITERATIONS),
            verifier(
                "s3cret",
                &deterministic_salt("shop", "app", "s3cret"),
                ITERATIONS
            )
        );
    }

    #[test]
    fn the_salt_is_pbkdf2_of_the_password_over_the_context_and_user() {
        // Pinned, so a change to the derivation (which would change every rendered userlist.txt
        // and so every role's verifier) cannot pass unnoticed; other tools derive the same salt:
        // Python's hashlib.pbkdf2_hmac("sha256", b"s3cret",
        // b"sitewright scram salt\0" + (4).to_bytes(8, "big") + b"shopapp", 4096, 16).
        let hex: String = deterministic_salt("shop", "app", "s3cret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "5dbd51aabc3b7745c89969fc72707dc2");
    }
}
