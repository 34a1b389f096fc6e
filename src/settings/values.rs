//! The checks of single values: numbers of minutes and seconds, choices, names, the Octopus
//! URL and the API key or access token.

use super::*;

pub(super) fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(super) fn required(value: &Option<String>, parameter: &str) -> Result<String, String> {
    present(value)
        .map(str::to_string)
        .ok_or_else(|| format!("{parameter} is required but was empty."))
}

/// Characters no Azure resource or group name has, and that would change the meaning of a
/// request path if they slipped into one.
pub(super) const NOT_IN_A_NAME: &[char] = &['/', '\\', '?', '#', '%', '&', ' ', '\t', '\'', '"'];

/// Splits `VMSS.ScaleSet.Name`: a comma list of scale sets, each `name` (in `default_group`)
/// or `group/name`. Blanks are ignored and repeats (ignoring case) dropped.
pub fn parse_scale_sets(
    value: Option<&str>,
    default_group: &str,
) -> Result<Vec<ScaleSetRef>, String> {
    let mut out: Vec<ScaleSetRef> = Vec::new();
    for entry in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (group, name) = match entry.split_once('/') {
            Some((g, n)) => (g.trim(), n.trim()),
            None => (default_group, entry),
        };
        if group.is_empty() && entry.contains('/')
            || name.is_empty()
            || [group, name].iter().any(|p| p.contains(NOT_IN_A_NAME))
        {
            return Err(format!(
                "VMSS.ScaleSet.Name has an entry \"{entry}\" that is neither a scale set name nor resource-group/name: separate scale sets with commas, e.g. vmss-web, rg-other/vmss-api."
            ));
        }
        let set = ScaleSetRef {
            resource_group: group.to_string(),
            name: name.to_string(),
        };
        let same = |s: &ScaleSetRef| {
            s.name.eq_ignore_ascii_case(&set.name)
                && s.resource_group.eq_ignore_ascii_case(&set.resource_group)
        };
        if !out.iter().any(same) {
            out.push(set);
        }
    }
    if out.is_empty() {
        return Err("VMSS.ScaleSet.Name is required but was empty: give the scale set's name, or a comma list of them.".into());
    }
    Ok(out)
}

/// Splits the roles list: commas, blanks ignored, duplicates dropped (case-insensitively).
pub fn parse_roles(value: Option<&str>) -> Result<Vec<String>, String> {
    let mut roles: Vec<String> = Vec::new();
    for role in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        if !roles.iter().any(|r| r.eq_ignore_ascii_case(role)) {
            roles.push(role.to_string());
        }
    }
    if roles.is_empty() {
        return Err("VMSS.DeploymentTarget.Roles is required: give the target roles (comma-separated) that every VM of the scale set registers with.".into());
    }
    Ok(roles)
}

/// Parses `VMSS.Octopus.Url` once, with the parser that makes the requests: reqwest takes a
/// `url::Url` (the WHATWG URL standard), and this `Url` is the one every Octopus request and
/// the decision record use. So user information is refused as that parser reads it, not as the
/// text looks: `http:\\u:pw@host`, `http:u:pw@host`, `http:/u:pw@host` and `http:/<TAB>/u:pw@host`
/// are all `http://u:pw@host/` to it, and would send Basic auth with every request.
pub(super) fn parse_octopus_url(value: Option<&str>) -> Result<Url, String> {
    let raw = value.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err("VMSS.Octopus.Url is required: give the Octopus Server's address, e.g. https://octopus.example.com (the default #{Octopus.Web.ServerUri} works when it is set).".into());
    }
    const USER_INFO: &str = "VMSS.Octopus.Url must not carry a user name or password";
    const FIX: &str =
        "the step signs in with VMSS.Octopus.ApiKey only. Remove the part before '@'.";
    let not_http = || {
        format!(
            "VMSS.Octopus.Url must be an http(s) address such as https://octopus.example.com, got {}.",
            shown(raw)
        )
    };
    let Ok(mut url) = Url::parse(raw) else {
        // Too broken to parse, so no request would be sent; still never echo what may be a
        // password.
        return Err(match without_user_info(raw) {
            Some(redacted) => format!("{USER_INFO} (got \"{redacted}\"): {FIX}"),
            None => not_http(),
        });
    };
    // A user name or password would travel with every request and be written into the
    // decision record: refused, and shown only with `***` in its place.
    if !url.username().is_empty() || url.password().is_some() {
        let mut redacted = url.clone();
        let _ = redacted.set_password(None);
        let _ = redacted.set_username("***");
        return Err(format!("{USER_INFO} (got \"{redacted}\"): {FIX}"));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(not_http());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "VMSS.Octopus.Url must be the server's address without a query or fragment, got \"{}\".",
            url.origin().ascii_serialization()
        ));
    }
    // A trailing `/api` is a common slip: the API paths are added here.
    let trimmed = url.path().trim_end_matches('/').to_string();
    let path = trimmed.strip_suffix("/api").unwrap_or(&trimmed);
    url.set_path(&format!("{path}/"));
    Ok(url)
}

/// `raw` in quotes for an error message, unless it holds an `@`: then whatever precedes it may
/// be a password (`mailto:u:pw@host` is no http URL, yet the text is still secret).
pub(super) fn shown(raw: &str) -> String {
    if raw.contains('@') {
        "a value holding '@' (not shown: what precedes it may be a password)".into()
    } else {
        format!("\"{raw}\"")
    }
}

/// `raw` with its user information replaced by `***`, when it has any: the part between
/// `scheme://` and an `@` before the host's end (`https://:pw@host`, `https://user@host`).
/// Read from the text, for a URL too broken to parse (`https://pw@[broken`).
pub(super) fn without_user_info(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some(format!("{scheme}://***@{}", &rest[at + 1..]))
}

/// Parses minutes (decimals allowed) into a duration.
pub fn minutes(value: Option<&str>, parameter: &str, default: f64) -> Result<Duration, String> {
    let n = number(value, default).ok_or_else(|| {
        format!(
            "{parameter} must be a number of minutes, got \"{}\".",
            value.unwrap_or("").trim()
        )
    })?;
    if !(0.0..=MAX_MINUTES).contains(&n) {
        return Err(format!(
            "{parameter} must be between 0 and {MAX_MINUTES} minutes, got {n}."
        ));
    }
    Ok(Duration::from_secs_f64(n * 60.0))
}

pub(super) fn poll_seconds(value: Option<&str>) -> Result<Duration, String> {
    let n = number(value, 10.0).ok_or_else(|| {
        format!(
            "VMSS.Poll.Interval must be a number of seconds, got \"{}\".",
            value.unwrap_or("").trim()
        )
    })?;
    if !(MIN_POLL_SECONDS..=3600.0).contains(&n) {
        return Err(format!(
            "VMSS.Poll.Interval must be at least {MIN_POLL_SECONDS} and at most 3600 seconds, got {n}: it is the time between two checks of the scale sets (10 is the default)."
        ));
    }
    Ok(Duration::from_secs_f64(n))
}

/// A test knob in seconds: more than 0, at most the default (a knob may only shorten).
pub(super) fn knob_seconds(
    value: Option<&str>,
    variable: &str,
    default: Duration,
) -> Result<Duration, String> {
    let max = default.as_secs_f64();
    match number(value, max) {
        Some(n) if n > 0.0 && n <= max => Ok(Duration::from_secs_f64(n)),
        _ => Err(format!(
            "{variable} must be a number of seconds above 0 and at most {max}, got \"{}\".",
            value.unwrap_or("").trim()
        )),
    }
}

/// A decimal number; blank means the default. Accepts a decimal comma too (`0,5`), as typed in
/// many locales.
pub(super) fn number(value: Option<&str>, default: f64) -> Option<f64> {
    let raw = value.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Some(default);
    }
    let n: f64 = raw.replace(',', ".").parse().ok()?;
    n.is_finite().then_some(n)
}

pub(super) fn choice<T: Copy>(
    value: Option<&str>,
    parameter: &str,
    options: &[(&str, T)],
    default: T,
) -> Result<T, String> {
    let raw = value.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Ok(default);
    }
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(raw))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = options.iter().map(|(n, _)| capitalise(n)).collect();
            format!("{parameter} must be {}, got \"{raw}\".", names.join(" or "))
        })
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `Yes`/`No` (also `True`/`False`), any case; blank means No.
pub fn yes_no(value: Option<&str>, parameter: &str) -> Result<bool, String> {
    match value
        .map(str::trim)
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "no" | "false" => Ok(false),
        "yes" | "true" => Ok(true),
        other => Err(format!("{parameter} must be Yes or No, got \"{other}\".")),
    }
}
