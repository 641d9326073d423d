//! `[[rpc.upstream]]`: lpwatch's JSON-RPC upstreams, each a key-less URL baked into the image
//! (by the rule of [`crate::urls::baked`]) or a credential file on the data volume.

use super::file::RpcDef;
use super::share::ErrFn;
use super::{Upstream, UpstreamSource};
use crate::error::Result;
use crate::spec::read;
use std::collections::BTreeSet;

/// Where an upstream URL that [`crate::urls::baked`] refuses goes instead.
const URL_FIX: &str = "put the URL on the data volume instead: credential = \"rpc-NAME\" reads it from /var/lib/livepeer/credentials/rpc-NAME (a key-less endpoint is https, or http to a loopback host, with no user info, query or fragment and no host label or path segment over 20 characters)";

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
        let source =
            match (u.url, u.credential) {
                (Some(url), None) => {
                    crate::urls::baked(url.get_ref(), URL_FIX)
                        .map_err(|r| err(url.span(), "rpc.upstream.url", r.msg, &r.fix))?;
                    UpstreamSource::Url(url.into_inner())
                }
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
                _ => return Err(err(
                    span,
                    "rpc.upstream",
                    "give exactly one of `url` and `credential`".into(),
                    "url = \"https://host/path\" for a key-less endpoint, credential = \"rpc-NAME\" for one with a key",
                )),
            };
        rpc.push(Upstream { name, source });
    }
    Ok(rpc)
}
