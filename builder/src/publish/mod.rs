//! Publishing sinks for a finished build output, side by side (as ko's `publish/`): reading the
//! output ([`layout`]), pushing to an OCI registry with SBOM referrers ([`registry`]), the
//! registry credentials from the Docker config ([`credentials`]), and loading into a Docker
//! engine ([`daemon`]).

pub mod credentials;
pub mod daemon;
pub mod layout;
pub mod registry;
