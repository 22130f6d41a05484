//! The stored form of the SCIM request log (docs/audit.md "How it is stored"): each batch
//! the writer hands over becomes one **segment** row per account, holding that account's
//! records encoded back to back in one blob. One row (and one index entry) per batch instead
//! of one per request is what keeps the log under its throughput budget: a per-request
//! `INSERT` of 13 columns cost more than the rest of the log together.
//!
//! A record's position (`seq`) is `segment id × SPAN + index in the segment`, so positions
//! still grow with time and a cursor names one record. Next to the blob, a segment row keeps
//! what lets a query skip it unread: its first and last time, and bit sets of the methods and
//! status classes it holds.
//!
//! Encoding (version 1): a version byte, the size of the records' bytes as a little-endian
//! `u32`, and those bytes compressed as one LZ4 block (requests to one account repeat the
//! same schemas, attribute names and headers: about 40 bytes a request on the filter
//! benchmark, whose responses are all one user, and under a third of the texts for distinct
//! users, as a test here shows; SQLite writes that much less). The records'
//! bytes: per record `at_us` and `duration_us` as little-endian `i64`, `status` as
//! little-endian `u16`, and nine texts (method, path, query, principal, credential id, user
//! agent, request id, request body, response body), each a little-endian `u32` length and its
//! UTF-8 bytes; the length `u32::MAX` is an absent value.

use scimgate_domain::request_log::{ScimRequest, StatusClass};

/// Positions per segment: records of a segment have `seq` in `[id × SPAN, (id + 1) × SPAN)`.
pub(crate) const SPAN: i64 = 1024;

const VERSION: u8 = 1;
const ABSENT: u32 = u32::MAX;
/// The largest records' size a segment may claim (1,024 records of two 16 KiB bodies and
/// their other texts fit well within it); a damaged size is refused, not allocated.
const MAX_RAW: usize = 64 << 20;

/// One segment, ready to insert.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) first_at_us: i64,
    pub(crate) last_at_us: i64,
    /// [`method_bit`] of every record, or-ed.
    pub(crate) methods: i64,
    /// [`status_bit`] of every record, or-ed.
    pub(crate) statuses: i64,
    pub(crate) records: i64,
    pub(crate) data: Vec<u8>,
}

/// The bit of a method in a segment's `methods` (the five SCIM methods, and one for any other).
pub(crate) fn method_bit(method: &str) -> i64 {
    match method {
        "GET" => 1,
        "POST" => 2,
        "PUT" => 4,
        "PATCH" => 8,
        "DELETE" => 16,
        _ => 32,
    }
}

/// The bit of a status in a segment's `statuses`: one per hundred (1xx … 5xx), bit 0 for
/// anything else.
pub(crate) fn status_bit(status: u16) -> i64 {
    match status / 100 {
        c @ 1..=5 => 1 << c,
        _ => 1,
    }
}

/// The bits of a class a query asks for.
pub(crate) fn class_bit(class: StatusClass) -> i64 {
    match class {
        StatusClass::Success => 1 << 2,
        StatusClass::ClientError => 1 << 4,
        StatusClass::ServerError => 1 << 5,
    }
}

fn put_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        // Texts are cut well below 4 GiB before they get here (bodies at 16 KiB).
        Some(s) => {
            let len = u32::try_from(s.len()).unwrap_or(ABSENT - 1).min(ABSENT - 1);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&s.as_bytes()[..len as usize]);
        }
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// The nine texts of a record, in their stored order.
fn texts(r: &ScimRequest) -> [Option<&str>; 9] {
    [
        Some(r.method.as_str()),
        Some(r.path.as_str()),
        Some(r.query.as_str()),
        r.principal.as_deref(),
        r.credential_id.as_deref(),
        r.user_agent.as_deref(),
        r.request_id.as_deref(),
        r.request_body.as_deref(),
        r.response_body.as_deref(),
    ]
}

/// The bytes of a record's texts.
fn text_bytes(r: &ScimRequest) -> usize {
    texts(r).iter().map(|t| t.map_or(0, str::len)).sum()
}

/// Encodes the records of one account, oldest first (at most [`SPAN`]).
pub(crate) fn encode(records: &[&ScimRequest]) -> Encoded {
    debug_assert!(!records.is_empty() && records.len() <= SPAN as usize);
    let size: usize = records.iter().map(|r| 18 + 36 + text_bytes(r)).sum();
    let mut raw = Vec::with_capacity(size);
    let (mut methods, mut statuses) = (0, 0);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for r in records {
        let at = crate::micros(r.at);
        first = first.min(at);
        last = last.max(at);
        methods |= method_bit(&r.method);
        statuses |= status_bit(r.status);
        raw.extend_from_slice(&at.to_le_bytes());
        raw.extend_from_slice(&r.duration_us.to_le_bytes());
        raw.extend_from_slice(&r.status.to_le_bytes());
        for text in texts(r) {
            put_text(&mut raw, text);
        }
    }
    let mut data = Vec::with_capacity(5 + lz4_flex::block::get_maximum_output_size(raw.len()));
    data.push(VERSION);
    // A batch is at most 500 records of bodies cut at 16 KiB: far below 4 GiB.
    data.extend_from_slice(&u32::try_from(raw.len()).unwrap_or(u32::MAX).to_le_bytes());
    data.extend_from_slice(&lz4_flex::block::compress(&raw));
    Encoded { first_at_us: first, last_at_us: last, methods, statuses, records: records.len() as i64, data }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!("a request-log segment ends {} bytes early", n - self.rest.len()));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.bytes(N)?.try_into().expect("N bytes"))
    }
    fn text(&mut self) -> Result<Option<String>, String> {
        let len = u32::from_le_bytes(self.array()?);
        if len == ABSENT {
            return Ok(None);
        }
        let bytes = self.bytes(len as usize)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| "a request-log segment holds a text that is not UTF-8".to_string())
    }
    fn required(&mut self) -> Result<String, String> {
        self.text()?.ok_or_else(|| "a request-log segment lacks a required text".to_string())
    }
}

/// The records of segment `id` of `account`, oldest first, with their positions.
pub(crate) fn decode(account: &str, id: i64, data: &[u8]) -> Result<Vec<ScimRequest>, String> {
    let Some((&version, body)) = data.split_first() else {
        return Err(format!("request-log segment {id} is empty"));
    };
    if version != VERSION {
        return Err(format!(
            "request-log segment {id} has encoding version {version}, this build reads {VERSION}"
        ));
    }
    let (size, packed) =
        body.split_at_checked(4).ok_or_else(|| format!("request-log segment {id} ends early"))?;
    let size = u32::from_le_bytes(size.try_into().expect("4 bytes")) as usize;
    if size > MAX_RAW {
        return Err(format!(
            "request-log segment {id} claims {size} bytes of records, more than a segment holds"
        ));
    }
    let raw = lz4_flex::block::decompress(packed, size)
        .map_err(|e| format!("request-log segment {id} does not decompress: {e}"))?;
    if raw.len() != size {
        return Err(format!("request-log segment {id} decompresses to {} bytes, not {size}", raw.len()));
    }
    let mut r = Reader { rest: &raw };
    let mut out = Vec::new();
    while !r.rest.is_empty() {
        if out.len() as i64 >= SPAN {
            return Err(format!("request-log segment {id} holds more than {SPAN} records"));
        }
        let at = i64::from_le_bytes(r.array()?);
        let duration_us = i64::from_le_bytes(r.array()?);
        let status = u16::from_le_bytes(r.array()?);
        out.push(ScimRequest {
            seq: id * SPAN + out.len() as i64,
            account: account.to_string(),
            at: crate::from_micros(at),
            method: r.required()?,
            path: r.required()?,
            query: r.required()?,
            status,
            duration_us,
            principal: r.text()?,
            credential_id: r.text()?,
            user_agent: r.text()?,
            request_id: r.text()?,
            request_body: r.text()?,
            response_body: r.text()?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: i64, method: &str, status: u16) -> ScimRequest {
        ScimRequest {
            seq: 0,
            account: "acme".into(),
            at: crate::from_micros(1_700_000_000_000_000 + i),
            method: method.into(),
            path: format!("/gateway/ng/api/scim/account/acme/Users/{i}"),
            query: String::new(),
            status,
            duration_us: 10 + i,
            principal: (i % 2 == 0).then(|| "USER:admin".to_string()),
            credential_id: None,
            user_agent: Some("Okta SCIM Client 1.0 ✓".into()),
            request_id: (i % 3 == 0).then(|| format!("req-{i}")),
            request_body: Some(String::new()),
            response_body: Some(format!("{{\"id\":\"{i}\"}}")),
        }
    }

    #[test]
    fn records_round_trip_with_their_positions_and_the_segment_summary() {
        let records = [record(0, "GET", 200), record(1, "POST", 409), record(2, "MKCOL", 201)];
        let refs: Vec<&ScimRequest> = records.iter().collect();
        let e = encode(&refs);
        assert_eq!(
            (e.records, e.first_at_us, e.last_at_us),
            (3, 1_700_000_000_000_000, 1_700_000_000_000_002)
        );
        assert_eq!(e.methods, method_bit("GET") | method_bit("POST") | 32);
        assert_eq!(e.statuses, status_bit(200) | status_bit(409));
        assert_eq!(e.statuses & class_bit(StatusClass::ClientError), class_bit(StatusClass::ClientError));
        assert_eq!(e.statuses & class_bit(StatusClass::ServerError), 0);
        let back = decode("acme", 7, &e.data).expect("decode");
        for (i, (got, want)) in back.iter().zip(&records).enumerate() {
            assert_eq!(got.seq, 7 * SPAN + i as i64);
            assert_eq!(ScimRequest { seq: 0, ..got.clone() }, *want);
        }
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn damaged_segments_are_errors_not_panics() {
        let records = [record(0, "GET", 200), record(1, "PATCH", 500)];
        let refs: Vec<&ScimRequest> = records.iter().collect();
        let data = encode(&refs).data;
        for cut in 0..data.len() {
            assert!(decode("acme", 1, &data[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..data.len() {
            let mut bad = data.clone();
            bad[at] ^= 0x5a;
            // A flipped byte may still decode (inside a text); it must never panic.
            let _ = decode("acme", 1, &bad);
        }
        assert!(decode("acme", 1, &[2]).expect_err("version").contains("version 2"));
        let mut huge = data.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode("acme", 1, &huge).expect_err("size").contains("more than a segment holds"));
    }

    #[test]
    fn a_segment_of_like_requests_is_stored_much_smaller_than_its_records() {
        // Distinct users, as an identity provider's import sends them.
        let records: Vec<ScimRequest> = (0..500)
            .map(|i| ScimRequest {
                response_body: Some(format!(
                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"{:032x}","userName":"user{i}@example.com","name":{{"givenName":"U","familyName":"{i}"}},"emails":[{{"value":"user{i}@example.com","primary":true}}],"active":true,"meta":{{"resourceType":"User","created":"2026-12-02T10:00:00Z","lastModified":"2026-12-02T10:00:00Z","version":"W/\"1\"","location":"https://scim.example.com/gateway/ng/api/scim/account/acme/Users/{:032x}"}}}}"#,
                    i * 7_919, i * 7_919
                )),
                ..record(i, "GET", 200)
            })
            .collect();
        let refs: Vec<&ScimRequest> = records.iter().collect();
        let raw: usize = records.iter().map(text_bytes).sum();
        let e = encode(&refs);
        assert!(e.data.len() * 3 < raw, "{} bytes for {raw} bytes of texts", e.data.len());
        assert_eq!(decode("acme", 3, &e.data).expect("decode").len(), 500);
    }
}
