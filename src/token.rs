//! The federated (OIDC) token Octopus hands the step: reading it from a file as Windows and
//! Linux tools write it, and when it expires. Inputs and the Azure side both need these, so
//! they live apart from either (no `settings` <-> `azure` circle).

/// Reads a federated token file as Windows tools write it too: UTF-8 with or without a byte
/// order mark, or UTF-16 (Windows PowerShell 5.1's `Out-File` and `>` write UTF-16LE with a
/// BOM); surrounding whitespace, CRLF included, is not part of the token.
pub fn read_token_file(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let utf16 = |bytes: &[u8], unit: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
        String::from_utf16(&units)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    };
    let text = match bytes.as_slice() {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes)?,
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes)?,
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
        _ => String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
    };
    Ok(text.trim().to_string())
}

/// When a JWT expires (its `exp` claim), if it says: the Octopus OIDC token's lifetime bounds
/// how long the step can keep signing in to Azure.
pub fn jwt_expiry(token: &str) -> Option<time::OffsetDateTime> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    time::OffsetDateTime::from_unix_timestamp(claims.get("exp")?.as_i64()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_as_windows_tools_write_them_read_as_the_token() {
        let dir = std::env::temp_dir().join(format!("vmss-check-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("eyJ.a.b\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("eyJ.a.b".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        for (name, bytes) in [
            ("plain", b"eyJ.a.b\n".to_vec()),
            ("crlf", b"eyJ.a.b\r\n".to_vec()),
            ("bom", b"\xEF\xBB\xBFeyJ.a.b\r\n".to_vec()),
            ("utf16le", utf16le),
            ("utf16be", utf16be),
        ] {
            let file = dir.join(name);
            std::fs::write(&file, bytes).unwrap();
            assert_eq!(read_token_file(&file).unwrap(), "eyJ.a.b", "{name}");
        }
        let bad = dir.join("bad");
        std::fs::write(&bad, [0xC3, 0x28]).unwrap();
        assert_eq!(
            read_token_file(&bad).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_jwts_expiry_is_its_exp_claim() {
        use base64::Engine as _;
        let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let jwt = format!(
            "{}.{}.c2ln",
            part(r#"{"alg":"RS256","typ":"JWT"}"#),
            part(r#"{"aud":"api://AzureADTokenExchange","exp":1795420800}"#)
        );
        assert_eq!(
            jwt_expiry(&jwt),
            Some(time::macros::datetime!(2026-11-23 08:00 UTC))
        );
        assert_eq!(jwt_expiry("not.a-jwt.at-all"), None);
        assert_eq!(jwt_expiry("opaque-token"), None);
    }
}
