//! Writing a [`CapAlert`] as CAP 1.2 XML, elements in the schema's order.
//!
//! Text is escaped for XML element content: `&`, `<` and `>` as entities, a carriage return
//! as `&#13;` (a raw one would be read back as a line feed), and the few characters XML 1.0
//! cannot carry at all (control characters other than tab, line feed and carriage return,
//! U+FFFE, U+FFFF) as U+FFFD, the replacement character. A document read by [`crate::parse`]
//! never holds those, so what was read is written back unchanged.
//!
//! Writing never fails, even for a value that breaks a CAP rule (an identifier with a space,
//! an `info` without a category): build values from other data with care and check them with
//! [`CapAlert::validate`], which reads the written document back with every rule.

use std::fmt::Write as _;

use crate::CAP_NAMESPACE;
use crate::model::*;

/// Spaces per level of indentation.
const INDENT: usize = 2;

/// The alert as a CAP 1.2 document in UTF-8, with an XML declaration.
pub fn to_xml(alert: &CapAlert) -> String {
    let mut w = XmlWriter::default();
    w.buf.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.buf.push_str(&format!("<alert xmlns=\"{CAP_NAMESPACE}\">\n"));
    w.depth = 1;
    w.text("identifier", &alert.identifier);
    w.text("sender", &alert.sender);
    w.text("sent", &alert.sent.to_string());
    w.text("status", alert.status.as_str());
    w.text("msgType", alert.msg_type.as_str());
    w.opt("source", alert.source.as_deref());
    w.text("scope", alert.scope.as_str());
    w.opt("restriction", alert.restriction.as_deref());
    w.opt("addresses", alert.addresses.as_deref());
    for code in &alert.codes {
        w.text("code", code);
    }
    w.opt("note", alert.note.as_deref());
    if !alert.references.is_empty() {
        let refs: Vec<String> = alert.references.iter().map(Reference::key).collect();
        w.text("references", &refs.join(" "));
    }
    w.opt("incidents", alert.incidents.as_deref());
    for info in &alert.infos {
        write_info(&mut w, info);
    }
    w.buf.push_str("</alert>\n");
    w.buf
}

fn write_info(w: &mut XmlWriter, info: &Info) {
    w.open("info");
    w.text("language", &info.language);
    for category in &info.categories {
        w.text("category", category.as_str());
    }
    w.text("event", &info.event);
    for response in &info.response_types {
        w.text("responseType", response.as_str());
    }
    w.text("urgency", info.urgency.as_str());
    w.text("severity", info.severity.as_str());
    w.text("certainty", info.certainty.as_str());
    w.opt("audience", info.audience.as_deref());
    w.pairs("eventCode", &info.event_codes);
    w.opt("effective", info.effective.map(|t| t.to_string()).as_deref());
    w.opt("onset", info.onset.map(|t| t.to_string()).as_deref());
    w.opt("expires", info.expires.map(|t| t.to_string()).as_deref());
    w.opt("senderName", info.sender_name.as_deref());
    w.opt("headline", info.headline.as_deref());
    w.opt("description", info.description.as_deref());
    w.opt("instruction", info.instruction.as_deref());
    w.opt("web", info.web.as_deref());
    w.opt("contact", info.contact.as_deref());
    w.pairs("parameter", &info.parameters);
    for resource in &info.resources {
        w.open("resource");
        w.text("resourceDesc", &resource.resource_desc);
        w.text("mimeType", &resource.mime_type);
        w.opt("size", resource.size.map(|s| s.to_string()).as_deref());
        w.opt("uri", resource.uri.as_deref());
        w.opt("derefUri", resource.deref_uri.as_deref());
        w.opt("digest", resource.digest.as_deref());
        w.close("resource");
    }
    for area in &info.areas {
        write_area(w, area);
    }
    w.close("info");
}

fn write_area(w: &mut XmlWriter, area: &Area) {
    w.open("area");
    w.text("areaDesc", &area.area_desc);
    for polygon in &area.polygons {
        w.text("polygon", &polygon.to_string());
    }
    for circle in &area.circles {
        w.text("circle", &circle.to_string());
    }
    w.pairs("geocode", &area.geocodes);
    w.opt("altitude", area.altitude.map(|a| a.to_string()).as_deref());
    w.opt("ceiling", area.ceiling.map(|c| c.to_string()).as_deref());
    w.close("area");
}

/// An indenting writer of elements that hold either text or elements.
#[derive(Debug, Default)]
struct XmlWriter {
    buf: String,
    depth: usize,
}

impl XmlWriter {
    fn indent(&mut self) {
        let _ = write!(self.buf, "{:width$}", "", width = self.depth * INDENT);
    }

    fn open(&mut self, name: &str) {
        self.indent();
        let _ = writeln!(self.buf, "<{name}>");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.buf, "</{name}>");
    }

    fn text(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = write!(self.buf, "<{name}>");
        escape_text_into(&mut self.buf, text);
        let _ = writeln!(self.buf, "</{name}>");
    }

    fn opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, text);
        }
    }

    fn pairs(&mut self, name: &str, pairs: &[ValuePair]) {
        for pair in pairs {
            self.open(name);
            self.text("valueName", &pair.value_name);
            self.text("value", &pair.value);
            self.close(name);
        }
    }
}

/// Appends `text` escaped for element content or a double-quoted attribute value.
pub(crate) fn escape_text_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            _ => out.push(char::REPLACEMENT_CHARACTER),
        }
    }
}

/// Whether XML 1.0 (section 2.2, `Char`) can carry `c` at all.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}
