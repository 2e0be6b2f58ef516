//! Reading pages and fragments with CSS selectors.

use scraper::{Html, Selector};

/// The outer HTML of everything `css` matches in `html`.
pub fn select(html: &str, css: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel).map(|e| e.html()).collect()
}

/// Whether `css` matches anything in `html` (attribute order does not matter).
pub fn has(html: &str, css: &str) -> bool {
    !select(html, css).is_empty()
}

/// The attribute `attr` of the first element `css` matches.
pub fn select_attr(html: &str, css: &str, attr: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel).next()?.value().attr(attr).map(str::to_string)
}

/// The seqs of the messages in a page or fragment, in page order.
pub fn seqs_in(html: &str) -> Vec<i64> {
    html.match_indices("data-seq=\"").map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().parse().unwrap()).collect()
}
