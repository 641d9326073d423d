//! A share as a Prometheus remote-write 1.0 request: the `prometheus.WriteRequest` protobuf
//! (only the fields a share uses), compressed with snappy's block format, and the headers that
//! go with it.

use crate::series::Series;
use prost::Message;

/// The headers of a remote-write 1.0 request.
pub const HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The request body for `series` sampled at `timestamp_ms`: labels sorted by name, as
/// Prometheus requires.
pub fn encode(series: &[Series], timestamp_ms: i64) -> Vec<u8> {
    let timeseries = series
        .iter()
        .map(|s| {
            let mut labels = vec![Label { name: "__name__".into(), value: s.name.into() }];
            if let Some(p) = &s.place {
                labels.push(Label { name: "cell".into(), value: p.cell.clone() });
                labels.push(Label { name: "region".into(), value: p.region.clone() });
            }
            TimeSeries { labels, samples: vec![Sample { value: s.value, timestamp: timestamp_ms }] }
        })
        .collect();
    compress(&WriteRequest { timeseries })
}

/// A request as its body: protobuf, then snappy.
pub fn compress(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy takes any input below 4 GiB")
}

/// The most a body may grow to when decompressed: a share of 64 cells is about 12 KiB, and a
/// body of many empty series decodes to some 25 times its size in memory (here at most 25 MiB),
/// while a push of 2000 invented cells still decodes, to be refused for what it is.
const MAX_DECODED: usize = 1 << 20;

/// The request a body holds (the collector reads pushes with it). The decompressed size is
/// checked before anything is allocated for it.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("not snappy: {e}"))?;
    if len > MAX_DECODED {
        return Err(format!("decompresses to {len} bytes, more than the {MAX_DECODED} a share may hold"));
    }
    let proto = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("not snappy: {e}"))?;
    WriteRequest::decode(proto.as_slice()).map_err(|e| format!("not a WriteRequest: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Place;

    #[test]
    fn round_trip_with_sorted_labels() {
        let series = [
            Series { name: "lpshare_sessions", place: None, value: 2.0 },
            Series {
                name: "lpshare_gateways",
                place: Some(Place { cell: "N50E010-5deg".into(), region: "europe".into() }),
                value: 4.0,
            },
        ];
        let req = decode(&encode(&series, 1_700_000_000_000)).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let names: Vec<&str> = req.timeseries[1].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "cell", "region"]);
        assert_eq!(req.timeseries[1].samples, [Sample { value: 4.0, timestamp: 1_700_000_000_000 }]);
        assert!(decode(b"\x00garbage").is_err());
        // A header claiming 1 GiB is refused before anything is allocated.
        let err = decode(&[0x80, 0x80, 0x80, 0x80, 0x04, 0x00]).unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }
}
