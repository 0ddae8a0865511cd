//! The cursor that reads the child elements of one CAP element in the schema's order and
//! says, when one is not where it should be, whether it is missing, misplaced, repeated,
//! unknown or foreign.

use roxmltree::{Document, Node};
use varsel_domain::error::quoted;

use crate::error::{CapError, CapRule, Result};
use crate::{CAP_NAMESPACE, XMLDSIG_NAMESPACE};

/// One element being read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Elem<'a, 'input> {
    pub(super) node: Node<'a, 'input>,
}

/// A cursor over the child elements of one element, taking them in the schema's order.
pub(super) struct Children<'a, 'input> {
    doc: &'a Document<'input>,
    /// The parent's path.
    path: String,
    parent: Node<'a, 'input>,
    /// The names the parent may hold, in order.
    order: &'static [&'static str],
    elems: Vec<Node<'a, 'input>>,
    pos: usize,
    /// Elements that may appear once, already taken.
    taken: Vec<&'static str>,
    /// XML Signature elements may follow the CAP elements (only in `alert`).
    pub(super) signature_tail: bool,
}

impl<'a, 'input> Children<'a, 'input> {
    pub(super) fn new(
        doc: &'a Document<'input>,
        parent: Node<'a, 'input>,
        path: &str,
        order: &'static [&'static str],
    ) -> Self {
        Children {
            doc,
            path: path.to_string(),
            parent,
            order,
            elems: parent.children().filter(Node::is_element).collect(),
            pos: 0,
            taken: Vec::new(),
            signature_tail: false,
        }
    }

    fn err(&self, path: String, node: Node<'a, 'input>, rule: CapRule, message: String) -> CapError {
        CapError::new(path, rule, message).at_line(self.doc.text_pos_at(node.range().start).row)
    }

    fn parent_name(&self) -> &str {
        self.parent.tag_name().name()
    }

    /// The next element if it is a CAP element of this parent; `None` at the end or at a
    /// trailing signature; an error for a foreign or unknown element.
    fn current(&self) -> Result<Option<Node<'a, 'input>>> {
        let Some(&node) = self.elems.get(self.pos) else { return Ok(None) };
        let name = node.tag_name().name();
        let path = format!("{}/{name}", self.path);
        match node.tag_name().namespace() {
            Some(CAP_NAMESPACE) => {}
            Some(XMLDSIG_NAMESPACE) if self.signature_tail => return Ok(None),
            other => {
                let ns = other
                    .map_or_else(|| "no namespace".to_string(), |ns| format!("namespace {}", quoted(ns)));
                let message = format!(
                    "is in {ns}; inside a CAP 1.2 `{}` only CAP elements may appear",
                    self.parent_name()
                );
                return Err(self.err(path, node, CapRule::Namespace, message));
            }
        }
        if !self.order.contains(&name) {
            let message = format!(
                "is not an element of `{}` in CAP 1.2, which holds {}",
                self.parent_name(),
                self.order.join(", ")
            );
            return Err(self.err(path, node, CapRule::UnknownElement, message));
        }
        Ok(Some(node))
    }

    /// Takes the next element if it is `name`.
    pub(super) fn opt(&mut self, name: &'static str) -> Result<Option<Elem<'a, 'input>>> {
        match self.current()? {
            Some(node) if node.tag_name().name() == name => {
                self.pos += 1;
                self.taken.push(name);
                Ok(Some(Elem { node }))
            }
            _ => Ok(None),
        }
    }

    /// Takes the next element, which must be `name`.
    pub(super) fn one(&mut self, name: &'static str) -> Result<Elem<'a, 'input>> {
        match self.opt(name)? {
            Some(e) => Ok(e),
            None => Err(self.missing(name, format!("{}/{name}", self.path))),
        }
    }

    /// Takes the next elements while they are `name`, at most `max` of them.
    pub(super) fn many(&mut self, name: &'static str, max: usize) -> Result<Vec<Elem<'a, 'input>>> {
        let mut out = Vec::new();
        while let Some(node) = self.current()? {
            if node.tag_name().name() != name {
                break;
            }
            if out.len() == max {
                let path = format!("{}/{name}[{}]", self.path, max + 1);
                let message =
                    format!("is one `{name}` too many: at most {max} in one `{}`", self.parent_name());
                return Err(self.err(path, node, CapRule::TooMany, message));
            }
            out.push(Elem { node });
            self.pos += 1;
        }
        Ok(out)
    }

    pub(super) fn many_at_least_one(
        &mut self,
        name: &'static str,
        max: usize,
    ) -> Result<Vec<Elem<'a, 'input>>> {
        let out = self.many(name, max)?;
        if out.is_empty() {
            return Err(self.missing(name, format!("{}/{name}[1]", self.path)));
        }
        Ok(out)
    }

    /// `name` is not next: it is later (out of order) or absent (missing).
    fn missing(&self, name: &str, path: String) -> CapError {
        let rest = self.elems.get(self.pos..).unwrap_or_default();
        let later = rest
            .iter()
            .find(|n| n.tag_name().name() == name && n.tag_name().namespace() == Some(CAP_NAMESPACE));
        match (later, rest.first()) {
            (Some(&node), Some(next)) => {
                let message = format!(
                    "is out of order: CAP 1.2 puts `{name}` before `{}` in `{}`",
                    next.tag_name().name(),
                    self.parent_name()
                );
                self.err(path, node, CapRule::Order, message)
            }
            _ => {
                let message = format!("is missing: CAP 1.2 requires `{name}` in `{}`", self.parent_name());
                self.err(path, self.parent, CapRule::Required, message)
            }
        }
    }

    /// Checks nothing is left but (in `alert`) XML Signature elements.
    pub(super) fn finish(self) -> Result<()> {
        let Some(node) = self.current()? else {
            let rest = self.elems.get(self.pos..).unwrap_or_default();
            return match rest.iter().find(|n| n.tag_name().namespace() != Some(XMLDSIG_NAMESPACE)) {
                None => Ok(()),
                Some(&node) => {
                    let path = format!("{}/{}", self.path, node.tag_name().name());
                    let message = "comes after the XML signature, which must be last in `alert`".to_string();
                    Err(self.err(path, node, CapRule::Order, message))
                }
            };
        };
        let name = node.tag_name().name();
        let path = format!("{}/{name}", self.path);
        if self.taken.contains(&name) {
            let message = format!("appears more than once in `{}`; CAP 1.2 allows one", self.parent_name());
            return Err(self.err(path, node, CapRule::Repeated, message));
        }
        let rank = |n: &str| self.order.iter().position(|o| *o == n);
        let before = self
            .elems
            .get(..self.pos)
            .unwrap_or_default()
            .iter()
            .map(|n| n.tag_name().name())
            .find(|n| rank(n) > rank(name));
        let message = match before {
            Some(b) => {
                format!("is out of order: CAP 1.2 puts `{name}` before `{b}` in `{}`", self.parent_name())
            }
            None => format!(
                "is out of order: CAP 1.2 orders `{}` as {}",
                self.parent_name(),
                self.order.join(", ")
            ),
        };
        Err(self.err(path, node, CapRule::Order, message))
    }
}
