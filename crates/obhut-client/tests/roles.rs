//! The requester, custodian and auditor roles against a real vault in
//! this process: a custodian who does not confirm sends and logs nothing;
//! k approvals open the scope; the one assembler writes the same bytes
//! whether the ciphertext comes from the vault or from the device's files.

use std::io::{Read, Seek};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::log::KeyResponse;
use obhut_client::Error;
use obhut_client::access::{AccessClient, submit};
use obhut_client::approve::{Delivery, Share, Unsent, approve_as, deny_as, pending};
use obhut_client::assemble::{self, Blobs, Layout};
use obhut_client::clip::FileLayout;
use obhut_client::log::{LogClient, MemoryCheckpoint};
use obhut_client::open::{OpenAs, open_as};
use obhut_client::reader::{Reader, vault_identity};
use obhut_core::audit::Event;
use obhut_core::epoch::EpochPublic;
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::RecordingId;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, RequestContent, Scope};
use obhut_core::rng::{DeterministicRng, os_rng};
use obhut_core::segment::{RangeSource, SegmentKind};
use obhut_core::vault::body_sha256;
use obhut_log::{VerifierKey, WitnessPolicy};
use obhut_server::SystemClock;
use obhut_server::config::FileConfig;
use obhut_server::testkit::{
    InProcess, Sealed, TestGroup, VaultIds, create_token, http, operator_entry, put_sealed,
    seal_recording_with, signed_headers,
};
use obhut_store::{AccessStore, IndexStore};

const CLASS: &str = "bodycam-30d";

fn now() -> i64 {
    obhut_server::Clock::now_ms(&SystemClock)
}

struct World {
    _dir: tempfile::TempDir,
    _vault: InProcess,
    url: String,
    vkey: VerifierKey,
    group: TestGroup,
    rid: RecordingId,
    segs: Vec<Sealed>,
    plaintexts: Vec<Vec<u8>>,
    /// The same recording sealed again from the same randomness over other
    /// plaintext: each blob has the header, key and commitment of the one
    /// the vault holds, as only a holder of that key could make it.
    forged: Vec<Sealed>,
    requester: PersonSecret,
    /// The device, and the segments it has not uploaded yet.
    device: SignKey,
    later: Vec<Sealed>,
}

impl World {
    /// A vault with a 2-of-3 group; a device uploaded three 10-second
    /// media segments and a container index (last); custodians and the
    /// requester are readers, the requester a requester.
    fn new() -> World {
        World::uploading(4)
    }

    /// The same, but the device uploads only the three media segments: the
    /// final one (the container index) never arrives.
    fn unfinished() -> World {
        World::uploading(3)
    }

    fn uploading(segments: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let vault = InProcess::start_with(
            &dir.path().join("data"),
            &dir.path().join("keys"),
            Arc::new(SystemClock),
            FileConfig::default(),
        );
        let group = TestGroup::new(2, 3);
        let device = SignKey::generate(&mut os_rng());
        let token = vault.block_on(create_token(&vault.app.index, &group.pinned, CLASS, now()));
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(device.verify_key().to_bytes()),
        }))
        .unwrap();
        let h = signed_headers(
            &VaultIds::ENROL,
            &device,
            false,
            "POST",
            "/v1/enrol",
            now(),
            &body_sha256(&body),
        );
        let r = http(vault.addr, "POST", "/v1/enrol", &h, &body).unwrap();
        assert_eq!(r.status, 200, "{:?}", r.json());
        let e = http(vault.addr, "GET", "/v1/epochs?class=bodycam-30d", &[], &[]).unwrap();
        let epoch = EpochPublic::from_bytes(
            &B64.decode(e.json()["current"]["public"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let plaintexts: Vec<Vec<u8>> = (0..4u8)
            .map(|i| {
                (0..70_000u32)
                    .map(|j| (j.wrapping_mul(31) as u8) ^ i)
                    .collect()
            })
            .collect();
        let payloads: Vec<_> = plaintexts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let kind = if i == 3 {
                    SegmentKind::ContainerIndex
                } else {
                    SegmentKind::Media
                };
                (kind, p.clone())
            })
            .collect();
        let seed = obhut_core::rng::random_32(&mut os_rng());
        let capture = now() - 60_000;
        let seal = |payloads: &[(SegmentKind, Vec<u8>)]| {
            let mut rng = DeterministicRng::new(seed);
            seal_recording_with(
                &device,
                &group.pinned,
                &epoch,
                capture,
                payloads,
                true,
                &mut rng,
            )
        };
        let segs = seal(&payloads);
        let other: Vec<_> = payloads
            .iter()
            .map(|(k, p)| (*k, p.iter().map(|b| !b).collect()))
            .collect();
        let forged = seal(&other);
        let (mut segs, mut plaintexts) = (segs, plaintexts);
        let later = segs.split_off(segments);
        plaintexts.truncate(segments);
        for s in &segs {
            let r = put_sealed(vault.addr, &vault.ids(), &device, s, now()).unwrap();
            assert_eq!(r.status, 201, "{:?}", r.json());
        }
        let requester = PersonSecret::generate("investigator", &mut os_rng());
        let gid = group.pinned.group_id();
        for c in group.custodians.iter().chain([&requester]) {
            let key = c.sign.verify_key().to_bytes();
            let entry = operator_entry(
                now(),
                Event::ReaderAdded {
                    person_key: key,
                    group_id: gid,
                },
            );
            vault
                .block_on(vault.app.index.add_reader(key, gid, now(), &entry))
                .unwrap();
        }
        let key = requester.sign.verify_key().to_bytes();
        let entry = operator_entry(
            now(),
            Event::RequesterAdded {
                person_key: key,
                name: "requester".into(),
                group_id: gid,
            },
        );
        vault
            .block_on(vault.app.index.add_requester(key, gid, now(), &entry))
            .unwrap();
        let kr = http(vault.addr, "GET", "/v1/log/key", &[], &[]).unwrap();
        let kr: KeyResponse = serde_json::from_slice(&kr.body).unwrap();
        World {
            _dir: dir,
            url: format!("http://{}", vault.addr),
            _vault: vault,
            vkey: VerifierKey::parse(&kr.vkey).unwrap(),
            group,
            rid: segs[0].record.segment_ref().recording,
            segs,
            plaintexts,
            forged,
            requester,
            device,
            later,
        }
    }

    fn log(&self) -> LogClient {
        LogClient::new(
            &self.url,
            self.vkey.clone(),
            WitnessPolicy::none(),
            Box::new(MemoryCheckpoint::default()),
        )
    }

    fn client<'k>(&self, who: &'k PersonSecret) -> AccessClient<'k> {
        AccessClient::new(Reader::new(
            &self.url,
            vault_identity(&self.vkey),
            &who.sign,
        ))
    }

    /// A logged request for media `[from_ms, to_ms)` of the recording.
    fn request(&self, from_ms: u64, to_ms: u64) -> (AccessRequest, String) {
        let mut id = [0u8; 16];
        rand_id(&mut id);
        let t = now();
        let req = RequestContent {
            request_id: id,
            group_id: self.group.pinned.group_id(),
            generation: self.group.pinned.generation(),
            scope: vec![Scope::Recording {
                recording_id: self.rid,
                media_start_ms: from_ms,
                media_end_ms: to_ms,
                include_metadata: false,
            }],
            purpose: "criminal investigation".into(),
            justification: "test".into(),
            legal_basis: "test".into(),
            case_ref: "T-1".into(),
            recipients: vec![],
            created_utc_ms: t,
            expires_utc_ms: t + 86_400_000,
        }
        .sign(&self.requester)
        .unwrap();
        submit(&self.client(&self.requester), &self.log(), &req).unwrap();
        let hash = hex::encode(req.request_hash());
        (req, hash)
    }

    /// Custodian `i` approves; once k have, each earlier approver runs
    /// `approve_as` again and sends its partial (phase 2).
    fn approve(&self, i: u16, hash: &str) -> Delivery {
        let delivery = self.approve_once(i, hash);
        if delivery == Delivery::Sent {
            let rj = self.client(&self.requester).get(hash).unwrap();
            for a in rj.approvals.iter().filter(|a| !a.partial_uploaded) {
                assert_eq!(self.approve_once(a.custodian, hash), Delivery::Sent);
            }
        }
        delivery
    }

    fn approve_once(&self, i: u16, hash: &str) -> Delivery {
        let (me, share) = self.group.custodian(i);
        approve_as(
            &self.client(me),
            &self.log(),
            hash,
            &self.group.pinned,
            Share::Open(share),
            me,
            &self.unsent(i),
            |_| true,
        )
        .unwrap()
        .delivery
    }

    /// Where custodian `i` keeps envelopes until the vault has them.
    fn unsent(&self, i: u16) -> Unsent {
        Unsent::new(self._dir.path().join(format!("unsent-{i}")))
    }
}

impl World {
    fn forged_plaintext(&self, i: usize) -> Vec<u8> {
        self.plaintexts[i].iter().map(|b| !b).collect()
    }
}

fn rand_id(id: &mut [u8; 16]) {
    id.copy_from_slice(&obhut_core::rng::random_32(&mut os_rng())[..16]);
}

/// The device's own ciphertext, as `obhut unseal` reads it from files.
struct Files<'a>(&'a [Sealed]);

impl Blobs for Files<'_> {
    fn whole(&mut self, r: &SegmentRecord) -> obhut_client::Result<Box<dyn Read + '_>> {
        let i = r.segment_ref().index as usize;
        Ok(Box::new(&self.0[i].blob[..]))
    }
    fn ranged(&mut self, r: &SegmentRecord) -> obhut_client::Result<Box<dyn RangeSource + '_>> {
        let i = r.segment_ref().index as usize;
        Ok(Box::new(std::io::Cursor::new(&self.0[i].blob[..])))
    }
}

fn read_all(f: &mut std::fs::File) -> Vec<u8> {
    let mut v = Vec::new();
    f.rewind().unwrap();
    f.read_to_end(&mut v).unwrap();
    v
}

#[test]
fn a_custodian_who_does_not_confirm_sends_and_logs_nothing() {
    let w = World::new();
    let (_, hash) = w.request(0, 30_000);
    let (me, share) = w.group.custodian(1);
    let log = w.log();
    let (_, before) = log.update().unwrap();
    let mut asked = 0;
    let e = approve_as(
        &w.client(me),
        &log,
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &w.unsent(1),
        |review| {
            asked += 1;
            assert_eq!(
                review.records.len(),
                4,
                "three media segments and the index"
            );
            false
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::NotConfirmed), "{e}");
    assert_eq!(asked, 1);
    let (_, after) = log.update().unwrap();
    assert_eq!(after.size, before.size, "nothing was logged");
    let rj = w.client(me).get(&hash).unwrap();
    assert_eq!(rj.state, "pending");
    assert!(rj.approvals.is_empty(), "nothing was sent");
    let list = pending(&w.client(me), false).unwrap();
    assert!(list.iter().any(|(rj, _)| rj.request_hash == hash));
}

#[test]
fn the_same_grant_assembles_the_same_bytes_from_the_vault_and_from_files() {
    let w = World::new();
    let log = w.log();
    // The whole recording, and the middle segment (with the index).
    for (from, to) in [(0, 30_000), (10_000, 20_000)] {
        let (_, hash) = w.request(from, to);
        w.approve(1, &hash);
        w.approve(3, &hash);
        let client = w.client(&w.requester);
        let grant = open_as(&client, &log, &hash, &w.group.pinned, &w.requester).unwrap();
        let [rec] = &grant.resolved[..] else {
            panic!("one recording")
        };
        for layout in [Layout::Original, Layout::Packed] {
            let mut from_vault = tempfile::tempfile().unwrap();
            let mut from_files = tempfile::tempfile().unwrap();
            let a = match layout {
                Layout::Original => grant
                    .open_recording(&client, rec, &mut from_vault, None, &mut ())
                    .unwrap(),
                _ => assemble::assemble(
                    &grant.keys,
                    rec,
                    layout,
                    &mut assemble::VaultBlobs(client.reader()),
                    &mut from_vault,
                    None,
                    &mut (),
                )
                .unwrap(),
            };
            let b = assemble::assemble(
                &grant.keys,
                rec,
                layout,
                &mut Files(&w.segs),
                &mut from_files,
                None,
                &mut (),
            )
            .unwrap();
            assert_eq!(a, b);
            let (got, files) = (read_all(&mut from_vault), read_all(&mut from_files));
            assert!(
                got == files,
                "{layout:?}: the vault's and the files' bytes differ"
            );
            let original: Vec<u8> = w.plaintexts.concat();
            let scope: Vec<u8> = rec
                .in_scope
                .iter()
                .flat_map(|&i| w.plaintexts[i].clone())
                .collect();
            match layout {
                Layout::Original => {
                    assert_eq!(got.len(), original.len(), "laid out like the original");
                    for &i in &rec.in_scope {
                        let at: usize = w.plaintexts[..i].iter().map(Vec::len).sum();
                        assert!(got[at..at + w.plaintexts[i].len()] == w.plaintexts[i][..]);
                    }
                }
                _ => assert!(got == scope, "the segments in scope, back to back"),
            }
            if rec.in_scope.len() == rec.records.len() {
                assert!(
                    got == original,
                    "{layout:?}: a whole recording is the original"
                );
            }
        }
        // A range inside the scope, from either source.
        let start: u64 = w.plaintexts[..rec.in_scope[0]]
            .iter()
            .map(|p| p.len() as u64)
            .sum();
        let mut v = Vec::new();
        grant
            .open_range(&client, start + 5, Some(start + 500), &mut v)
            .unwrap();
        let mut f = Vec::new();
        assemble::assemble_range(
            &grant.keys,
            rec,
            start + 5,
            Some(start + 500),
            &mut Files(&w.segs),
            &mut f,
            &mut (),
        )
        .unwrap();
        assert_eq!(v, f);
        assert_eq!(
            v,
            w.plaintexts.concat()[start as usize + 5..start as usize + 500]
        );
        grant.report_opened(&client, &log, 1).unwrap();
    }
}

#[test]
fn a_grant_written_to_a_directory_is_private_whole_and_reported_once_written() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let log = w.log();
    let (_, hash) = w.request(0, 30_000);
    w.approve(1, &hash);
    w.approve(3, &hash);
    let client = w.client(&w.requester);
    let grant = open_as(&client, &log, &hash, &w.group.pinned, &w.requester).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("opened");
    let done = grant
        .write_to_dir(
            &client,
            &log,
            &dir,
            OpenAs::Files(FileLayout::Original),
            false,
            &mut (),
        )
        .unwrap();
    assert_eq!(done.opened as usize, w.segs.len());
    assert!(
        done.opened_entry > grant.release_entry,
        "reported after the release"
    );
    let media = dir.join(format!("{}.media", w.rid));
    assert!(std::fs::read(&media).unwrap() == w.plaintexts.concat());
    let mode = std::fs::metadata(&media).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Without overwrite an existing file is refused, and nothing is added.
    assert!(matches!(
        grant.write_to_dir(&client, &log, &dir, OpenAs::Files(FileLayout::Original), false, &mut ()),
        Err(Error::OutputExists { path }) if path == media
    ));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    // A range goes to its own file.
    grant
        .write_to_dir(
            &client,
            &log,
            &dir,
            OpenAs::Range(5, Some(500)),
            false,
            &mut (),
        )
        .unwrap();
    let range = std::fs::read(dir.join(format!("{}.range", w.rid))).unwrap();
    assert!(range == w.plaintexts.concat()[5..500]);
}

#[test]
fn a_denied_request_cannot_be_approved_or_opened() {
    let w = World::new();
    let (_, hash) = w.request(0, 30_000);
    let (me, share) = w.group.custodian(2);
    deny_as(
        &w.client(me),
        &w.log(),
        &hash,
        &w.group.pinned,
        me,
        "no legal basis",
    )
    .unwrap();
    let e = approve_as(
        &w.client(me),
        &w.log(),
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &w.unsent(2),
        |_| panic!("not asked for a request that is not pending"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NotPending { .. }), "{e}");
    let e = open_as(
        &w.client(&w.requester),
        &w.log(),
        &hash,
        &w.group.pinned,
        &w.requester,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e}");
}

/// A vault that answers `<method> …<suffix>` itself with `status` and
/// `answer` and passes everything else to the real vault.
fn answering_itself(
    vault: std::net::SocketAddr,
    method_suffix: (&'static str, &'static str),
    status: u16,
    answer: Vec<u8>,
) -> String {
    in_the_middle(vault, move |method, path, _, forward| {
        if method == method_suffix.0 && path.ends_with(method_suffix.1) {
            (status, answer.clone())
        } else {
            forward()
        }
    })
}

/// A vault whose every answer `handle(method, path, body, forward)` gives:
/// its own, or the real vault's (`forward()`), as it is or edited. An
/// answer is sent with the `Content-Type` of the real vault's answer if
/// the handler forwarded, else JSON's.
fn in_the_middle(
    vault: std::net::SocketAddr,
    handle: impl Fn(&str, &str, &[u8], &dyn Fn() -> (u16, Vec<u8>)) -> (u16, Vec<u8>) + Send + 'static,
) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            );
            let (mut headers, mut len) = (Vec::new(), 0);
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                match k.as_str() {
                    "content-length" => len = v.parse().unwrap(),
                    "host" | "connection" => {}
                    _ => headers.push((k, v)),
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let forwarded = std::cell::RefCell::new(None);
            let forward = || {
                let resp = http(vault, &method, &path, &headers, &body).unwrap();
                *forwarded.borrow_mut() = Some(resp.content_type);
                (resp.status, resp.body)
            };
            let (status, body) = handle(&method, &path, &body, &forward);
            let media_type = forwarded
                .take()
                .unwrap_or_else(|| "application/json".to_owned());
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {media_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    format!("http://{addr}")
}

/// A vault that answers `POST …<suffix>` itself: a `Logged` at index 1
/// holding the entry `make` builds around the decision the person posted,
/// an entry it never appended.
fn answering_with_entry(
    vault: std::net::SocketAddr,
    suffix: &'static str,
    make: impl Fn(obhut_core::decision::Decision) -> obhut_core::audit::LogEntry + Send + 'static,
) -> String {
    in_the_middle(vault, move |method, path, body, forward| {
        if method != "POST" || !path.ends_with(suffix) {
            return forward();
        }
        let forged = obhut_api::access::Logged {
            log_index: 1,
            entry: B64.encode(make(posted_decision(body)).to_bytes().unwrap()),
        };
        (200, serde_json::to_vec(&forged).unwrap())
    })
}

/// The decision a person's client posted (`{"decision": base64}`).
fn posted_decision(body: &[u8]) -> obhut_core::decision::Decision {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let bytes = B64.decode(v["decision"].as_str().unwrap()).unwrap();
    obhut_core::decision::Decision::from_bytes(&bytes).unwrap()
}

/// The vault acknowledges an opening but keeps it out of its log: its
/// answer is a well-formed `opened` entry that was never appended, at an
/// index that holds another entry.
#[test]
fn an_opening_the_vault_keeps_out_of_its_log_is_caught() {
    use obhut_core::audit::{Actor, LogEntry, Role};
    let w = World::new();
    let log = w.log();
    let (_, hash) = w.request(0, 30_000);
    w.approve(1, &hash);
    w.approve(2, &hash);
    let client = w.client(&w.requester);
    let grant = open_as(&client, &log, &hash, &w.group.pinned, &w.requester).unwrap();
    let requester = w.requester.sign.verify_key().to_bytes();
    // The requester's own signed report, in an entry never appended.
    let proxy = answering_with_entry(w._vault.addr, "/opened", move |decision| LogEntry {
        time_ms: now(),
        actor: Actor {
            role: Role::Person,
            key: requester,
        },
        recording: None,
        event: Event::Opened { decision },
    });
    let through_proxy = AccessClient::new(Reader::new(
        &proxy,
        vault_identity(&w.vkey),
        &w.requester.sign,
    ));
    let out = tempfile::tempdir().unwrap();
    let e = grant
        .write_to_dir(
            &through_proxy,
            &log,
            out.path(),
            OpenAs::Files(FileLayout::Original),
            false,
            &mut (),
        )
        .unwrap_err();
    assert!(e.is_attack(), "{e}");
    assert!(e.to_string().contains("opening"), "{e}");
}

/// The vault logs a custodian's signed denial as another custodian's:
/// an entry whose actor is not the person who signed its decision. No
/// reader decodes it, and the custodian who denied is told.
#[test]
fn a_denial_the_vault_attributes_to_someone_else_is_caught() {
    use obhut_core::audit::{Actor, LogEntry, Role};
    let w = World::new();
    let log = w.log();
    let (_, hash) = w.request(0, 30_000);
    let someone_else = w.group.custodians[1].sign.verify_key().to_bytes();
    let proxy = answering_with_entry(w._vault.addr, "/denials", move |decision| LogEntry {
        time_ms: now(),
        actor: Actor {
            role: Role::Person,
            key: someone_else,
        },
        recording: None,
        event: Event::Denied { decision },
    });
    let alice = &w.group.custodians[0];
    let through_proxy =
        AccessClient::new(Reader::new(&proxy, vault_identity(&w.vkey), &alice.sign));
    let e = deny_as(
        &through_proxy,
        &log,
        &hash,
        &w.group.pinned,
        alice,
        "no legal basis",
    )
    .unwrap_err();
    assert!(e.is_attack(), "{e}");
    assert!(e.to_string().contains("denial"), "{e}");
}

/// Once k approvals are logged, the vault fails the upload of an
/// envelope (a crash, a full disk, the network). The envelope was kept, so
/// the next `approve_as` sends the same bytes without asking again (the
/// vault keeps the first envelope it receives), and the grant opens.
#[test]
fn an_approval_whose_upload_failed_is_completed_with_the_same_bytes() {
    let w = World::new();
    let log = w.log();
    let (_, hash) = w.request(0, 30_000);
    assert_eq!(
        w.approve_once(1, &hash),
        Delivery::Waiting { have: 1, needed: 2 }
    );
    let (me, share) = w.group.custodian(2);
    let proxy = answering_itself(
        w._vault.addr,
        ("PUT", "/partial"),
        503,
        br#"{"kind":"unavailable","message":"disk full"}"#.to_vec(),
    );
    let through_proxy = AccessClient::new(Reader::new(&proxy, vault_identity(&w.vkey), &me.sign));
    let unsent = w.unsent(2);
    let e = approve_as(
        &through_proxy,
        &log,
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &unsent,
        |_| true,
    )
    .unwrap_err();
    assert!(matches!(e, Error::PartialUpload { status: 503, .. }), "{e}");
    assert_eq!(std::fs::read_dir(unsent.dir()).unwrap().count(), 1);
    let kept = std::fs::read_dir(unsent.dir())
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .next()
        .unwrap();

    // Again, straight to the vault: not asked, the kept bytes uploaded.
    let done = approve_as(
        &w.client(me),
        &log,
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &unsent,
        |_| panic!("an approval already logged is not asked again"),
    )
    .unwrap();
    assert_eq!((done.custodian, done.delivery), (2, Delivery::Sent));
    assert_eq!(std::fs::read_dir(unsent.dir()).unwrap().count(), 0);
    let stored = w
        ._vault
        .block_on(w._vault.app.index.approvals(hex_hash(&hash)))
        .unwrap();
    assert_eq!(stored[1].envelope.as_deref(), Some(&kept[..]));
    // Custodian 1 comes back and sends its part; the grant opens.
    assert_eq!(w.approve_once(1, &hash), Delivery::Sent);
    let requester = w.client(&w.requester);
    let grant = open_as(&requester, &log, &hash, &w.group.pinned, &w.requester).unwrap();
    assert_eq!(grant.covered().count(), w.segs.len());
}

fn hex_hash(hash: &str) -> [u8; 32] {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hash, &mut h).unwrap();
    h
}

/// Issue 15 item 2: a vault operator with a requester gathers custodian 1's
/// partial from one request and custodian 2's from another over the same
/// footage, neither approved by k — and combines them. With two-phase
/// approval no partial leaves before k signed approvals of the *same*
/// request are in the log, so there is nothing to gather; and a real,
/// logged approval of the other request slipped into the list is refused.
#[test]
fn partials_of_two_requests_each_short_of_k_cannot_be_combined() {
    let w = World::new();
    let (_, x) = w.request(0, 30_000);
    let (_, y) = w.request(0, 30_000);
    assert_eq!(
        w.approve_once(1, &x),
        Delivery::Waiting { have: 1, needed: 2 }
    );
    assert_eq!(
        w.approve_once(2, &y),
        Delivery::Waiting { have: 1, needed: 2 }
    );
    for hash in [&x, &y] {
        let stored = w
            ._vault
            .block_on(w._vault.app.index.approvals(hex_hash(hash)))
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert!(
            stored.iter().all(|a| a.envelope.is_none()),
            "a partial left before k approved"
        );
    }
    // The operator lists custodian 2's approval of Y among X's.
    let y_approval = w.client(&w.requester).get(&y).unwrap().approvals[0].clone();
    refused_with_listed_approval(&w, &x, y_approval);
}

/// Issue 15 item 3: the vault appends to its own log an approval of X by
/// custodian 2 that custodian 2 never made, signed by a key of the vault's
/// choosing, and lists it. Custodian 1's client checks every approval's
/// signature against the pinned descriptor and sends nothing.
#[test]
fn an_approval_the_vault_forges_is_not_counted() {
    use obhut_core::audit::{Actor, LogEntry, Role};
    use obhut_core::decision::{DecisionContent, Verdict};
    use obhut_store::{LogStore, NewLogEntry};
    let w = World::new();
    let (req, x) = w.request(0, 30_000);
    assert_eq!(
        w.approve_once(1, &x),
        Delivery::Waiting { have: 1, needed: 2 }
    );
    let rj = w.client(&w.requester).get(&x).unwrap();
    let impostor = SignKey::generate(&mut os_rng());
    let forged = DecisionContent {
        verdict: Verdict::Approve,
        vault: vault_identity(&w.vkey),
        request_hash: req.request_hash(),
        request_index: rj.logged.log_index,
        custodian: 2,
        segments: 4,
        time_ms: now(),
        reason: String::new(),
    }
    .sign(&impostor)
    .unwrap();
    let entry = LogEntry {
        time_ms: now(),
        actor: Actor {
            role: Role::Person,
            key: impostor.verify_key().to_bytes(),
        },
        recording: None,
        event: Event::Approved { decision: forged },
    };
    let vault = &w._vault;
    let index = vault
        .block_on(
            vault
                .app
                .index
                .log_append(&[NewLogEntry::new(&entry).unwrap()]),
        )
        .unwrap();
    let listed = obhut_api::access::ApprovalJson {
        custodian: 2,
        custodian_key: hex::encode(w.group.custodians[1].sign.verify_key().to_bytes()),
        partial_uploaded: false,
        logged: obhut_api::access::Logged {
            log_index: index,
            entry: B64.encode(entry.to_bytes().unwrap()),
        },
    };
    refused_with_listed_approval(&w, &x, listed);
}

/// The vault lists `extra` among request `x`'s approvals (custodian 1
/// approved, custodian 2 did not): custodian 1's next `approve_as` must
/// refuse it as an attack, naming custodian 2's approval, and send no
/// partial.
fn refused_with_listed_approval(w: &World, x: &str, extra: obhut_api::access::ApprovalJson) {
    let x_path = format!("/v1/requests/{x}");
    let proxy = in_the_middle(w._vault.addr, move |method, path, _, forward| {
        let (status, body) = forward();
        if method != "GET" || path != x_path {
            return (status, body);
        }
        let mut rj: obhut_api::access::RequestJson = serde_json::from_slice(&body).unwrap();
        rj.approvals.push(extra.clone());
        (status, serde_json::to_vec(&rj).unwrap())
    });
    let (me, share) = w.group.custodian(1);
    let through_proxy = AccessClient::new(Reader::new(&proxy, vault_identity(&w.vkey), &me.sign));
    let e = approve_as(
        &through_proxy,
        &w.log(),
        x,
        &w.group.pinned,
        Share::Open(share),
        me,
        &w.unsent(1),
        |_| panic!("already approved"),
    )
    .unwrap_err();
    assert!(e.is_attack(), "{e}");
    assert!(e.to_string().contains("custodian 2's approval"), "{e}");
    let stored = w
        ._vault
        .block_on(w._vault.app.index.approvals(hex_hash(x)))
        .unwrap();
    assert!(stored.iter().all(|a| a.envelope.is_none()));
}

/// A camera that died before sealing its final segment: its recording is
/// requested, approved (the custodian told it is unfinished) and opened.
#[test]
fn a_recording_without_its_final_segment_is_requested_and_opened() {
    let w = World::unfinished();
    let log = w.log();
    let (_, hash) = w.request(0, 30_000);
    let (me, share) = w.group.custodian(1);
    let mut told = Vec::new();
    approve_as(
        &w.client(me),
        &log,
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &w.unsent(1),
        |review| {
            told = review.unfinished.clone();
            true
        },
    )
    .unwrap();
    assert_eq!(told, [w.rid]);
    w.approve(2, &hash);
    let client = w.client(&w.requester);
    let grant = open_as(&client, &log, &hash, &w.group.pinned, &w.requester).unwrap();
    assert!(!grant.resolved[0].finished);
    let out = tempfile::tempdir().unwrap();
    let done = grant
        .write_to_dir(
            &client,
            &log,
            out.path(),
            OpenAs::Files(FileLayout::Original),
            false,
            &mut (),
        )
        .unwrap();
    assert_eq!(done.opened, 3);
    let media = std::fs::read(out.path().join(format!("{}.media", w.rid))).unwrap();
    assert!(media == w.plaintexts.concat());
}

/// A past grantee keeps the segment key; with the vault's help it swaps a
/// stored blob for one of its own making under that key. Every AES-GCM
/// tag of the forgery verifies, so a range read that trusted the tags
/// would hand a later reader (or a court) the forger's bytes; the group
/// tree, checked against the device-signed ciphertext hash, refuses them.
#[test]
fn a_range_forged_by_a_holder_of_the_segment_key_is_refused() {
    let w = World::new();
    let log = w.log();
    let (_, hash) = w.request(10_000, 20_000);
    w.approve(1, &hash);
    w.approve(2, &hash);
    let client = w.client(&w.requester);
    let grant = open_as(&client, &log, &hash, &w.group.pinned, &w.requester).unwrap();
    let start: u64 = w.plaintexts[0].len() as u64;
    let record = &w.segs[1].record;
    let forged = &w.forged[1].blob;
    assert_eq!(
        forged[..obhut_core::segment::HEADER_LEN],
        w.segs[1].blob[..obhut_core::segment::HEADER_LEN],
        "the forgery carries the stored segment's header"
    );
    // The attack is real: the tags alone accept the forger's chunks.
    let mut out = Vec::new();
    grant
        .keys
        .read_range(
            record,
            &mut std::io::Cursor::new(&forged[..]),
            5,
            500,
            &mut out,
        )
        .expect("the forged chunks authenticate under the segment key");
    assert_eq!(out, w.forged_plaintext(1)[5..500]);

    // Honest bytes open.
    let mut v = Vec::new();
    grant
        .open_range(&client, start + 5, Some(start + 500), &mut v)
        .unwrap();
    assert_eq!(v, w.plaintexts[1][5..500]);

    // The vault now serves the forgery.
    let path = w._vault.app.blobs.path_of(obhut_store::BlobKey {
        recording: w.rid,
        index: 1,
    });
    std::fs::write(&path, forged).unwrap();
    let mut v = Vec::new();
    let err = grant
        .open_range(&client, start + 5, Some(start + 500), &mut v)
        .expect_err("a forged range is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("does not match the device-signed record") && msg.contains("segment 1"),
        "{msg}"
    );
    assert!(v.is_empty(), "no byte of the forgery is written: {v:?}");
}

/// Issue 15 item 4: R only from a *logged*, device-signed record. A vault
/// holding the device's key (stolen, or kept after revocation) signs a
/// chain of its own under the real recording id — valid signatures, valid
/// links, capsules that verify — but never logged any of it. The custodian
/// proves each in-scope record's `segment-received` entry before taking R,
/// and refuses; nothing is logged or sent.
#[test]
fn records_the_vault_never_logged_are_refused() {
    let w = World::new();
    let (_, hash) = w.request(10_000, 20_000);
    let forged: Vec<String> = w
        .forged
        .iter()
        .map(|s| B64.encode(s.record.to_bytes()))
        .collect();
    let records_path = format!("/v1/recordings/{}/records", w.rid);
    let proxy = in_the_middle(w._vault.addr, move |method, path, _, forward| {
        let (status, body) = forward();
        if method != "GET" || !path.starts_with(&records_path) {
            return (status, body);
        }
        let mut answer: obhut_api::read::RecordsResponse = serde_json::from_slice(&body).unwrap();
        answer.records = forged.clone();
        (status, serde_json::to_vec(&answer).unwrap())
    });
    let (me, share) = w.group.custodian(1);
    let through_proxy = AccessClient::new(Reader::new(&proxy, vault_identity(&w.vkey), &me.sign));
    let log = w.log();
    let (_, before) = log.update().unwrap();
    let e = approve_as(
        &through_proxy,
        &log,
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &w.unsent(1),
        |_| panic!("asked to approve records that were never logged"),
    )
    .unwrap_err();
    assert!(e.is_attack(), "{e}");
    assert!(e.to_string().contains("segment-received"), "{e}");
    let (_, after) = log.update().unwrap();
    assert_eq!(after.size, before.size, "nothing was logged");
    // The honest records of the same vault pass the same check.
    assert_eq!(
        w.approve_once(1, &hash),
        Delivery::Waiting { have: 1, needed: 2 }
    );
}

impl World {
    /// The device uploads the segments it held back.
    fn upload_later(&self) {
        for seg in &self.later {
            let r = put_sealed(
                self._vault.addr,
                &self._vault.ids(),
                &self.device,
                seg,
                now(),
            )
            .unwrap();
            assert_eq!(r.status, 201, "{:?}", r.json());
        }
    }
}

/// A custodian approved an unfinished recording; the camera's last segment
/// arrives before its partial goes out. The partial covers what was
/// approved or nothing: the custodian is told the scope changed, and no
/// key part for the new segment leaves under the old approval.
#[test]
fn footage_that_arrives_after_an_approval_is_not_sent_under_it() {
    let w = World::unfinished();
    let (_, hash) = w.request(0, 30_000);
    assert_eq!(
        w.approve_once(1, &hash),
        Delivery::Waiting { have: 1, needed: 2 }
    );
    w.upload_later();
    // Custodian 2 sees the whole recording now (the index segment too).
    assert_eq!(w.approve_once(2, &hash), Delivery::Sent);
    let (me, share) = w.group.custodian(1);
    let e = approve_as(
        &w.client(me),
        &w.log(),
        &hash,
        &w.group.pinned,
        Share::Open(share),
        me,
        &w.unsent(1),
        |_| panic!("already approved"),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::ScopeChanged {
                approved: 3,
                now: 4
            }
        ),
        "{e}"
    );
    let stored = w
        ._vault
        .block_on(w._vault.app.index.approvals(hex_hash(&hash)))
        .unwrap();
    assert!(stored[0].envelope.is_none(), "custodian 1 sent nothing");
}

/// The binary records answer (docs/vault.md §5) over real HTTP, as a
/// requester places its scope with it: the real vault's answer resolves
/// as the JSON one; cut mid-record or at a record boundary (which would
/// otherwise read as an unfinished recording), lengthened, given a
/// hostile record length, or served as another media type, it is refused
/// with a named error.
#[test]
fn a_malformed_binary_records_answer_is_refused_by_name() {
    let w = World::new();
    let (req, _) = w.request(10_000, 20_000);
    let honest = w.client(&w.requester);
    let resolved = obhut_client::scope::resolve(honest.reader(), &req).unwrap();
    assert_eq!(resolved[0].records.len(), w.segs.len());
    assert_eq!(
        honest.reader().raw_records(w.rid).unwrap(),
        w.segs
            .iter()
            .map(|s| s.record.to_bytes())
            .collect::<Vec<_>>()
    );
    let record_len = w.segs.last().unwrap().record.encoded_len();
    let edits: Vec<(&str, Edit)> = vec![
        (
            "cut mid-record",
            Box::new(|b: Vec<u8>| b[..b.len() - 10].to_vec()),
        ),
        (
            "cut at a record boundary",
            Box::new(move |b: Vec<u8>| b[..b.len() - 4 - record_len].to_vec()),
        ),
        (
            "trailing bytes",
            Box::new(|mut b: Vec<u8>| {
                b.push(0);
                b
            }),
        ),
        (
            "a hostile length",
            Box::new(|mut b: Vec<u8>| {
                b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
                b
            }),
        ),
    ];
    let records_path = format!("/v1/recordings/{}/records", w.rid);
    for (what, edit) in edits {
        let path = records_path.clone();
        let proxy = in_the_middle(w._vault.addr, move |method, p, _, forward| {
            let (status, body) = forward();
            if method == "GET" && p == path {
                (status, edit(body))
            } else {
                (status, body)
            }
        });
        let client = AccessClient::new(Reader::new(
            &proxy,
            vault_identity(&w.vkey),
            &w.requester.sign,
        ));
        let e = obhut_client::scope::resolve(client.reader(), &req).unwrap_err();
        assert!(matches!(e, Error::RecordsAnswer { .. }), "{what}: {e}");
        assert!(
            format!("{:?}", e).contains("records answer"),
            "{what}: the core error names the answer: {e:?}"
        );
    }
    // JSON where the binary form was asked for.
    let path = records_path.clone();
    let json = honest_json(&w);
    let proxy = in_the_middle(w._vault.addr, move |method, p, _, forward| {
        if method == "GET" && p == path {
            (200, json.clone())
        } else {
            forward()
        }
    });
    let client = AccessClient::new(Reader::new(
        &proxy,
        vault_identity(&w.vkey),
        &w.requester.sign,
    ));
    let e = obhut_client::scope::resolve(client.reader(), &req).unwrap_err();
    assert!(matches!(e, Error::ContentType { .. }), "{e}");
}

/// An edit of an answer's body.
type Edit = Box<dyn Fn(Vec<u8>) -> Vec<u8> + Send + Sync>;

/// The vault's JSON records answer for the world's recording.
fn honest_json(w: &World) -> Vec<u8> {
    let (status, body) = w
        .client(&w.requester)
        .reader()
        .get_any(&format!("/v1/recordings/{}/records", w.rid))
        .unwrap();
    assert_eq!(status, 200);
    body
}

/// A requester parses the records outside its scope without decoding
/// their capsule points (format.md §7.2) but checks the points of every
/// record it covers: a device-signed chain whose segment 1 carries an
/// invalid R resolves for a scope without segment 1 and is refused,
/// naming the point, for a scope with it.
#[test]
fn an_invalid_point_is_refused_in_scope_and_left_undecoded_outside() {
    let w = World::new();
    let mut chain: Vec<SegmentRecord> = Vec::new();
    for (i, s) in w.segs.iter().enumerate() {
        let r = &s.record;
        let mut header = r.header().clone();
        if i == 1 {
            header.fields.capsule.r = [0; 32];
        }
        let sealed = obhut_core::segment::SealedSegment {
            header,
            plaintext_len: r.plaintext_len(),
            ciphertext_hash: *r.ciphertext_hash(),
            custody: r.custody().clone(),
        };
        let prev = chain.last().map_or([0; 32], SegmentRecord::record_hash);
        chain.push(SegmentRecord::sign(&w.device, &sealed, prev, r.is_final()).unwrap());
    }
    let answer = obhut_core::vault::encode_records_answer(
        &chain
            .iter()
            .map(SegmentRecord::to_bytes)
            .collect::<Vec<_>>(),
    );
    let path = format!("/v1/recordings/{}/records", w.rid);
    let proxy = in_the_middle(w._vault.addr, move |method, p, _, forward| {
        let (status, body) = forward();
        if method == "GET" && p == path {
            (status, answer.clone())
        } else {
            (status, body)
        }
    });
    let client = AccessClient::new(Reader::new(
        &proxy,
        vault_identity(&w.vkey),
        &w.requester.sign,
    ));
    let (outside, _) = w.request(0, 10_000);
    let resolved = obhut_client::scope::resolve(client.reader(), &outside).unwrap();
    assert!(resolved[0].covered().all(|r| r.segment_ref().index != 1));
    let (inside, _) = w.request(10_000, 20_000);
    let e = obhut_client::scope::resolve(client.reader(), &inside).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Chain {
                source: obhut_core::Error::InvalidPoint { field: "R", .. },
                ..
            }
        ),
        "{e:?}"
    );
}
