//! Two clients of one log state file against a real vault: one saves a
//! newer checkpoint between the other's fetch and save. The slower one
//! must not roll the state back to its older checkpoint (issue 15 item 8);
//! it starts over from the newer state and ends on the newest.

use std::path::Path;
use std::sync::{Arc, Mutex};

use obhut_api::log::KeyResponse;
use obhut_client::Result;
use obhut_client::log::{CheckpointStore, LogClient, StateFile};
use obhut_log::{VerifierKey, WitnessPolicy};
use obhut_server::ManualClock;
use obhut_server::testkit::{InProcess, create_token, custody_group, http};

const NOW: i64 = 1_790_000_000_000;

/// A state file that, on its first save, first lets `meanwhile` run: the
/// other client's whole update, landing inside this one's.
struct Interleaved {
    file: StateFile,
    meanwhile: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl CheckpointStore for Interleaved {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        self.file.load()
    }
    fn save(&self, expected: Option<&[u8]>, checkpoint: &[u8]) -> Result<()> {
        let run = self.meanwhile.lock().unwrap().take();
        if let Some(run) = run {
            run();
        }
        self.file.save(expected, checkpoint)
    }
    fn describe(&self) -> String {
        self.file.describe()
    }
}

fn size_of(state: &Path) -> u64 {
    let note = std::fs::read_to_string(state).unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_slower_client_does_not_roll_back_a_shared_log_state() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Arc::new(InProcess::start(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        Arc::new(ManualClock::new(NOW)),
        1 << 20,
    ));
    let url = format!("http://{}", vault.addr);
    let key: KeyResponse = serde_json::from_slice(
        &http(vault.addr, "GET", "/v1/log/key", &[], &[])
            .unwrap()
            .body,
    )
    .unwrap();
    let vkey = VerifierKey::parse(&key.vkey).unwrap();
    let group = custody_group();
    let grow = {
        let vault = vault.clone();
        move |entries: usize| {
            for _ in 0..entries {
                vault.block_on(create_token(&vault.app.index, &group, "cctv-7d", NOW));
            }
            vault
                .block_on(vault.app.log.integrate(&vault.app.index, NOW))
                .unwrap();
        }
    };
    let state = dir.path().join("state/log.checkpoint");
    let client = |store: Box<dyn CheckpointStore>| {
        LogClient::new(&url, vkey.clone(), WitnessPolicy::none(), store)
    };

    grow(4);
    client(Box::new(StateFile::new(&state))).update().unwrap();
    let start = size_of(&state);

    // The slow client fetches the checkpoint at start + 3; before it
    // saves, the log grows by 5 more and the fast client saves that.
    grow(3);
    let fast = {
        let (url, vkey, state, grow) = (url.clone(), vkey.clone(), state.clone(), grow.clone());
        move || {
            grow(5);
            LogClient::new(
                &url,
                vkey,
                WitnessPolicy::none(),
                Box::new(StateFile::new(&state)),
            )
            .update()
            .unwrap();
        }
    };
    let slow = client(Box::new(Interleaved {
        file: StateFile::new(&state),
        meanwhile: Mutex::new(Some(Box::new(fast))),
    }));
    let (_, accepted) = slow.update().unwrap();

    assert_eq!(size_of(&state), start + 8, "the state was rolled back");
    assert_eq!(
        accepted.size,
        start + 8,
        "the slow client went again from the newer state"
    );
}
