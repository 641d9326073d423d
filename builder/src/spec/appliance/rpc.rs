//! `[[rpc.upstream]]`: lpwatch's JSON-RPC upstreams, each a key-less URL baked into the image
//! or a credential file on the data volume.

use super::file::RpcDef;
use super::share::ErrFn;
use super::{Upstream, UpstreamSource};
use crate::error::Result;
use crate::spec::read;
use std::collections::BTreeSet;

/// The upstreams, in order of preference; names unique, each with exactly one source.
pub(super) fn parse(def: RpcDef, err: &ErrFn) -> Result<Vec<Upstream>> {
    let mut rpc = Vec::new();
    let mut names = BTreeSet::new();
    for u in def.upstream {
        let span = u.span();
        let u = u.into_inner();
        let name = u.name.get_ref().clone();
        if !read::is_path_name(&name) || !names.insert(name.clone()) {
            return Err(err(
                u.name.span(),
                "rpc.upstream.name",
                format!("`{name}` is not a unique upstream name"),
                "name each upstream once with lowercase letters, digits, `.`, `_` and `-`, e.g. name = \"primary\"",
            ));
        }
        let source = match (u.url, u.credential) {
            (Some(url), None) => UpstreamSource::Url(check_url(url.get_ref()).map_err(|m| {
                err(url.span(), "rpc.upstream.url", m, "put a URL that holds an API key on the data volume instead: credential = \"rpc-NAME\" reads it from /var/lib/livepeer/credentials/rpc-NAME")
            })?),
            (None, Some(c)) => {
                let name = c.get_ref();
                if !read::is_path_name(name) || !name.starts_with("rpc-") {
                    return Err(err(
                        c.span(),
                        "rpc.upstream.credential",
                        format!("`{name}` is not a credential name starting with `rpc-`"),
                        "name the file under /var/lib/livepeer/credentials/, e.g. credential = \"rpc-primary\"",
                    ));
                }
                UpstreamSource::Credential(c.into_inner())
            }
            _ => {
                return Err(err(
                    span,
                    "rpc.upstream",
                    "give exactly one of `url` and `credential`".into(),
                    "url = \"https://host/path\" for a key-less endpoint, credential = \"rpc-NAME\" for one with a key",
                ))
            }
        };
        rpc.push(Upstream { name, source });
    }
    Ok(rpc)
}

/// A URL without credentials: http(s), a host, no user info, no query or fragment, and no path
/// segment shaped like an API key. The message never quotes the URL: it may hold a key.
fn check_url(text: &str) -> std::result::Result<String, String> {
    let url = url::Url::parse(text).map_err(|_| "not a URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("only http:// and https:// URLs with a host are upstreams".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL has user info (a credential) in it".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL has a query or fragment, where providers put API keys".into());
    }
    let keyish = |seg: &str| {
        seg.len() >= 20
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && seg.bytes().any(|b| b.is_ascii_digit())
    };
    if url.path_segments().into_iter().flatten().any(keyish) {
        return Err("a path segment of the URL looks like an API key".into());
    }
    Ok(text.to_string())
}
