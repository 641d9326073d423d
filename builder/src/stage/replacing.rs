//! Tests of the rule that a component replaces what its base provides only where an install
//! says `replace = true`: on the disk ([`Tree::overlay`]) and in OCI images
//! ([`component::refuse_replacing`]); the rendered configuration may replace base files.

use super::*;
use crate::spec::{Download, Install, Source};

fn file(n: u8) -> Entry {
    Entry::new(0o644, 0, 0, Content::File { blob: Digest::of(&[n]), size: 1 })
}

fn dir(mode: u32) -> Entry {
    Entry::new(mode, 0, 0, Content::Dir)
}

/// A merged-/usr base: /etc/passwd, /etc/chrony/chrony.conf, /usr/local/bin (0700, to see that
/// it is kept), /lib -> usr/lib.
fn base() -> Tree {
    let mut t = Tree::default();
    t.add("/etc/passwd", file(1));
    t.add("/etc/chrony/chrony.conf", file(2));
    t.add("/usr/local/bin", dir(0o700));
    t.add("/usr/lib", dir(0o755));
    t.add("/lib", Entry::new(0o777, 0, 0, Content::Symlink { target: "usr/lib".into() }));
    t
}

/// A component of `images/tool.toml` installing each `(to, replace)`, from line 10 on.
fn component(installs: &[(&str, bool)]) -> Component {
    let install = installs
        .iter()
        .enumerate()
        .map(|(n, (to, replace))| Install {
            from: Some("tool/file".into()),
            to: to.to_string(),
            mode: None,
            uid: 0,
            gid: 0,
            replace: *replace,
            line: 10 + 5 * n,
        })
        .collect();
    Component {
        name: "tool".into(),
        file: "images/tool.toml".into(),
        version: "1".into(),
        license: "MIT".into(),
        homepage: None,
        revision: None,
        source: Source::Download(Download {
            url: "https://example.org/tool.tar.gz".into(),
            checksums: None,
            format: None,
            max_entry_bytes: None,
        }),
        install,
    }
}

/// The tree `comp` installs: a file at each `to`.
fn tree_of(comp: &Component) -> Tree {
    let mut t = Tree::default();
    for i in &comp.install {
        t.add(&i.to, file(9));
    }
    t
}

#[test]
fn base_file_replaced_without_replace_is_refused() {
    let comp = component(&[("/usr/local/bin/tool", false), ("/etc/passwd", false)]);
    let mut tree = base();
    let err = tree.overlay(&tree_of(&comp), Layer::Component(&comp)).unwrap_err().to_string();
    assert!(err.starts_with("images/tool.toml:15: component.install.to:"), "{err}");
    assert!(err.contains("/etc/passwd") && err.contains("(a file)"), "{err}");
    assert!(err.contains("fix:") && err.contains("`replace = true`"), "{err}");
    assert_eq!(tree, base(), "a refused overlay changes nothing");

    let comp = component(&[("/usr/local/bin/tool", false), ("/etc/passwd", true)]);
    tree.overlay(&tree_of(&comp), Layer::Component(&comp)).unwrap();
    assert_eq!(tree.entries["etc/passwd"], file(9));
    assert_eq!(tree.entries["usr/local/bin"], dir(0o700), "a directory of the base is kept");
    assert_eq!(tree.entries["usr/local/bin/tool"], file(9));
}

#[test]
fn base_directory_replaced_by_a_file_without_replace_is_refused() {
    let comp = component(&[("/etc/chrony", false)]);
    let mut tree = base();
    let err = tree.overlay(&tree_of(&comp), Layer::Component(&comp)).unwrap_err().to_string();
    assert!(err.contains("/etc/chrony") && err.contains("(a directory)") && err.contains("replace = true"), "{err}");

    let comp = component(&[("/etc/chrony", true)]);
    tree.overlay(&tree_of(&comp), Layer::Component(&comp)).unwrap();
    assert_eq!(tree.entries["etc/chrony"], file(9));
    assert!(!tree.entries.contains_key("etc/chrony/chrony.conf"), "what was under it goes with it");
}

#[test]
fn a_path_through_a_base_symlink_is_refused_even_with_replace() {
    // The component's own parent directory `lib` must not quietly replace the base's link.
    let comp = component(&[("/lib/x", true)]);
    let mut tree = base();
    let err = tree.overlay(&tree_of(&comp), Layer::Component(&comp)).unwrap_err().to_string();
    assert!(err.contains("images/tool.toml: component `tool`: /lib/x would be written under /lib"), "{err}");
    assert!(err.contains("symlink") && err.contains("use the path it resolves to"), "{err}");
    assert_eq!(tree, base());
}

#[test]
fn the_rendered_configuration_replaces_base_files() {
    let mut rendered = Tree::default();
    rendered.add("/etc/chrony/chrony.conf", file(7));
    let mut tree = base();
    tree.overlay(&rendered, Layer::Rendered).unwrap();
    assert_eq!(tree.entries["etc/chrony/chrony.conf"], file(7));
}

#[test]
fn oci_layers_change_what_the_base_provides_only_with_replace() {
    let comp = component(&[("/usr/local/bin/tool", false), ("/etc/passwd", false)]);
    let mut base = base();
    base.add("/usr/local/bin", dir(0o755));
    let err = component::refuse_over_base(&comp, &base).unwrap_err().to_string();
    assert!(err.starts_with("images/tool.toml:15: component.install.to:") && err.contains("/etc/passwd"), "{err}");
    assert!(err.contains("replace = true"), "{err}");
    let comp = component(&[("/usr/local/bin/tool", false), ("/etc/passwd", true)]);
    component::refuse_over_base(&comp, &base).unwrap();
    // A directory of the base is replaced by a file just the same.
    let comp = component(&[("/usr/local/bin", false)]);
    assert!(component::refuse_over_base(&comp, &base).is_err());
    // Nothing under a base symlink, even with replace: the layer's `lib/` would replace the link.
    let comp = component(&[("/lib/x86_64-linux-gnu/libtool.so", true)]);
    let err = component::refuse_over_base(&comp, &base).unwrap_err().to_string();
    assert!(err.contains("/lib") && err.contains("symlink"), "{err}");
    // A layer directory with another mode than the base's (its /usr/local/bin is 0700 in `base()`).
    let comp = component(&[("/usr/local/bin/tool", false)]);
    let err = component::refuse_over_base(&comp, &self::base()).unwrap_err().to_string();
    assert!(
        err.contains("/usr/local/bin mode 755") && err.contains("the base has 700") && err.contains("fix:"),
        "{err}"
    );
}
