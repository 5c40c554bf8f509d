//! Writes the committed seed corpus (`fuzz/seeds/`): the fixture's stored
//! values for `document_decode`, and its paths, hold ids and origin lines
//! for `ids`. Run again when the fixture or a document's shape changes:
//! `cargo +nightly run --example seeds -- fuzz/seeds` from the repository.

use booking_fuzz::fixture::{EVENT, fixture};
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "seeds".to_owned());
    let root = Path::new(&root);
    let fixture = fixture();
    let documents = root.join("document_decode");
    std::fs::create_dir_all(&documents)?;
    for (index, (_, value)) in fixture.values.iter().enumerate() {
        std::fs::write(documents.join(format!("value-{index:03}")), value)?;
    }
    let ids = root.join("ids");
    std::fs::create_dir_all(&ids)?;
    let mut lines = vec![
        format!("/events/{EVENT}"),
        format!("/events/{EVENT}/availability"),
        format!("/events/{EVENT}/holds?x=1#f"),
        "/events/gig%2D2026/holds".to_owned(),
        "https://a.example, https://b.example:8443\nhttps://b.example:8443".to_owned(),
        "*\nhttps://a.example".to_owned(),
    ];
    for hold in &fixture.holds {
        lines.push(format!("/holds/{}/confirm", hold.id));
        lines.push(hold.id.clone());
    }
    for (index, line) in lines.iter().enumerate() {
        std::fs::write(ids.join(format!("line-{index:03}")), line)?;
    }
    println!(
        "{} document seeds, {} id seeds",
        fixture.values.len(),
        lines.len()
    );
    Ok(())
}
