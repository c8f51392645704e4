//! Reading a PROPFIND reply (RFC 4918 `multistatus`) for what polling needs:
//! each entry's path, whether it is a folder, and its ETag, size and
//! modification time. Namespace prefixes vary by server (`d:`, `D:`, none),
//! so elements are matched by local name.

use std::time::SystemTime;

use quick_xml::Reader;
use quick_xml::events::Event;

/// One `<response>` of a multistatus reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DavEntry {
    /// The `href`, percent-decoded: a path on the server, with or without
    /// the scheme and host.
    pub href: String,
    pub is_folder: bool,
    pub etag: Option<String>,
    pub size: Option<u64>,
    pub modified: Option<SystemTime>,
}

/// The PROPFIND body asking for just those properties.
pub(super) const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getetag/><d:getcontentlength/><d:getlastmodified/></d:prop></d:propfind>"#;

/// The entries of a multistatus reply, or why it cannot be read.
pub(super) fn parse(xml: &str) -> Result<Vec<DavEntry>, String> {
    let mut reader = Reader::from_str(xml);
    let mut entries = Vec::new();
    let mut entry: Option<DavEntry> = None;
    // The text element being read, and its text so far.
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Eof => return Ok(entries),
            Event::Start(start) => match start.local_name().as_ref() {
                b"response" => entry = Some(DavEntry::default()),
                b"collection" => mark_folder(&mut entry),
                name => {
                    field = text_field(name);
                    text.clear();
                }
            },
            Event::Empty(empty) if empty.local_name().as_ref() == b"collection" => {
                mark_folder(&mut entry);
            }
            Event::Text(chunk) if field.is_some() => {
                text.push_str(&chunk.decode().map_err(|e| e.to_string())?);
            }
            Event::CData(chunk) if field.is_some() => {
                text.push_str(&chunk.decode().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(reference) if field.is_some() => {
                text.push_str(&resolve(&reference)?);
            }
            Event::End(end) => match end.local_name().as_ref() {
                b"response" => entries.extend(entry.take()),
                name if field.is_some_and(|f| f.as_bytes() == name) => {
                    if let Some(entry) = entry.as_mut() {
                        fill(entry, field.take().expect("checked"), text.trim());
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

fn text_field(name: &[u8]) -> Option<&'static str> {
    ["href", "getetag", "getcontentlength", "getlastmodified"]
        .into_iter()
        .find(|field| field.as_bytes() == name)
}

fn mark_folder(entry: &mut Option<DavEntry>) {
    if let Some(entry) = entry.as_mut() {
        entry.is_folder = true;
    }
}

fn fill(entry: &mut DavEntry, field: &str, text: &str) {
    match field {
        "href" => {
            entry.href = percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned();
        }
        "getetag" if !text.is_empty() => entry.etag = Some(text.to_owned()),
        "getcontentlength" => entry.size = text.parse().ok(),
        "getlastmodified" => entry.modified = httpdate::parse_http_date(text).ok(),
        _ => {}
    }
}

/// `&amp;` and friends, and character references.
fn resolve(reference: &quick_xml::events::BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    let name = reference.decode().map_err(|e| e.to_string())?;
    let resolved = match &*name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => return Err(format!("unknown entity &{other};")),
    };
    Ok(resolved.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_whatever_the_prefix() {
        let xml = r#"<?xml version="1.0"?>
<D:multistatus xmlns:D="DAV:">
 <D:response><D:href>/photos/a%20b/</D:href><D:propstat><D:prop>
   <D:resourcetype><D:collection/></D:resourcetype><D:getetag>"f1"</D:getetag>
 </D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
 <response xmlns="DAV:"><href>http://h/photos/a%20b/x&amp;y.jpg</href><propstat><prop>
   <resourcetype/><getetag>"e2"</getetag><getcontentlength>12</getcontentlength>
   <getlastmodified>Tue, 01 Dec 2026 20:00:00 GMT</getlastmodified>
 </prop></propstat></response>
</D:multistatus>"#;
        let entries = parse(xml).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].href, "/photos/a b/");
        assert!(entries[0].is_folder);
        assert_eq!(entries[0].etag.as_deref(), Some("\"f1\""));
        assert_eq!(entries[1].href, "http://h/photos/a b/x&y.jpg");
        assert!(!entries[1].is_folder);
        assert_eq!(entries[1].size, Some(12));
        assert!(entries[1].modified.is_some());
    }
}
