//! Where a call goes: `/<owner>/<project>/<function>[/rest]`, or with
//! `Host: <owner>.<domain>`, `/<project>/<function>[/rest]`.

use peerhost_protocol::{Owner, check_name};

/// The function a call addresses, and the path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Function owner.
    pub owner: Owner,
    /// Project.
    pub project: String,
    /// Function.
    pub function: String,
    /// Path after the function segment, starting with `/`.
    pub path: String,
}

/// Why a URL does not address a function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The owner segment or host label is not an address.
    #[error("'{0}' is not an owner address (0x followed by 40 hex digits)")]
    BadOwner(String),
    /// Project or function segment missing.
    #[error("expected /{0}<project>/<function>")]
    Incomplete(&'static str),
    /// A name segment is not a valid project or function name.
    #[error("{0}")]
    BadName(String),
}

/// The owner label of a `Host` header in the subdomain form, if `host` is `<owner>.<domain>`
/// (port ignored, case-insensitive).
fn owner_label<'a>(host: &'a str, domain: &str) -> Option<&'a str> {
    let host = host
        .rsplit_once(':')
        .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    let label = host.strip_suffix(domain)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// Resolves a request's `host` and `path` to a [`Target`].
///
/// # Errors
///
/// See [`RouteError`].
pub fn resolve(host: Option<&str>, domain: &str, path: &str) -> Result<Target, RouteError> {
    let mut segments = path.strip_prefix('/').unwrap_or(path).splitn(4, '/');
    let (owner_text, in_host) =
        match host.and_then(|h| owner_label(&h.to_ascii_lowercase(), domain).map(str::to_owned)) {
            Some(label) => (label, true),
            None => (segments.next().unwrap_or_default().to_owned(), false),
        };
    let prefix = if in_host { "" } else { "<owner>/" };
    if owner_text.is_empty() {
        return Err(RouteError::Incomplete(prefix));
    }
    let owner: Owner = owner_text.parse().map_err(|_| RouteError::BadOwner(owner_text.clone()))?;
    let project =
        segments.next().filter(|s| !s.is_empty()).ok_or(RouteError::Incomplete(prefix))?;
    let function =
        segments.next().filter(|s| !s.is_empty()).ok_or(RouteError::Incomplete(prefix))?;
    check_name("project", project).map_err(|e| RouteError::BadName(e.to_string()))?;
    check_name("function", function).map_err(|e| RouteError::BadName(e.to_string()))?;
    let rest = segments.next().map(|r| format!("/{r}")).unwrap_or_else(|| "/".to_owned());
    Ok(Target { owner, project: project.to_owned(), function: function.to_owned(), path: rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

    #[test]
    fn path_form() {
        let t = resolve(Some("127.0.0.1:8787"), "localhost", &format!("/{OWNER}/hello/echo/a/b"))
            .unwrap();
        assert_eq!(
            (t.project.as_str(), t.function.as_str(), t.path.as_str()),
            ("hello", "echo", "/a/b")
        );
        let t = resolve(None, "localhost", &format!("/{OWNER}/hello/echo")).unwrap();
        assert_eq!(t.path, "/");
    }

    #[test]
    fn host_form_with_port_and_case() {
        let host = format!("{}.peerhost.localhost:8787", OWNER.to_uppercase().replace("0X", "0x"));
        let t = resolve(Some(&host), "peerhost.localhost", "/hello/echo/x").unwrap();
        assert_eq!(t.owner, OWNER.parse().unwrap());
        assert_eq!(t.path, "/x");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert_eq!(resolve(None, "d", "/"), Err(RouteError::Incomplete("<owner>/")));
        assert!(matches!(resolve(None, "d", "/0x12/hello/echo"), Err(RouteError::BadOwner(_))));
        assert!(matches!(
            resolve(None, "d", &format!("/{OWNER}/hello")),
            Err(RouteError::Incomplete(_))
        ));
        assert!(matches!(
            resolve(None, "d", &format!("/{OWNER}/Hello/echo")),
            Err(RouteError::BadName(_))
        ));
        // A host that merely ends with the domain text is not the subdomain form.
        assert!(matches!(
            resolve(Some("evil-d"), "d", "/hello/echo"),
            Err(RouteError::BadOwner(_))
        ));
    }
}
