//! Live node state shared by the servers: registered transcoders and RTMP streams with their counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A standalone transcoder connected to this orchestrator.
#[derive(Clone, Debug)]
pub struct Transcoder {
    pub address: String,
    pub capacity: i64,
}

/// The shared state; cheap to clone behind an `Arc`.
#[derive(Default)]
pub struct State {
    transcoders: Mutex<BTreeMap<u64, Transcoder>>,
    streams: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    next_id: AtomicU64,
    last_manifest: Mutex<String>,
    pub streams_created: AtomicU64,
    pub streams_ended: AtomicU64,
    pub rtmp_bytes: AtomicU64,
}

impl State {
    /// Adds a transcoder; the id removes it again.
    pub fn add_transcoder(&self, transcoder: Transcoder) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.transcoders.lock().unwrap().insert(id, transcoder);
        id
    }

    pub fn remove_transcoder(&self, id: u64) {
        self.transcoders.lock().unwrap().remove(&id);
    }

    /// Registered transcoders, oldest first.
    pub fn transcoders(&self) -> Vec<Transcoder> {
        self.transcoders.lock().unwrap().values().cloned().collect()
    }

    /// Starts a stream counting its bytes in `bytes`; false if that manifest is already streaming.
    pub fn start_stream(&self, manifest: &str, bytes: Arc<AtomicU64>) -> bool {
        let mut streams = self.streams.lock().unwrap();
        if streams.contains_key(manifest) {
            return false;
        }
        streams.insert(manifest.to_string(), bytes);
        *self.last_manifest.lock().unwrap() = manifest.to_string();
        self.streams_created.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub fn end_stream(&self, manifest: &str) {
        if self.streams.lock().unwrap().remove(manifest).is_some() {
            self.streams_ended.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Active streams and the bytes each has received.
    pub fn streams(&self) -> BTreeMap<String, u64> {
        let streams = self.streams.lock().unwrap();
        streams.iter().map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect()
    }

    /// The manifest ID of the last stream started (the `/manifestID` answer).
    pub fn last_manifest(&self) -> String {
        self.last_manifest.lock().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_counted_once() {
        let state = State::default();
        let bytes = Arc::new(AtomicU64::new(0));
        assert!(state.start_stream("a", bytes.clone()));
        assert!(!state.start_stream("a", bytes.clone()));
        bytes.fetch_add(10, Ordering::Relaxed);
        assert_eq!(state.streams().get("a"), Some(&10));
        state.end_stream("a");
        state.end_stream("a");
        assert!(state.streams().is_empty());
        assert_eq!(state.streams_created.load(Ordering::Relaxed), 1);
        assert_eq!(state.streams_ended.load(Ordering::Relaxed), 1);
        assert_eq!(state.last_manifest(), "a");
    }

    #[test]
    fn transcoders_come_and_go() {
        let state = State::default();
        let a = state.add_transcoder(Transcoder { address: "x:1".into(), capacity: 3 });
        state.add_transcoder(Transcoder { address: "y:2".into(), capacity: 4 });
        state.remove_transcoder(a);
        let left = state.transcoders();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].address, "y:2");
    }
}
