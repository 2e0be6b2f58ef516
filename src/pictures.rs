//! Display pictures: uploads are decoded and re-encoded (metadata stripped, square, at
//! most 512 px), and people without one get a generated avatar. No HTTP or SQL here.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::domain::Invalid;

pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_SIDE: u32 = 512;
/// The stored picture must stay below the table's limit (256 KiB).
const MAX_STORED_BYTES: usize = 256 * 1024;
/// Larger images are refused before decoding (image bombs: huge dimensions, small file).
const MAX_DIMENSION: u32 = 8_000;
const MAX_DECODE_ALLOC: u64 = 128 * 1024 * 1024;

pub struct Encoded {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Decodes an uploaded PNG, JPEG, WebP or GIF (sniffed from its bytes, never from the
/// client's content type), crops it to a centred square of at most 512 px and encodes it
/// again: only pixels survive, so EXIF, GPS, XMP and ICC data are gone.
pub fn reencode(upload: &[u8]) -> Result<Encoded, Invalid> {
    if upload.is_empty() {
        return Err(Invalid("Choose a picture to upload."));
    }
    let mut reader = ImageReader::new(Cursor::new(upload)).with_guessed_format().map_err(|_| Invalid("That file could not be read."))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) => {}
        _ => return Err(Invalid("Upload a PNG, JPEG, WebP or GIF picture.")),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| Invalid("That picture is too large or damaged."))?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|_| Invalid("That picture is too large or damaged."))?;
    if let Some(o) = orientation {
        // Phone photos store their rotation in EXIF, which is about to be dropped.
        img.apply_orientation(o);
    }
    let side = img.width().min(img.height()).clamp(1, MAX_SIDE);
    let square = img.resize_to_fill(side, side, FilterType::Lanczos3);
    encode(square).ok_or(Invalid("That picture could not be processed."))
}

/// PNG keeps transparency; photos (or a PNG that would be too big) become JPEG.
fn encode(img: DynamicImage) -> Option<Encoded> {
    if img.color().has_alpha() {
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).ok()?;
        if png.len() <= MAX_STORED_BYTES {
            return Some(Encoded { content_type: "image/png", bytes: png });
        }
    }
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    for quality in [85u8, 70, 50] {
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
        rgb.write_with_encoder(encoder).ok()?;
        if jpeg.len() <= MAX_STORED_BYTES {
            return Some(Encoded { content_type: "image/jpeg", bytes: jpeg });
        }
    }
    None
}

/// A generated avatar: the first letter of the name on a colour derived from the user id.
pub fn default_avatar_svg(user_id: &crate::models::UserId, username: &str) -> String {
    let hue = u32::from(user_id.as_uuid().as_bytes()[15]) * 360 / 256;
    // Usernames are a-z 0-9 _ . - only, so the letter needs no escaping.
    let letter = username.chars().next().unwrap_or('?').to_ascii_uppercase();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" width=\"64\" height=\"64\">\
         <rect width=\"64\" height=\"64\" fill=\"hsl({hue},55%,38%)\"/>\
         <text x=\"32\" y=\"32\" dy=\".35em\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" \
         font-size=\"30\" font-weight=\"600\" fill=\"#fff\">{letter}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = DynamicImage::new_rgb8(width, height);
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap_or_default();
        out
    }

    #[test]
    fn a_picture_becomes_a_square_of_at_most_512_px() {
        let encoded = reencode(&png(1200, 700)).map_err(|e| e.0);
        let encoded = encoded.as_ref().map(|e| image::load_from_memory(&e.bytes).map(|i| (i.width(), i.height())));
        assert!(matches!(encoded, Ok(Ok((512, 512)))), "{encoded:?}");
    }

    #[test]
    fn a_small_picture_keeps_its_size_but_is_cropped_square() {
        let encoded = reencode(&png(100, 60)).map(|e| image::load_from_memory(&e.bytes).map(|i| (i.width(), i.height())));
        assert!(matches!(encoded, Ok(Ok((60, 60)))));
    }

    #[test]
    fn text_is_not_a_picture() {
        assert!(reencode(b"hello, I am not an image").is_err());
        assert!(reencode(b"").is_err());
    }
}
