//! How a message shows its files: images as a preview that links to the full picture
//! (the viewer in `static/attachments.js` opens it), other files as their name and size
//! linking to the download.

use std::collections::HashMap;

use crate::models::attachments::{AttachmentView, Kind};
use crate::models::MessageId;

/// The preview's shown box: `width`/`height` in the page are the preview fitted in it,
/// so the page never jumps when it loads.
pub const SHOWN_SIDE: i32 = 320;

#[derive(Debug, Clone)]
pub struct FileItem {
    pub f: AttachmentView,
}

impl FileItem {
    pub fn is_image(&self) -> bool {
        self.f.kind == Kind::Image
    }
    /// The preview's shown width and height (its shape, within `SHOWN_SIDE`).
    pub fn shown(&self) -> (i32, i32) {
        let (w, h) = (self.f.thumb_width.unwrap_or(1).max(1), self.f.thumb_height.unwrap_or(1).max(1));
        if w <= SHOWN_SIDE && h <= SHOWN_SIDE {
            return (w, h);
        }
        if w >= h {
            (SHOWN_SIDE, (h * SHOWN_SIDE / w).max(1))
        } else {
            ((w * SHOWN_SIDE / h).max(1), SHOWN_SIDE)
        }
    }
    pub fn shown_width(&self) -> i32 {
        self.shown().0
    }
    pub fn shown_height(&self) -> i32 {
        self.shown().1
    }
    pub fn size_text(&self) -> String {
        size_in_words(self.f.size)
    }
}

/// 1 KB = 1000 bytes, as file managers show it.
pub fn size_in_words(bytes: i64) -> String {
    match bytes {
        b if b < 1000 => format!("{b} bytes"),
        b if b < 1_000_000 => format!("{:.0} KB", b as f64 / 1e3),
        b => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// The files by message, in each message's order.
pub fn by_message(files: Vec<AttachmentView>) -> HashMap<MessageId, Vec<FileItem>> {
    let mut map: HashMap<MessageId, Vec<FileItem>> = HashMap::new();
    for f in files {
        map.entry(f.message_id).or_default().push(FileItem { f });
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ids::AttachmentId;

    fn image(w: i32, h: i32) -> FileItem {
        FileItem {
            f: AttachmentView {
                attachment_id: AttachmentId::new_v7(),
                message_id: MessageId::new_v7(),
                name: "a.png".into(),
                size: 1,
                kind: Kind::Image,
                thumb_width: Some(w),
                thumb_height: Some(h),
            },
        }
    }

    #[test]
    fn a_preview_is_shown_in_its_shape_within_the_box() {
        assert_eq!(image(800, 400).shown(), (320, 160));
        assert_eq!(image(300, 800).shown(), (120, 320));
        assert_eq!(image(30, 20).shown(), (30, 20));
        assert_eq!(size_in_words(1_500_000), "1.5 MB");
        assert_eq!(size_in_words(999), "999 bytes");
    }
}
