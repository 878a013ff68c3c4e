//! Relative links in the README and docs/ point at files that exist, and
//! `#anchors` at headings that exist, so the documents cannot drift apart.

use std::fs;
use std::path::{Path, PathBuf};

/// Documents that other work in progress adds; links to them are allowed
/// to dangle until they land.
const PENDING: &[&str] = &[];

fn root() -> PathBuf {
    fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap()
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    for entry in fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs
}

/// `[text](target)` links outside code blocks.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's heading anchors: lower case, punctuation dropped, spaces to `-`.
fn anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim().to_lowercase();
        let slug: String = title
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        out.push(slug);
    }
    out
}

#[test]
fn relative_links_resolve() {
    let root = root();
    let mut broken = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            let name = format!(
                "{} -> {link}",
                doc.strip_prefix(&root).unwrap_or(&doc).display()
            );
            let Ok(target) = fs::canonicalize(&target) else {
                let relative = doc.parent().unwrap().join(file);
                let pending = PENDING.iter().any(|p| {
                    fs::canonicalize(root.join(p).parent().unwrap()).ok()
                        == fs::canonicalize(relative.parent().unwrap()).ok()
                        && relative.file_name() == Path::new(p).file_name()
                });
                if !pending {
                    broken.push(name);
                }
                continue;
            };
            if let Some(anchor) = anchor {
                let body = fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&body).iter().any(|a| a == anchor) {
                    broken.push(format!("{name} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
