//! The GraphiQL playground at `/` (and `GET /graphql` without an upgrade), served entirely by
//! the gateway: GraphiQL 5, React and Monaco's editor workers are bundled into
//! `api/assets/playground` from `playground/` at the versions its lockfile pins
//! (`scripts/vendor-playground.sh`), so the page works on a clinic network without internet and
//! runs no third-party script where people paste tokens. Its policy allows scripts and workers
//! from this gateway only, no inline script, and no framing.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// Scripts, workers, styles and requests from this gateway only (`'unsafe-inline'` styles:
/// GraphiQL's editors set style elements at run time; its fonts and icons are `data:` URLs;
/// `'self'` covers this gateway's own `ws:`/`wss:` address).
const POLICY: &str = "default-src 'none'; script-src 'self'; worker-src 'self'; \
    style-src 'self' 'unsafe-inline'; font-src data:; img-src 'self' data:; connect-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The same headers on the page and on every asset.
const HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

const PAGE: &str = include_str!("../../assets/playground/index.html");

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Bundled files carry GraphiQL's version in their name and never change under it.
    immutable: bool,
}

macro_rules! asset {
    ($name:literal, $content_type:expr, $immutable:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../assets/playground/", $name)),
            immutable: $immutable,
        }
    };
}

const SCRIPT: &str = "text/javascript; charset=utf-8";

const ASSETS: [Asset; 6] = [
    asset!("graphiql-5.4.0.js", SCRIPT, true),
    asset!("graphiql-5.4.0.css", "text/css; charset=utf-8", true),
    // Started by the bundle, not named by the page.
    asset!("editor.worker-5.4.0.js", SCRIPT, true),
    asset!("json.worker-5.4.0.js", SCRIPT, true),
    asset!("graphql.worker-5.4.0.js", SCRIPT, true),
    asset!("page.css", "text/css; charset=utf-8", false),
];

pub async fn page() -> Response {
    let cache = (header::CACHE_CONTROL, "no-cache");
    (HEADERS, [cache, (header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

/// `GET /playground/{name}`: one of the page's files.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, HEADERS, "no such file").into_response();
    };
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    (HEADERS, [(header::CACHE_CONTROL, cache), (header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page names exactly the files served, all from this gateway.
    #[test]
    fn the_page_loads_only_served_files() {
        let referenced: Vec<&str> =
            PAGE.split(['"', '\'']).filter(|part| part.starts_with('/') || part.contains("://")).collect();
        for reference in &referenced {
            let name = reference.strip_prefix("/playground/").unwrap_or_else(|| panic!("{reference} is not ours"));
            assert!(ASSETS.iter().any(|asset| asset.name == name), "{name} is not served");
        }
        let on_page = ASSETS.iter().filter(|asset| !asset.name.contains(".worker-")).count();
        assert_eq!(referenced.len(), on_page, "every asset is used: {referenced:?}");
    }

    /// The bundle starts its editor workers from this gateway, at its own version.
    #[test]
    fn the_bundle_starts_served_workers() {
        let bundle = std::str::from_utf8(ASSETS[0].body).expect("the bundle is UTF-8");
        let version = ASSETS[0].name.trim_start_matches("graphiql-").trim_end_matches(".js");
        assert!(bundle.contains("/playground/${") && bundle.contains(&format!(".worker-{version}.js")));
        for label in ["editor", "json", "graphql"] {
            let name = format!("{label}.worker-{version}.js");
            assert!(ASSETS.iter().any(|asset| asset.name == name), "{name} is not served");
        }
    }

    /// The bundled files are the ones `scripts/vendor-playground.sh` made.
    #[test]
    fn vendored_files_match_their_checksums() {
        let sums = include_str!("../../assets/playground/SHA256SUMS");
        let vendored: Vec<&Asset> = ASSETS.iter().filter(|asset| asset.immutable).collect();
        for asset in &vendored {
            let line = sums.lines().find(|line| line.ends_with(&format!("./{}", asset.name)));
            let expected = line.unwrap_or_else(|| panic!("{} has no checksum", asset.name)).split_whitespace().next();
            assert_eq!(expected, Some(crate::digest::sha256_hex(asset.body).as_str()), "{}", asset.name);
        }
        assert_eq!(sums.lines().count(), vendored.len());
    }
}
