//! Reading a CAP 1.2 document: XML to [`CapAlert`], checking every rule on the way.
//!
//! The document is parsed by `roxmltree` with DTDs refused (so no entity expansion) and the
//! node count bounded ([`XML_NODES_MAX`]), after its size was checked
//! ([`DOCUMENT_BYTES_MAX`]). Then each element with children is read by a [`Children`]
//! cursor that walks its child elements in the schema's order, so that a missing, unknown,
//! repeated or misplaced element is reported where it is, with its path.
//!
//! Leniency, where the schema is stricter than useful: whitespace around enumerated values,
//! times, identifiers and numbers is ignored (authors indent their XML), attributes on CAP
//! elements are ignored, and an empty `references` is read as none.

use roxmltree::{Document, Node, ParsingOptions};
use varsel_domain::error::quoted;

use crate::CAP_NAMESPACE;
use crate::datetime::CapDateTime;
use crate::error::{CapError, CapRule, Result};
use crate::geo::{self, ALTITUDE_FEET_ABS_MAX, Circle, Polygon};
use crate::limits::*;
use crate::model::*;

mod children;
use children::{Children, Elem};

/// Element names of `alert`, in the schema's order.
const ALERT_ORDER: &[&str] = &[
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
    "code",
    "note",
    "references",
    "incidents",
    "info",
];
/// Element names of `info`, in the schema's order.
const INFO_ORDER: &[&str] = &[
    "language",
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "audience",
    "eventCode",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "contact",
    "parameter",
    "resource",
    "area",
];
/// Element names of `resource`, in the schema's order.
const RESOURCE_ORDER: &[&str] = &["resourceDesc", "mimeType", "size", "uri", "derefUri", "digest"];
/// Element names of `area`, in the schema's order.
const AREA_ORDER: &[&str] = &["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"];
/// Element names of `eventCode`, `parameter` and `geocode`.
const PAIR_ORDER: &[&str] = &["valueName", "value"];
/// Most digits in `size`: `u64::MAX` has 20.
const SIZE_DIGITS_MAX: usize = 20;

/// Reads and checks a CAP 1.2 `alert` from the bytes of a request body: checks the size
/// first, skips a UTF-8 byte order mark, and refuses bytes that are not UTF-8 (saying where),
/// then [`parse`]s.
pub fn parse_bytes(body: &[u8]) -> Result<CapAlert> {
    check_size(body.len())?;
    let (skipped, bytes) = match body.strip_prefix(UTF8_BOM) {
        Some(rest) => (UTF8_BOM.len(), rest),
        None => (0, body),
    };
    let xml = std::str::from_utf8(bytes).map_err(|e| {
        let at = skipped + e.valid_up_to();
        let message = format!("is not UTF-8 at byte {at}; Varsel reads CAP documents in UTF-8 only");
        CapError::new("document", CapRule::Xml, message)
    })?;
    parse(xml)
}

/// Reads and checks a CAP 1.2 `alert`. See the crate documentation for the rules.
pub fn parse(xml: &str) -> Result<CapAlert> {
    check_size(xml.len())?;
    let options =
        ParsingOptions { allow_dtd: false, nodes_limit: XML_NODES_MAX, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(xml, options).map_err(xml_error)?;
    let root = doc.root_element();
    let mut reader = Reader { doc: &doc, points: 0 };
    reader.check_root(root)?;
    reader.alert(root)
}

/// The byte order mark some tools put before UTF-8 text.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn check_size(bytes: usize) -> Result<()> {
    if bytes > DOCUMENT_BYTES_MAX {
        let message = format!("is {bytes} bytes, more than the limit of {DOCUMENT_BYTES_MAX}");
        return Err(CapError::new("document", CapRule::TooLarge, message));
    }
    Ok(())
}

fn xml_error(e: roxmltree::Error) -> CapError {
    let pos = e.pos();
    let message = match e {
        roxmltree::Error::DtdDetected => {
            "has a DTD (<!DOCTYPE>), which CAP documents must not have".to_string()
        }
        roxmltree::Error::NodesLimitReached => {
            format!("has more than {XML_NODES_MAX} XML nodes, more than a CAP alert can need")
        }
        other => format!("is not well-formed XML: {other}"),
    };
    CapError::new("document", CapRule::Xml, message).at_line(pos.row)
}

/// The reading state of one document.
struct Reader<'a, 'input> {
    doc: &'a Document<'input>,
    /// Polygon points read so far, bounded by [`DOCUMENT_POINTS_MAX`].
    points: usize,
}

impl<'a, 'input> Reader<'a, 'input> {
    fn line(&self, node: Node<'a, 'input>) -> u32 {
        self.doc.text_pos_at(node.range().start).row
    }

    fn err(&self, path: &str, node: Node<'a, 'input>, rule: CapRule, message: impl Into<String>) -> CapError {
        CapError::new(path, rule, message).at_line(self.line(node))
    }

    fn check_root(&self, root: Node<'a, 'input>) -> Result<()> {
        let name = root.tag_name().name();
        if name != "alert" {
            let message = format!("the root element is `{name}`; a CAP document's root is `alert`");
            return Err(self.err("document", root, CapRule::Namespace, message));
        }
        match root.tag_name().namespace() {
            Some(CAP_NAMESPACE) => Ok(()),
            Some(other) => {
                let message =
                    format!("is in namespace {}; only CAP 1.2 ({CAP_NAMESPACE}) is accepted", quoted(other));
                Err(self.err("alert", root, CapRule::Namespace, message))
            }
            None => {
                let message =
                    format!("has no namespace; a CAP 1.2 alert is <alert xmlns=\"{CAP_NAMESPACE}\">");
                Err(self.err("alert", root, CapRule::Namespace, message))
            }
        }
    }

    fn children(
        &self,
        node: Node<'a, 'input>,
        path: &str,
        order: &'static [&'static str],
    ) -> Result<Children<'a, 'input>> {
        if let Some(text) = node.children().find(|n| n.is_text() && !n.text().unwrap_or("").trim().is_empty())
        {
            let message = format!(
                "has the text {} outside its elements; `{}` holds only elements",
                quoted(text.text().unwrap_or("").trim()),
                node.tag_name().name()
            );
            return Err(self.err(path, text, CapRule::Content, message));
        }
        Ok(Children::new(self.doc, node, path, order))
    }

    fn alert(&mut self, node: Node<'a, 'input>) -> Result<CapAlert> {
        let mut c = self.children(node, "alert", ALERT_ORDER)?;
        c.signature_tail = true;
        let identifier = self.id_token(&c.one("identifier")?, "alert/identifier")?;
        let sender = self.id_token(&c.one("sender")?, "alert/sender")?;
        let sent = self.datetime(&c.one("sent")?, "alert/sent")?;
        let status = self.enumerated(&c.one("status")?, "alert/status")?;
        let msg_type = self.enumerated(&c.one("msgType")?, "alert/msgType")?;
        let source = self.opt_text(c.opt("source")?, "alert/source")?;
        let scope_elem = c.one("scope")?;
        let scope = self.enumerated(&scope_elem, "alert/scope")?;
        let restriction = self.opt_text(c.opt("restriction")?, "alert/restriction")?;
        let addresses = self.opt_text(c.opt("addresses")?, "alert/addresses")?;
        let mut codes = Vec::new();
        for (i, e) in c.many("code", CODES_MAX)?.iter().enumerate() {
            codes.push(self.text(e, &format!("alert/code[{}]", i + 1))?);
        }
        let note = self.opt_text(c.opt("note")?, "alert/note")?;
        let references = match c.opt("references")? {
            Some(e) => self.references(&e)?,
            None => Vec::new(),
        };
        let incidents = self.opt_text(c.opt("incidents")?, "alert/incidents")?;
        let mut infos = Vec::new();
        for (i, e) in c.many("info", INFOS_MAX)?.iter().enumerate() {
            infos.push(self.info(e.node, &format!("alert/info[{}]", i + 1))?);
        }
        c.finish()?;
        if scope == Scope::Private && addresses.as_deref().is_none_or(|a| a.trim().is_empty()) {
            let message = "is required when scope is Private: name the recipients";
            return Err(self.err("alert/addresses", scope_elem.node, CapRule::Required, message));
        }
        Ok(CapAlert {
            identifier,
            sender,
            sent,
            status,
            msg_type,
            source,
            scope,
            restriction,
            addresses,
            codes,
            note,
            references,
            incidents,
            infos,
        })
    }

    fn info(&mut self, node: Node<'a, 'input>, path: &str) -> Result<Info> {
        let mut c = self.children(node, path, INFO_ORDER)?;
        let language = match c.opt("language")? {
            Some(e) => self.language(&e, &format!("{path}/language"))?,
            None => DEFAULT_LANGUAGE.to_string(),
        };
        let mut categories = Vec::new();
        for (i, e) in c.many_at_least_one("category", CATEGORIES_MAX)?.iter().enumerate() {
            categories.push(self.enumerated(e, &format!("{path}/category[{}]", i + 1))?);
        }
        let event = self.required_text(&c.one("event")?, &format!("{path}/event"))?;
        let mut response_types = Vec::new();
        for (i, e) in c.many("responseType", RESPONSE_TYPES_MAX)?.iter().enumerate() {
            response_types.push(self.enumerated(e, &format!("{path}/responseType[{}]", i + 1))?);
        }
        let urgency = self.enumerated(&c.one("urgency")?, &format!("{path}/urgency"))?;
        let severity = self.enumerated(&c.one("severity")?, &format!("{path}/severity"))?;
        let certainty = self.enumerated(&c.one("certainty")?, &format!("{path}/certainty"))?;
        let audience = self.opt_text(c.opt("audience")?, &format!("{path}/audience"))?;
        let event_codes = self.pairs(&mut c, "eventCode", EVENT_CODES_MAX, path)?;
        let effective = self.opt_datetime(c.opt("effective")?, &format!("{path}/effective"))?;
        let onset = self.opt_datetime(c.opt("onset")?, &format!("{path}/onset"))?;
        let expires = self.opt_datetime(c.opt("expires")?, &format!("{path}/expires"))?;
        let sender_name = self.opt_text(c.opt("senderName")?, &format!("{path}/senderName"))?;
        let headline = self.opt_text(c.opt("headline")?, &format!("{path}/headline"))?;
        let description = self.opt_text(c.opt("description")?, &format!("{path}/description"))?;
        let instruction = self.opt_text(c.opt("instruction")?, &format!("{path}/instruction"))?;
        let web = self.opt_text(c.opt("web")?, &format!("{path}/web"))?;
        let contact = self.opt_text(c.opt("contact")?, &format!("{path}/contact"))?;
        let parameters = self.pairs(&mut c, "parameter", PARAMETERS_MAX, path)?;
        let mut resources = Vec::new();
        for (i, e) in c.many("resource", RESOURCES_MAX)?.iter().enumerate() {
            resources.push(self.resource(e.node, &format!("{path}/resource[{}]", i + 1))?);
        }
        let mut areas = Vec::new();
        for (i, e) in c.many("area", AREAS_MAX)?.iter().enumerate() {
            areas.push(self.area(e.node, &format!("{path}/area[{}]", i + 1))?);
        }
        c.finish()?;
        Ok(Info {
            language,
            categories,
            event,
            response_types,
            urgency,
            severity,
            certainty,
            audience,
            event_codes,
            effective,
            onset,
            expires,
            sender_name,
            headline,
            description,
            instruction,
            web,
            contact,
            parameters,
            resources,
            areas,
        })
    }

    fn resource(&mut self, node: Node<'a, 'input>, path: &str) -> Result<Resource> {
        let mut c = self.children(node, path, RESOURCE_ORDER)?;
        let resource_desc = self.required_text(&c.one("resourceDesc")?, &format!("{path}/resourceDesc"))?;
        let mime_type = self.required_text(&c.one("mimeType")?, &format!("{path}/mimeType"))?;
        let size = match c.opt("size")? {
            Some(e) => Some(self.size(&e, &format!("{path}/size"))?),
            None => None,
        };
        let uri = self.opt_text(c.opt("uri")?, &format!("{path}/uri"))?;
        let deref_uri = self.opt_text(c.opt("derefUri")?, &format!("{path}/derefUri"))?;
        let digest = self.opt_text(c.opt("digest")?, &format!("{path}/digest"))?;
        c.finish()?;
        Ok(Resource { resource_desc, mime_type, size, uri, deref_uri, digest })
    }

    fn area(&mut self, node: Node<'a, 'input>, path: &str) -> Result<Area> {
        let mut c = self.children(node, path, AREA_ORDER)?;
        let area_desc = self.required_text(&c.one("areaDesc")?, &format!("{path}/areaDesc"))?;
        let mut polygons = Vec::new();
        for (i, e) in c.many("polygon", POLYGONS_MAX)?.iter().enumerate() {
            polygons.push(self.polygon(e, &format!("{path}/polygon[{}]", i + 1))?);
        }
        let mut circles = Vec::new();
        for (i, e) in c.many("circle", CIRCLES_MAX)?.iter().enumerate() {
            let p = format!("{path}/circle[{}]", i + 1);
            let text = self.text(e, &p)?;
            circles.push(Circle::parse(&text).map_err(|m| self.err(&p, e.node, CapRule::Circle, m))?);
        }
        let geocodes = self.pairs(&mut c, "geocode", GEOCODES_MAX, path)?;
        let altitude_elem = c.opt("altitude")?;
        let altitude = self.opt_feet(altitude_elem, &format!("{path}/altitude"))?;
        let ceiling_elem = c.opt("ceiling")?;
        let ceiling = self.opt_feet(ceiling_elem, &format!("{path}/ceiling"))?;
        c.finish()?;
        if let (Some(e), None) = (ceiling_elem, altitude) {
            let message = "is given without altitude; CAP 1.2 uses ceiling only together with altitude";
            return Err(self.err(&format!("{path}/ceiling"), e.node, CapRule::Combination, message));
        }
        Ok(Area { area_desc, polygons, circles, geocodes, altitude, ceiling })
    }

    fn polygon(&mut self, e: &Elem<'a, 'input>, path: &str) -> Result<Polygon> {
        let text = self.text(e, path)?;
        let polygon = Polygon::parse(&text).map_err(|m| self.err(path, e.node, CapRule::Polygon, m))?;
        self.points = self.points.saturating_add(polygon.points.len());
        if self.points > DOCUMENT_POINTS_MAX {
            let message = format!("brings the polygons' points past {DOCUMENT_POINTS_MAX} in one document");
            return Err(self.err(path, e.node, CapRule::TooMany, message));
        }
        Ok(polygon)
    }

    fn pairs(
        &self,
        c: &mut Children<'a, 'input>,
        name: &'static str,
        max: usize,
        path: &str,
    ) -> Result<Vec<ValuePair>> {
        let mut out = Vec::new();
        for (i, e) in c.many(name, max)?.iter().enumerate() {
            let p = format!("{path}/{name}[{}]", i + 1);
            let mut pc = self.children(e.node, &p, PAIR_ORDER)?;
            let value_name = self.text(&pc.one("valueName")?, &format!("{p}/valueName"))?;
            let value = self.text(&pc.one("value")?, &format!("{p}/value"))?;
            pc.finish()?;
            out.push(ValuePair { value_name, value });
        }
        Ok(out)
    }

    fn references(&self, e: &Elem<'a, 'input>) -> Result<Vec<Reference>> {
        let path = "alert/references";
        let text = self.text(e, path)?;
        let count = text.split_whitespace().take(REFERENCES_MAX + 1).count();
        if count > REFERENCES_MAX {
            let message = format!("names more than {REFERENCES_MAX} messages");
            return Err(self.err(path, e.node, CapRule::TooMany, message));
        }
        let mut out = Vec::with_capacity(count);
        for (i, triple) in text.split_whitespace().enumerate() {
            let fail = |why: String| {
                let message = format!(
                    "reference {}: {why}; references are sender,identifier,sent triples separated by spaces, \
                     like hsas@dhs.gov,43b080713727,2003-04-02T14:39:01-05:00",
                    i + 1
                );
                self.err(path, e.node, CapRule::References, message)
            };
            let mut parts = triple.split(',');
            let (Some(sender), Some(identifier), Some(sent), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(fail(format!("{} is not three values separated by commas", quoted(triple))));
            };
            if sender.is_empty()
                || identifier.is_empty()
                || sender.contains(['<', '&'])
                || identifier.contains(['<', '&'])
            {
                return Err(fail(format!("{} has an empty or invalid sender or identifier", quoted(triple))));
            }
            let sent = CapDateTime::parse(sent).map_err(|m| fail(format!("the sent time {m}")))?;
            out.push(Reference { sender: sender.to_string(), identifier: identifier.to_string(), sent });
        }
        Ok(out)
    }

    /// The text of an element that holds only text (comments and CDATA allowed).
    fn text(&self, e: &Elem<'a, 'input>, path: &str) -> Result<String> {
        if let Some(child) = e.node.children().find(Node::is_element) {
            let message = format!("has the element `{}` inside; it holds only text", child.tag_name().name());
            return Err(self.err(path, child, CapRule::Content, message));
        }
        Ok(e.node.children().filter(Node::is_text).filter_map(|n| n.text()).collect())
    }

    fn opt_text(&self, e: Option<Elem<'a, 'input>>, path: &str) -> Result<Option<String>> {
        e.map(|e| self.text(&e, path)).transpose()
    }

    fn required_text(&self, e: &Elem<'a, 'input>, path: &str) -> Result<String> {
        let text = self.text(e, path)?;
        if text.trim().is_empty() {
            return Err(self.err(path, e.node, CapRule::Required, "is empty; CAP 1.2 requires a value"));
        }
        Ok(text)
    }

    /// `identifier` and `sender`: no whitespace, commas, `<` or `&` (CAP 1.2, 3.2.1), and no
    /// control characters, which could not be part of a Varsel idempotency key.
    fn id_token(&self, e: &Elem<'a, 'input>, path: &str) -> Result<String> {
        let text = self.required_text(e, path)?;
        let token = text.trim();
        if let Some(c) =
            token.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '<' | '&'))
        {
            let message = format!(
                "is {}, which has {c:?}; CAP 1.2 forbids spaces, commas, < and & here (and Varsel control characters)",
                quoted(token)
            );
            return Err(self.err(path, e.node, CapRule::Characters, message));
        }
        Ok(token.to_string())
    }

    fn datetime(&self, e: &Elem<'a, 'input>, path: &str) -> Result<CapDateTime> {
        let text = self.text(e, path)?;
        CapDateTime::parse(&text).map_err(|m| self.err(path, e.node, CapRule::DateTime, m))
    }

    fn opt_datetime(&self, e: Option<Elem<'a, 'input>>, path: &str) -> Result<Option<CapDateTime>> {
        e.map(|e| self.datetime(&e, path)).transpose()
    }

    fn enumerated<T: CapEnum>(&self, e: &Elem<'a, 'input>, path: &str) -> Result<T> {
        let text = self.text(e, path)?;
        T::from_cap(text.trim()).ok_or_else(|| {
            let values: Vec<&str> = T::values().iter().map(|v| v.as_cap()).collect();
            let message =
                format!("is {}; CAP 1.2 allows {} (case matters)", quoted(text.trim()), values.join(", "));
            self.err(path, e.node, CapRule::Enumeration, message)
        })
    }

    /// `language`: an `xs:language`, `[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*`.
    fn language(&self, e: &Elem<'a, 'input>, path: &str) -> Result<String> {
        let text = self.text(e, path)?;
        let tag = text.trim();
        let mut parts = tag.split('-');
        let first_ok = parts
            .next()
            .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
        let rest_ok =
            parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !(first_ok && rest_ok) {
            let message = format!("is {}; a language is an RFC 3066 tag like en-US or nb-NO", quoted(tag));
            return Err(self.err(path, e.node, CapRule::Language, message));
        }
        Ok(tag.to_string())
    }

    fn size(&self, e: &Elem<'a, 'input>, path: &str) -> Result<u64> {
        let text = self.text(e, path)?;
        let digits = text.trim();
        let ok = !digits.is_empty()
            && digits.len() <= SIZE_DIGITS_MAX
            && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| digits.parse::<u64>().ok()).flatten().ok_or_else(|| {
            let message = format!("is {}; a size is a whole number of bytes", quoted(digits));
            self.err(path, e.node, CapRule::Number, message)
        })
    }

    fn opt_feet(&self, e: Option<Elem<'a, 'input>>, path: &str) -> Result<Option<f64>> {
        let Some(e) = e else { return Ok(None) };
        let text = self.text(&e, path)?;
        let feet =
            geo::decimal(&text).map_err(|m| self.err(path, e.node, CapRule::Number, format!("is {m}")))?;
        if feet.abs() > ALTITUDE_FEET_ABS_MAX {
            let message = format!("is {feet} feet, beyond ±{ALTITUDE_FEET_ABS_MAX}");
            return Err(self.err(path, e.node, CapRule::Number, message));
        }
        Ok(Some(feet))
    }
}
