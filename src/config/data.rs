//! Reading CSV data sources and secret files.

use std::path::Path;

use super::limits::{read_capped, ReadError, MAX_CSV_BYTES, MAX_SECRET_BYTES};

/// A CSV file read whole: header row, data rows, and the bytes (for the journey's fingerprint).
#[derive(Debug)]
pub struct CsvData {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub bytes: Vec<u8>,
}

/// Reads `path` (already resolved against the journey file's directory). `shown` is the path as written.
pub fn read_csv(path: &Path, shown: &str) -> Result<CsvData, (String, Option<String>)> {
    let bytes = read_capped(path, MAX_CSV_BYTES).map_err(|e| match e {
        ReadError::Io(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound { "not found".to_string() } else { e.to_string() };
            (
                format!("data file `{shown}` {why} (looked for {})", path.display()),
                Some("CSV paths are relative to the journey file".to_string()),
            )
        }
        too_large => (
            format!("data file `{shown}` {too_large} (looked for {})", path.display()),
            Some("split the rows across several data files, or use fewer rows".to_string()),
        ),
    })?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| (format!("data file `{shown}`: {e}"), None))?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err((
            format!("data file `{shown}` is empty"),
            Some("the first row names the columns, e.g. `email,name`".to_string()),
        ));
    }
    let columns: Vec<String> = headers.iter().map(str::to_string).collect();
    for (i, c) in columns.iter().enumerate() {
        if c.trim().is_empty() {
            return Err((format!("data file `{shown}`: column {} has no name", i + 1), None));
        }
        if columns[..i].contains(c) {
            return Err((format!("data file `{shown}`: column `{c}` appears twice"), None));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
                let line = pos.as_ref().map_or(0, |p| p.line());
                (
                    format!(
                        "data file `{shown}`: line {line} has {len} field{}, the header has {expected_len}",
                        if *len == 1 { "" } else { "s" }
                    ),
                    Some("every row needs one value per column; quote values that contain commas".to_string()),
                )
            }
            _ => (format!("data file `{shown}`: {e}"), None),
        })?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err((format!("data file `{shown}` has a header but no rows"), None));
    }
    Ok(CsvData { columns, rows, bytes })
}

/// Reads a secret file, dropping one trailing newline (editors add one; the secret does not contain it).
pub fn read_secret_file(path: &Path) -> std::io::Result<String> {
    let bytes = read_capped(path, MAX_SECRET_BYTES).map_err(|e| match e {
        ReadError::Io(e) => e,
        too_large => std::io::Error::other(too_large.to_string()),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "is not UTF-8 text"))?;
    let trimmed = text.strip_suffix("\r\n").or_else(|| text.strip_suffix('\n')).unwrap_or(&text);
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        // A fixed directory whose files every run overwrites with the same text: nothing piles up in /tmp.
        let dir = std::env::temp_dir().join("journeyd-unit-tests").join("data");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_header_and_rows() {
        let p = write("ok.csv", "email,name\na@x,A\n\"b,c@x\",B\n");
        let d = read_csv(&p, "ok.csv").unwrap();
        assert_eq!(d.columns, ["email", "name"]);
        assert_eq!(d.rows, vec![vec!["a@x", "A"], vec!["b,c@x", "B"]]);
    }

    #[test]
    fn explains_bad_files() {
        let missing = read_csv(Path::new("/nonexistent/x.csv"), "x.csv").unwrap_err().0;
        assert!(missing.starts_with("data file `x.csv` not found"), "{missing}");
        let empty = read_csv(&write("empty.csv", ""), "empty.csv").unwrap_err().0;
        assert_eq!(empty, "data file `empty.csv` is empty");
        let header = read_csv(&write("header.csv", "a,b\n"), "header.csv").unwrap_err().0;
        assert_eq!(header, "data file `header.csv` has a header but no rows");
        let ragged = read_csv(&write("ragged.csv", "a,b\n1,2\n3\n"), "ragged.csv").unwrap_err().0;
        assert_eq!(ragged, "data file `ragged.csv`: line 3 has 1 field, the header has 2");
        let dup = read_csv(&write("dup.csv", "a,a\n1,2\n"), "dup.csv").unwrap_err().0;
        assert_eq!(dup, "data file `dup.csv`: column `a` appears twice");
    }

    #[test]
    fn secret_files_lose_one_trailing_newline() {
        assert_eq!(read_secret_file(&write("s1", "hunter2\n")).unwrap(), "hunter2");
        assert_eq!(read_secret_file(&write("s2", "hunter2\r\n")).unwrap(), "hunter2");
        assert_eq!(read_secret_file(&write("s3", "hunter2\n\n")).unwrap(), "hunter2\n");
    }

    #[test]
    fn files_past_their_limit_are_refused_without_reading_them_whole() {
        let secret = read_secret_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(secret.to_string(), "is larger than 64 KiB, the most journeyd reads from one");
        let (msg, hint) = read_csv(Path::new("/dev/zero"), "zero.csv").unwrap_err();
        assert_eq!(
            msg,
            "data file `zero.csv` is larger than 64 MiB, the most journeyd reads from one (looked for /dev/zero)"
        );
        assert!(hint.unwrap().starts_with("split the rows"));
    }
}
