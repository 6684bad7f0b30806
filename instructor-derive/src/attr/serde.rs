//! serde's own attributes (`rename`, `rename_all`, `alias`, `default`, `tag`, …), read so the
//! grammar accepts exactly what `serde_json` will deserialize, and the ones it cannot follow
//! (`flatten`, `deserialize_with`, …) refused with the reason. Must not read `#[instructor]`.

use syn::meta::ParseNestedMeta;
use syn::LitStr;

use super::*;

/// Why serde attributes the grammar cannot follow are refused, by key.
pub(super) fn unsupported_serde(key: &str) -> Option<&'static str> {
    Some(match key {
        "flatten" => "the grammar needs every key of an object up front",
        "deserialize_with" | "with" => "a custom deserializer accepts JSON the grammar cannot know",
        "from" | "try_from" => "the JSON is that of another type; derive ResponseModel on that type instead",
        "remote" => "the JSON is that of another type",
        "untagged" => "untagged variants inside a tagged enum are not supported; mark the whole enum `#[serde(untagged)]`",
        "other" => "a catch-all variant accepts tags the grammar cannot list",
        "borrow" => "borrowed data cannot be extracted; use owned types",
        "bound" => "custom bounds are not supported; the derive bounds every type parameter by `ResponseModel`",
        "field_identifier" | "variant_identifier" => "identifier enums are not supported",
        "getter" => "remote types are not supported",
        _ => return None,
    })
}

/// Walks one `#[serde(...)]`; `f` handles the keys that are fine here.
pub(super) fn parse_serde(
    cx: &Ctxt,
    attr: &Attribute,
    pos: Position,
    mut f: impl FnMut(&ParseNestedMeta, &str) -> syn::Result<bool>,
) {
    if let syn::Meta::List(list) = &attr.meta {
        if list.tokens.is_empty() {
            return;
        }
    }
    let result = attr.parse_nested_meta(|meta| {
        let key = path_key(&meta.path);
        if f(&meta, &key)? {
            return Ok(());
        }
        let msg = match unsupported_serde(&key) {
            Some(why) => format!("instructor does not support `#[serde({key})]`: {why}"),
            None => {
                let place = match pos {
                    Position::Container => "container",
                    Position::Variant => "variant",
                    Position::Field => "field",
                };
                format!(
                    "instructor does not know the serde {place} attribute `{key}`, so it cannot \
                     promise a grammar that matches what serde accepts"
                )
            }
        };
        cx.error_spanned_by(&meta.path, msg);
        skip_value(&meta)
    });
    if let Err(err) = result {
        cx.syn_error(err);
    }
}

/// The deserialize names of `rename = "x"` or `rename(serialize = "a", deserialize = "b", ...)`.
pub(super) fn de_names(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    if meta.input.peek(syn::Token![=]) {
        return Ok(vec![lit_str(meta)?]);
    }
    let mut names = Vec::new();
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("deserialize") {
            names.push(lit_str(&inner)?);
        } else if inner.path.is_ident("serialize") {
            lit_str(&inner)?;
        } else {
            return Err(inner.error("expected `serialize = \"…\"` or `deserialize = \"…\"`"));
        }
        Ok(())
    })?;
    Ok(names)
}

/// serde takes the first deserialize name as the name and every one as an accepted alias.
pub(super) fn take_names(
    names: Vec<LitStr>,
    rename: &mut Option<LitStr>,
    aliases: &mut Vec<String>,
) {
    for name in names {
        if rename.is_none() {
            *rename = Some(name);
        } else {
            aliases.push(name.value());
        }
    }
}

/// The deserialize rule of `rename_all = "…"` / `rename_all(deserialize = "…")`.
pub(super) fn rename_rule(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<RenameRule>> {
    let Some(lit) = de_names(meta)?.into_iter().next() else {
        return Ok(None);
    };
    match RenameRule::from_str(&lit.value()) {
        Some(rule) => Ok(Some(rule)),
        None => {
            // serde's derive reports it, listing the rules it knows.
            cx.serde_rejects();
            Ok(None)
        }
    }
}
