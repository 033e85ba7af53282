//! Checking one configuration value against its `Kind`, and the canonical
//! forms (sizes in `MB`) that `.env` and the templates use.

use super::keys::Kind;

/// A database and the role that owns it, from `APP_DATABASES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDatabase {
    pub name: String,
    pub owner: String,
}

/// Checks `raw` against `kind`; on success returns the canonical text.
/// The error says what was expected, without repeating the key (the caller adds it).
pub fn check(kind: Kind, raw: &str) -> Result<String, String> {
    match kind {
        Kind::Name => check_name(raw).map(str::to_owned),
        Kind::Image => check_image(raw).map(str::to_owned),
        Kind::BaseImage if raw == "auto" => Ok(raw.to_owned()),
        Kind::BaseImage => check_image(raw).map(str::to_owned),
        Kind::Url => {
            if (raw.starts_with("http://") || raw.starts_with("https://"))
                && raw.len() > 8
                && !raw.contains(char::is_whitespace)
                && !raw.contains(['\'', '"'])
            {
                Ok(raw.trim_end_matches('/').to_owned())
            } else {
                Err("expected an http:// or https:// URL".to_owned())
            }
        }
        Kind::Int(min, max) => match raw.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            Ok(_) => Err(format!("expected a whole number from {min} to {max}")),
            Err(_) => Err(format!("expected a whole number from {min} to {max}")),
        },
        Kind::Float(min, max) => match raw.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => Ok(raw.to_owned()),
            _ => Err(format!("expected a number from {min} to {max}")),
        },
        Kind::Size => parse_size_mb(raw)
            .map(|mb| format!("{mb}MB"))
            .ok_or_else(|| {
                "expected a size such as 512MB or 4GB (units kB, MB, GB, TB)".to_owned()
            }),
        Kind::Duration => check_duration(raw).map(str::to_owned),
        Kind::Ipv4 => raw
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| "expected an IPv4 address such as 127.0.0.1".to_owned()),
        Kind::Cidr => check_cidr(raw),
        Kind::Port => match raw.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port.to_string()),
            _ => Err("expected a TCP port from 1 to 65535".to_owned()),
        },
        Kind::Databases => parse_databases(raw).map(|dbs| {
            dbs.iter()
                .map(|db| format!("{}:{}", db.name, db.owner))
                .collect::<Vec<_>>()
                .join(",")
        }),
        Kind::Choice(options) => {
            if options.contains(&raw) {
                Ok(raw.to_owned())
            } else {
                Err(format!("expected one of {}", options.join(", ")))
            }
        }
        Kind::Names => {
            let names: Vec<&str> = raw
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .collect();
            for name in &names {
                check_name(name)?;
            }
            Ok(names.join(","))
        }
        Kind::Schedule => check_schedule(raw).map(str::to_owned),
        Kind::Subset(options) => {
            let mut chosen: Vec<&str> = Vec::new();
            for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                if !options.contains(&word) {
                    return Err(format!("`{word}` is not one of {}", options.join(", ")));
                }
                if !chosen.contains(&word) {
                    chosen.push(word);
                }
            }
            Ok(chosen.join(","))
        }
        Kind::Word => {
            if !raw.is_empty()
                && raw
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\' | '$' | '`'))
            {
                Ok(raw.to_owned())
            } else {
                Err("expected text without spaces, quotes, `$` or backslashes".to_owned())
            }
        }
    }
}

fn check_name(raw: &str) -> Result<&str, String> {
    let mut chars = raw.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if first_ok
        && raw.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(raw)
    } else {
        Err("expected a lowercase name: a-z, 0-9 and _, starting with a letter or _, at most 63 characters".to_owned())
    }
}

fn check_image(raw: &str) -> Result<&str, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 255
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:@".contains(c))
        && !raw.starts_with(['-', '.', '/', ':']);
    if ok {
        Ok(raw)
    } else {
        Err("expected a Docker image reference such as core-data/postgres:17".to_owned())
    }
}

/// Parses a PostgreSQL-style size into whole megabytes (rounding kB up).
pub fn parse_size_mb(raw: &str) -> Option<u64> {
    let digits_end = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(digits_end);
    let number: u64 = number.parse().ok()?;
    let mb = match unit {
        "kB" | "KB" | "kb" => number.div_ceil(1024),
        "MB" | "mb" | "M" | "m" => number,
        "GB" | "gb" | "G" | "g" => number.checked_mul(1024)?,
        "TB" | "tb" | "T" | "t" => number.checked_mul(1024 * 1024)?,
        _ => return None,
    };
    (mb > 0).then_some(mb)
}

fn check_duration(raw: &str) -> Result<&str, String> {
    if raw == "0" {
        return Ok(raw);
    }
    let digits_end = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(digits_end);
    if !number.is_empty()
        && number.parse::<u64>().is_ok()
        && matches!(unit, "ms" | "s" | "min" | "h" | "d")
    {
        Ok(raw)
    } else {
        Err("expected 0 or a duration such as 500ms, 30s, 10min, 1h".to_owned())
    }
}

fn check_cidr(raw: &str) -> Result<String, String> {
    let err = || "expected an IPv4 network in CIDR form such as 172.30.0.0/24".to_owned();
    let (addr, prefix) = raw.split_once('/').ok_or_else(err)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| err())?;
    let prefix: u32 = prefix.parse().map_err(|_| err())?;
    if !(8..=29).contains(&prefix) {
        return Err("expected a prefix length from /8 to /29".to_owned());
    }
    let mask = u32::MAX << (32 - prefix);
    if u32::from(addr) & !mask != 0 {
        return Err(format!(
            "host bits are set; did you mean `{}/{prefix}`?",
            std::net::Ipv4Addr::from(u32::from(addr) & mask)
        ));
    }
    Ok(raw.to_owned())
}

/// A pg_cron schedule: `off`, `N seconds` (1..59), or five cron fields made of
/// digits, `*`, `,`, `-` and `/`. pg_cron checks the fields' ranges itself when
/// the job is scheduled; this keeps quotes and other text out of the job table.
fn check_schedule(raw: &str) -> Result<&str, String> {
    const EXPECTED: &str =
        "expected `off`, `N seconds` (1 to 59) or five cron fields such as `30 2 * * *`";
    if raw == "off" {
        return Ok(raw);
    }
    let fields: Vec<&str> = raw.split(' ').collect();
    if let [count, "seconds"] = fields.as_slice() {
        return match count.parse::<u32>() {
            Ok(1..=59) => Ok(raw),
            _ => Err(EXPECTED.to_owned()),
        };
    }
    // minute, hour, day of month, month, day of week (0 and 7 are Sunday).
    const RANGES: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    if fields.len() != 5 {
        return Err(EXPECTED.to_owned());
    }
    for (field, (min, max)) in fields.iter().zip(RANGES) {
        if !field.split(',').all(|item| cron_item(item, min, max)) {
            return Err(format!(
                "{EXPECTED}; `{field}` is not a list of `*`, N or N-M (each from {min} to {max}), \
                 optionally with /STEP"
            ));
        }
    }
    Ok(raw)
}

/// One comma-separated item of a cron field: `*`, `N` or `N-M`, each
/// optionally `/STEP`, with every number within `min..=max`.
fn cron_item(item: &str, min: u32, max: u32) -> bool {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    let in_range = |n: &str| n.parse::<u32>().is_ok_and(|n| (min..=max).contains(&n));
    let step_ok = step.is_none_or(|step| step.parse::<u32>().is_ok_and(|n| n >= 1));
    let range_ok = match range.split_once('-') {
        _ if range == "*" => true,
        Some((from, to)) => {
            in_range(from) && in_range(to) && from.parse::<u32>().ok() <= to.parse::<u32>().ok()
        }
        None => in_range(range),
    };
    range_ok && step_ok
}

/// Parses `APP_DATABASES`: `db:owner` pairs, comma-separated, names as for `Kind::Name`.
pub fn parse_databases(raw: &str) -> Result<Vec<AppDatabase>, String> {
    let mut out: Vec<AppDatabase> = Vec::new();
    for entry in raw
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (name, owner) = entry
            .split_once(':')
            .ok_or_else(|| format!("entry `{entry}` is not `database:owner`"))?;
        check_name(name).map_err(|e| format!("database `{name}`: {e}"))?;
        check_name(owner).map_err(|e| format!("owner `{owner}`: {e}"))?;
        if matches!(name, "postgres" | "template0" | "template1") {
            return Err(format!("database `{name}` is reserved"));
        }
        if out.iter().any(|db| db.name == name) {
            return Err(format!("database `{name}` is listed twice"));
        }
        out.push(AppDatabase {
            name: name.to_owned(),
            owner: owner.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_canonicalised_to_megabytes() {
        assert_eq!(check(Kind::Size, "4GB"), Ok("4096MB".to_owned()));
        assert_eq!(check(Kind::Size, "1536kB"), Ok("2MB".to_owned()));
        assert_eq!(check(Kind::Size, "512MB"), Ok("512MB".to_owned()));
        assert!(check(Kind::Size, "lots").is_err());
        assert!(check(Kind::Size, "12").is_err());
        assert!(check(Kind::Size, "0MB").is_err());
    }

    #[test]
    fn cidr_rejects_garbage_and_host_bits() {
        assert!(check(Kind::Cidr, "172.30.0.0/24").is_ok());
        assert!(check(Kind::Cidr, "172.30.0.0").is_err());
        assert!(check(Kind::Cidr, "300.1.1.0/24").is_err());
        let err = check(Kind::Cidr, "172.30.0.5/24").unwrap_err();
        assert!(err.contains("172.30.0.0/24"), "{err}");
    }

    #[test]
    fn databases_parse_and_reject_reserved_or_bad_names() {
        assert_eq!(
            parse_databases("app:app, shop:shop_owner").unwrap(),
            vec![
                AppDatabase {
                    name: "app".into(),
                    owner: "app".into()
                },
                AppDatabase {
                    name: "shop".into(),
                    owner: "shop_owner".into()
                },
            ]
        );
        assert!(parse_databases("template1:x").is_err());
        assert!(parse_databases("App:x").is_err());
        assert!(parse_databases("a:b,a:c").is_err());
        assert!(parse_databases("nocolon").is_err());
    }

    #[test]
    fn durations_and_words() {
        assert!(check(Kind::Duration, "500ms").is_ok());
        assert!(check(Kind::Duration, "10min").is_ok());
        assert!(check(Kind::Duration, "10 min").is_err());
        assert!(check(Kind::Schedule, "30 2 * * *").is_ok());
        assert!(check(Kind::Schedule, "*/5 1-3 * * 0,6").is_ok());
        assert!(check(Kind::Schedule, "10 seconds").is_ok());
        assert!(check(Kind::Schedule, "off").is_ok());
        assert!(check(Kind::Schedule, "90 seconds").is_err());
        assert!(check(Kind::Schedule, "30 2 * *").is_err());
        assert!(check(Kind::Schedule, "30 2 * * *'; --").is_err());
        assert!(check(Kind::Schedule, "99 99 * * *").is_err());
        assert!(check(Kind::Schedule, "0 0 0 * *").is_err());
        assert!(check(Kind::Schedule, "5-1 * * * *").is_err());
        assert!(check(Kind::Schedule, "*/0 * * * *").is_err());
        assert!(check(Kind::Schedule, "0-59/15 0,12 1-31 1-12 0-7").is_ok());
        assert!(check(Kind::Duration, "ms").is_err());
        assert!(check(Kind::Word, "ddl,role").is_ok());
        assert!(check(Kind::Word, "a'b").is_err());
        assert!(check(Kind::Word, "$(x)").is_err());
        assert_eq!(
            check(Kind::Choice(&["zst", "lz4"]), "lz4"),
            Ok("lz4".to_owned())
        );
        assert_eq!(
            check(Kind::Choice(&["zst", "lz4"]), "xz"),
            Err("expected one of zst, lz4".to_owned())
        );
        assert_eq!(check(Kind::Names, ""), Ok(String::new()));
        let profiles = Kind::Subset(&["valkey", "pgbouncer"]);
        assert_eq!(check(profiles, ""), Ok(String::new()));
        assert_eq!(
            check(profiles, "pgbouncer, valkey,pgbouncer"),
            Ok("pgbouncer,valkey".to_owned())
        );
        assert!(check(profiles, "pgbouncer,redis").is_err());
        assert_eq!(check(Kind::Names, "a, b"), Ok("a,b".to_owned()));
        assert!(check(Kind::Names, "a,B").is_err());
    }
}
