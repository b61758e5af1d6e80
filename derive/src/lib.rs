//! `#[derive(Metric)]`: the Avro schema of a struct (a record) or of an
//! enum of unit variants (an Avro enum), and a straight-line encoder that
//! writes each field with its type's writer, in field order, with no schema
//! to walk and no serde calls. Re-exported as `edgemetrics::Metric` (the
//! macro namespace; the native client's `Metric` handle is a type).
//!
//! Attributes, all under `#[metric(..)]`: `name = ".."` and
//! `namespace = ".."` on the type (default: the type's name, no
//! namespace), `rename = ".."` on a field or variant. Names are checked as
//! Avro names here, so a bad one fails the build, not the first write.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, parse_macro_input};

/// Implements `edgemetrics::engine::derive::Avro` for a struct with named
/// fields or an enum of unit variants.
#[proc_macro_derive(Metric, attributes(metric))]
pub fn derive_metric(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// What `#[metric(..)]` said on one item.
#[derive(Default)]
struct Attrs {
    name: Option<LitStr>,
    namespace: Option<LitStr>,
    rename: Option<LitStr>,
}

/// Where an attribute sits, which decides what it may say.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Type,
    Member,
}

fn attrs(list: &[syn::Attribute], place: Place) -> syn::Result<Attrs> {
    let mut out = Attrs::default();
    for attr in list.iter().filter(|a| a.path().is_ident("metric")) {
        attr.parse_nested_meta(|meta| {
            let slot = if place == Place::Type && meta.path.is_ident("name") {
                &mut out.name
            } else if place == Place::Type && meta.path.is_ident("namespace") {
                &mut out.namespace
            } else if place == Place::Member && meta.path.is_ident("rename") {
                &mut out.rename
            } else if place == Place::Type {
                return Err(
                    meta.error("expected `name` or `namespace` on a type (`rename` goes on fields and variants)")
                );
            } else {
                return Err(
                    meta.error("expected `rename` on a field or variant (`name` and `namespace` go on the type)")
                );
            };
            *slot = Some(meta.value()?.parse()?);
            Ok(())
        })?;
    }
    Ok(out)
}

/// An Avro name: `[A-Za-z_][A-Za-z0-9_]*`.
fn check_name(name: &str, span: Span, what: &str) -> syn::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(span, format!("{what} {name:?} is not an Avro name ([A-Za-z_][A-Za-z0-9_]*)")))
    }
}

/// The name an item goes by in the schema, checked.
fn avro_name(ident: &syn::Ident, rename: Option<&LitStr>, what: &str) -> syn::Result<String> {
    let (name, span) = match rename {
        Some(lit) => (lit.value(), lit.span()),
        None => (ident.to_string().trim_start_matches("r#").to_string(), ident.span()),
    };
    check_name(&name, span, what)?;
    Ok(name)
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(&input.generics, "derive(Metric) takes no generic types"));
    }
    let type_attrs = attrs(&input.attrs, Place::Type)?;
    let name = avro_name(&input.ident, type_attrs.name.as_ref(), "the type name")?;
    let namespace = match &type_attrs.namespace {
        Some(lit) => {
            let text = lit.value();
            for part in text.split('.') {
                check_name(part, lit.span(), "the namespace part")?;
            }
            Some(text)
        }
        None => None,
    };
    let namespace_arg = match &namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    let head = match &namespace {
        Some(ns) => format!("\"name\":\"{name}\",\"namespace\":\"{ns}\""),
        None => format!("\"name\":\"{name}\""),
    };
    let (schema_body, encode_body) = match &input.data {
        Data::Struct(data) => record(data, &head)?,
        Data::Enum(data) => enumeration(data, &head)?,
        Data::Union(_) => return Err(syn::Error::new_spanned(&input.ident, "derive(Metric) does not take unions")),
    };
    let ident = &input.ident;
    let support = quote!(::edgemetrics::engine::derive);
    Ok(quote! {
        impl #support::Avro for #ident {
            fn write_schema(out: &mut #support::String, names: &mut #support::Names) {
                // A named type is defined once per schema, then referred to.
                let ::core::option::Option::Some(enclosing) =
                    names.enter(out, #name, #namespace_arg, #support::TypeId::of::<Self>())
                else {
                    return;
                };
                #schema_body
                names.leave(enclosing);
            }

            #[inline]
            fn encode(&self, out: &mut #support::Vec<u8>) {
                #encode_body
            }
        }
    })
}

/// A struct as an Avro record: its fields in declaration order.
fn record(data: &syn::DataStruct, head: &str) -> syn::Result<(Tokens, Tokens)> {
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(Span::call_site(), "derive(Metric) takes a struct with named fields"));
    };
    if fields.named.is_empty() {
        return Err(syn::Error::new_spanned(fields, "an Avro record needs at least one field"));
    }
    let support = quote!(::edgemetrics::engine::derive);
    let mut schema = vec![quote!(out.push_str(concat!("{\"type\":\"record\",", #head, ",\"fields\":["));)];
    let mut encode = Vec::new();
    let mut names = Vec::new();
    for (i, field) in fields.named.iter().enumerate() {
        let ident = field.ident.as_ref().expect("named fields have names");
        let name = avro_name(ident, attrs(&field.attrs, Place::Member)?.rename.as_ref(), "the field name")?;
        if names.contains(&name) {
            return Err(syn::Error::new_spanned(field, format!("the field name {name:?} twice")));
        }
        names.push(name.clone());
        let ty = &field.ty;
        let open = format!("{}{{\"name\":\"{name}\",\"type\":", if i == 0 { "" } else { "," });
        schema.push(quote! {
            out.push_str(#open);
            <#ty as #support::Avro>::write_schema(out, names);
            if let Some(default) = <#ty as #support::Avro>::DEFAULT {
                out.push_str(",\"default\":");
                out.push_str(default);
            }
            out.push('}');
        });
        encode.push(quote!(#support::Avro::encode(&self.#ident, out);));
    }
    schema.push(quote!(out.push_str("]}");));
    Ok((quote!(#(#schema)*), quote!(#(#encode)*)))
}

/// An enum of unit variants as an Avro enum: its symbols in declaration
/// order, written as their index.
fn enumeration(data: &syn::DataEnum, head: &str) -> syn::Result<(Tokens, Tokens)> {
    if data.variants.is_empty() {
        return Err(syn::Error::new(Span::call_site(), "an Avro enum needs at least one symbol"));
    }
    let mut symbols = Vec::new();
    let mut arms = Vec::new();
    for (index, variant) in data.variants.iter().enumerate() {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(variant, "derive(Metric) takes enums of unit variants only"));
        }
        let symbol = avro_name(&variant.ident, attrs(&variant.attrs, Place::Member)?.rename.as_ref(), "the symbol")?;
        if symbols.contains(&symbol) {
            return Err(syn::Error::new_spanned(variant, format!("the symbol {symbol:?} twice")));
        }
        symbols.push(symbol);
        let ident = &variant.ident;
        let index = index as i32;
        arms.push(quote!(Self::#ident => ::edgemetrics::engine::derive::put_int(out, #index),));
    }
    let list = symbols.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(",");
    let text = format!("{{\"type\":\"enum\",{head},\"symbols\":[{list}]}}");
    Ok((quote!(out.push_str(#text);), quote!(match self { #(#arms)* })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn error(input: DeriveInput) -> String {
        expand(&input).expect_err("the input is refused").to_string()
    }

    #[test]
    fn a_struct_expands_to_its_schema_text_and_encoder() {
        let code = expand(&parse_quote! {
            #[metric(name = "requests", namespace = "demo.web")]
            struct Request { r#type: String, #[metric(rename = "ms")] latency: f64 }
        })
        .unwrap()
        .to_string();
        assert!(code.contains(r#"\"name\":\"requests\",\"namespace\":\"demo.web\""#), "{code}");
        assert!(code.contains(r#"{\"name\":\"type\",\"type\":"#), "{code}");
        assert!(code.contains(r#",{\"name\":\"ms\",\"type\":"#), "{code}");
        assert!(code.contains("Some (\"demo.web\")"), "the namespace for the names: {code}");
    }

    #[test]
    fn an_enum_lists_its_symbols_in_order() {
        let code = expand(&parse_quote! {
            enum Method { #[metric(rename = "GET")] Get, Post }
        })
        .unwrap()
        .to_string();
        assert!(code.contains(r#"\"symbols\":[\"GET\",\"Post\"]"#), "{code}");
    }

    #[test]
    fn what_avro_cannot_hold_is_refused_naming_it() {
        let cases: [(DeriveInput, &str); 13] = [
            (
                parse_quote!(
                    #[metric(name = "bad-name")]
                    struct A {
                        x: i32,
                    }
                ),
                "\"bad-name\" is not an Avro name",
            ),
            (
                parse_quote!(
                    #[metric(namespace = "a..b")]
                    struct A {
                        x: i32,
                    }
                ),
                "namespace part",
            ),
            (
                parse_quote!(
                    struct A {
                        #[metric(rename = "9x")]
                        x: i32,
                    }
                ),
                "the field name \"9x\"",
            ),
            (
                parse_quote!(
                    #[metric(nme = "x")]
                    struct A {
                        x: i32,
                    }
                ),
                "expected `name`",
            ),
            (
                parse_quote!(
                    #[metric(rename = "x")]
                    struct A {
                        x: i32,
                    }
                ),
                "on a type",
            ),
            (
                parse_quote!(
                    struct A {
                        #[metric(name = "y")]
                        x: i32,
                    }
                ),
                "on a field or variant",
            ),
            (
                parse_quote!(
                    struct A {
                        #[metric(rename = "y")]
                        x: i32,
                        y: i32,
                    }
                ),
                "the field name \"y\" twice",
            ),
            (
                parse_quote!(
                    struct A<T> {
                        x: T,
                    }
                ),
                "no generic types",
            ),
            (
                parse_quote!(
                    struct A(i32);
                ),
                "named fields",
            ),
            (
                parse_quote!(
                    struct A {}
                ),
                "at least one field",
            ),
            (
                parse_quote!(
                    enum E {
                        A(i32),
                    }
                ),
                "unit variants",
            ),
            (
                parse_quote!(
                    enum E {}
                ),
                "at least one symbol",
            ),
            (
                parse_quote!(
                    enum E {
                        #[metric(rename = "B")]
                        A,
                        B,
                    }
                ),
                "the symbol \"B\" twice",
            ),
        ];
        for (input, says) in cases {
            let error = error(input);
            assert!(error.contains(says), "{error}, not {says:?}");
        }
    }
}
