//! A recording's or artifact's lineage (docs/vault.md §10): fetched from
//! the vault and drawn for people (names and local times) or for Graphviz
//! (`obhut lineage --format dot`).

use std::fmt::Write as _;

use obhut_api::derived::{LineageNode, LineageResponse};

use crate::error::{Endpoint, Error, Result};
use crate::names::Names;
use crate::reader::Reader;
use crate::show::printable;
use crate::time::show;

/// `GET /v1/lineage/{id}` as `reader`'s person.
pub fn fetch(reader: &Reader<'_>, id: &str) -> Result<LineageResponse> {
    let path = format!("/v1/lineage/{id}");
    let (status, body) = reader.get_any(&path)?;
    if status != 200 {
        return Err(Error::Status {
            endpoint: Endpoint::Reader,
            target: format!("{}{path}", reader.base()),
            status,
            body: Some(String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()),
        });
    }
    serde_json::from_slice(&body).map_err(|e| Error::Json {
        method: "GET".into(),
        target: path,
        source: e,
    })
}

/// A node's name for people: a held recording by its device's display
/// name and key ("Name (KEY)") when `names` knows the device, as the
/// vault named it otherwise.
fn node_name(n: &LineageNode, names: &Names) -> String {
    let key = n
        .device
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|k| <[u8; 32]>::try_from(k).ok());
    match key {
        Some(k) if names.get(&k).is_some() => {
            format!("recording by device {}", names.label(&k, &hex::encode(k)))
        }
        _ => n.name.clone(),
    }
}

/// The keys of the devices whose recordings `g` holds, to look up names.
pub fn devices(g: &LineageResponse) -> Vec<[u8; 32]> {
    g.nodes
        .iter()
        .filter_map(|n| n.device.as_deref())
        .filter_map(|h| hex::decode(h).ok())
        .filter_map(|k| <[u8; 32]>::try_from(k).ok())
        .collect()
}

fn label(n: &LineageNode, names: &Names) -> String {
    let mut s = format!("{} \"{}\"", n.kind, printable(&node_name(n, names)));
    if let Some(t) = n.time_ms {
        let _ = write!(s, ", {}", show(t));
    }
    if n.state != "live" {
        let _ = write!(s, " [{}]", n.state.to_uppercase());
    }
    s
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The graph for people: each node with its name, kind, local time and
/// state, then what it was made from and what was made from it.
pub fn text(g: &LineageResponse, names: &Names) -> String {
    let mut out = String::new();
    for n in &g.nodes {
        let root = if n.id == g.root {
            "  (asked about)"
        } else {
            ""
        };
        let _ = writeln!(out, "{}  {}{root}", short(&n.id), label(n, names));
        if let Some(p) = &n.purpose {
            let _ = writeln!(out, "    purpose: {}", printable(p));
        }
        for e in g.edges.iter().filter(|e| e.to == n.id) {
            let seg = e
                .segments
                .map(|[a, b]| format!(" segments {a}..{b}"))
                .unwrap_or_default();
            let _ = writeln!(out, "    made from {}{seg}", short(&e.from));
        }
        for e in g.edges.iter().filter(|e| e.from == n.id) {
            let _ = writeln!(out, "    used by   {}", short(&e.to));
        }
    }
    if g.truncated {
        out.push_str("(the vault cut the graph at its node limit)\n");
    }
    out
}

/// A Graphviz string literal.
fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            c if c.is_control() => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The graph as Graphviz `dot`: an edge from each source to what was made
/// from it; deleted nodes dashed, tainted ones red.
pub fn dot(g: &LineageResponse, names: &Names) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in &g.nodes {
        let style = match n.state.as_str() {
            "deleted" | "expired" => ", style=dashed",
            "tainted" => ", color=red",
            _ => "",
        };
        let shape = if n.kind == "recording" {
            ", shape=cylinder"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} [label={}{shape}{style}];",
            quote(&n.id),
            quote(&label(n, names))
        );
    }
    for e in &g.edges {
        let l = e
            .segments
            .map(|[a, b]| format!(" [label={}]", quote(&format!("segments {a}..{b}"))))
            .unwrap_or_default();
        let _ = writeln!(out, "  {} -> {}{l};", quote(&e.from), quote(&e.to));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use obhut_api::derived::LineageEdge;

    use super::*;

    fn graph() -> LineageResponse {
        let node = |id: &str, kind: &str, name: &str, state: &str| LineageNode {
            id: id.into(),
            kind: kind.into(),
            name: name.into(),
            state: state.into(),
            time_ms: Some(0),
            purpose: None,
            device: None,
        };
        LineageResponse {
            root: "aa".into(),
            nodes: vec![
                node("aa", "recording", "doorbell", "live"),
                node("bb", "clip", "a \"quoted\"\nname", "deleted"),
                node("cc", "model", "detector", "tainted"),
            ],
            edges: vec![
                LineageEdge {
                    from: "aa".into(),
                    to: "bb".into(),
                    segments: Some([0, 2]),
                },
                LineageEdge {
                    from: "bb".into(),
                    to: "cc".into(),
                    segments: None,
                },
            ],
            truncated: false,
        }
    }

    #[test]
    fn dot_quotes_names_and_marks_states() {
        let d = dot(&graph(), &Names::none());
        assert!(d.starts_with("digraph lineage {"));
        assert!(
            d.contains(r#""aa" -> "bb" [label="segments 0..2"];"#),
            "{d}"
        );
        assert!(d.contains(r#"clip \"a \"quoted\"\\nname\""#), "{d}");
        assert!(d.contains("style=dashed") && d.contains("color=red"));
    }

    #[test]
    fn text_shows_names_states_and_edges() {
        let t = text(&graph(), &Names::none());
        assert!(t.contains("[TAINTED]") && t.contains("[DELETED]"), "{t}");
        assert!(t.contains("made from aa segments 0..2"), "{t}");
        assert!(t.contains("\\n"), "control characters are escaped: {t}");
    }
}
