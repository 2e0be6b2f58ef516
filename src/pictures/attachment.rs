//! Images sent as attachments: recognised by their bytes, decoded within `limits` (the
//! display picture's bounds), and encoded again whole plus a preview within 800×800.
//! Only pixels survive, so EXIF (GPS), XMP, ICC and PNG text chunks are gone. An
//! animated GIF keeps its first frame. No HTTP or SQL here.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};

use crate::domain::Invalid;

/// The preview's longest side at most.
pub const THUMB_SIDE: u32 = 800;
/// A re-encoded image larger than this is encoded again as a smaller JPEG.
const MAX_FULL_BYTES: usize = 25 * 1024 * 1024;

pub struct Encoded {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

pub struct Processed {
    pub full: Encoded,
    pub thumb: Encoded,
}

/// Whether these first bytes start a PNG, JPEG, GIF or WebP (the client's name and
/// content type are never asked). `SNIFF_BYTES` of them are enough.
pub fn looks_like_image(head: &[u8]) -> bool {
    head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP")
}

pub const SNIFF_BYTES: usize = 12;

/// Decodes within the picture bounds, turns the picture as its metadata said, and
/// encodes it and its preview again.
pub fn process(upload: &[u8]) -> Result<Processed, Invalid> {
    let (mut img, orientation) = super::limits::decode(upload)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    const CANNOT: Invalid = Invalid("That picture could not be processed.");
    let full = encode(&img, MAX_FULL_BYTES, &[90, 75, 60]).ok_or(CANNOT)?;
    let thumb = if img.width() <= THUMB_SIDE && img.height() <= THUMB_SIDE { img } else { img.thumbnail(THUMB_SIDE, THUMB_SIDE) };
    let thumb = encode(&thumb, 4 * 1024 * 1024, &[85, 70]).ok_or(CANNOT)?;
    Ok(Processed { full, thumb })
}

/// PNG keeps transparency (unless that grows past `max`); everything else is a JPEG at
/// the first quality that fits.
fn encode(img: &DynamicImage, max: usize, qualities: &[u8]) -> Option<Encoded> {
    let (width, height) = (img.width(), img.height());
    if img.color().has_alpha() {
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).ok()?;
        if png.len() <= max {
            return Some(Encoded { content_type: "image/png", bytes: png, width, height });
        }
    }
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    for &quality in qualities {
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
        rgb.write_with_encoder(encoder).ok()?;
        if jpeg.len() <= max {
            return Some(Encoded { content_type: "image/jpeg", bytes: jpeg, width, height });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let img = if alpha { DynamicImage::new_rgba8(width, height) } else { DynamicImage::new_rgb8(width, height) };
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap_or_default();
        out
    }

    #[test]
    fn images_are_told_by_their_bytes() {
        assert!(looks_like_image(&png(1, 1, false)));
        assert!(looks_like_image(b"GIF89a......"));
        assert!(looks_like_image(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(looks_like_image(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!looks_like_image(b"<svg xmlns="));
        assert!(!looks_like_image(b"RIFF\0\0\0\0WAVE"));
        assert!(!looks_like_image(b""));
    }

    #[test]
    fn the_preview_keeps_the_shape_within_800_px() {
        let done = process(&png(1600, 400, false)).map_err(|e| e.0);
        let sides = done.as_ref().map(|p| (p.full.width, p.full.height, p.thumb.width, p.thumb.height, p.full.content_type));
        assert_eq!(sides, Ok((1600, 400, 800, 200, "image/jpeg")));
        let small = process(&png(30, 20, true)).map(|p| (p.thumb.width, p.thumb.height, p.thumb.content_type));
        assert_eq!(small.map_err(|e| e.0), Ok((30, 20, "image/png")));
    }
}
