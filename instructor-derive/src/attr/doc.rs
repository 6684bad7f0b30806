//! Doc comments as descriptions: the lines of `#[doc = "…"]` attributes joined the way rustdoc
//! reads them (schemars' `attr/doc.rs` does the same). Must not read any other attribute.

use syn::{Attribute, Expr, ExprLit, Lit};

/// The doc comment as one description, the way rustdoc reads it: lines of a paragraph are joined
/// by spaces, paragraphs by a blank line; list items, headings and code blocks keep their lines.
pub fn doc(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
            {
                // `/** ... */` comments arrive as one attribute with embedded newlines.
                lines.extend(s.value().split('\n').map(|l| l.trim().to_owned()));
            }
        }
    }
    join_doc_lines(&lines)
}

fn join_doc_lines(lines: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut in_code = false;
    let mut pending_blank = false;
    for line in lines {
        let fence = line.starts_with("```");
        if line.is_empty() && !in_code {
            pending_blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            if pending_blank {
                out.push_str("\n\n");
            } else if in_code || fence || starts_block(line) {
                out.push('\n');
            } else {
                out.push(' ');
            }
        }
        pending_blank = false;
        out.push_str(line);
        if fence {
            in_code = !in_code;
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Markdown lines that start a block of their own rather than continuing a paragraph.
fn starts_block(line: &str) -> bool {
    let bullet = ["- ", "* ", "+ ", "# ", "## ", "### ", "> ", "| "]
        .iter()
        .any(|p| line.starts_with(p));
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let numbered = digits > 0 && matches!(line.as_bytes().get(digits), Some(b'.' | b')'));
    bullet || numbered
}

#[cfg(test)]
mod tests {
    use super::join_doc_lines;

    fn join(lines: &[&str]) -> Option<String> {
        join_doc_lines(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn joins_like_rustdoc() {
        assert_eq!(
            join(&["", "A person", "in the text.", "", "More.", ""]).unwrap(),
            "A person in the text.\n\nMore."
        );
        assert_eq!(
            join(&["Items:", "- one", "- two"]).unwrap(),
            "Items:\n- one\n- two"
        );
        assert_eq!(join(&["", ""]), None);
    }
}
