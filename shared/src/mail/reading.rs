//! Tests only: reads a rendered mail's HTML as a mail client would (links, text, elements).

use scraper::{Html, Selector};

/// Every link's target, in document order.
pub(crate) fn hrefs(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let a = Selector::parse("a[href]").unwrap();
    doc.select(&a)
        .filter_map(|a| a.value().attr("href"))
        .map(str::to_owned)
        .collect()
}

/// The text of the HTML body as a reader sees it: entities decoded, whitespace runs as one
/// space.
pub(crate) fn html_text(html: &str) -> String {
    let doc = Html::parse_document(html);
    let body = Selector::parse("body").unwrap();
    let text: String = doc.select(&body).flat_map(|b| b.text()).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of every element `selector` matches, in document order.
pub(crate) fn select_text(html: &str, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let selector = Selector::parse(selector).unwrap();
    doc.select(&selector)
        .map(|e| e.text().collect::<String>())
        .collect()
}
