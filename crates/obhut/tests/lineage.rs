//! `obhut lineage ID` against a running vault: a thumbnail of a recording
//! and a model trained on it, drawn for people (names, kinds, local
//! times, states) and as Graphviz. Registering artifacts over HTTP, the
//! consent rules and the cascades are tested against a real vault in
//! crates/obhut-server/tests/derived.rs; here the rows are put in the
//! vault's index as its registration would.

use crate::support;

use obhut_core::artifact::{ArtifactContent, ArtifactKind, ArtifactRecord, SignerRole, Source};
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::rng::os_rng;
use obhut_store::{ArtifactRow, ArtifactState, DerivedStore, NewLogEntry};
use support::{Backend, Vault, log_key, ok, run, setup, text, with_index, with_pg_index};

// The artifacts and their edges in SQLite or in PostgreSQL.
on_both_backends!(lineage_prints_the_graph_for_people_and_for_graphviz);

async fn put_artifacts<I: DerivedStore>(index: &I, rows: &[(ArtifactRow, NewLogEntry)]) {
    for (r, e) in rows {
        index.put_artifact(r, e).await.unwrap();
    }
}

fn lineage_prints_the_graph_for_people_and_for_graphviz(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    let vault = Vault::start(d);
    let _token = vault.token(d, "custody/group.obgd");
    let group = obhut_core::group::PinnedGroup::from_bytes(
        &std::fs::read(d.join("custody/group.obgd")).unwrap(),
    )
    .unwrap();
    let gid = group.group_id().to_string();
    ok(
        d,
        &[
            "admin",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "add-reader",
            "--identity",
            "alice.key.pub",
            "--group",
            &gid,
        ],
    );
    let source = RecordingId([0x5a; 16]);
    let thumb = RecordingId([0x7b; 16]);
    let model = RecordingId([0x9c; 16]);
    let tool = SignKey::generate(&mut os_rng());
    let row = |id: RecordingId, kind: ArtifactKind, name: &str, sources: Vec<Source>| {
        let content = ArtifactContent {
            artifact_id: id,
            group_id: group.group_id(),
            kind,
            name: name.into(),
            purpose: "training".into(),
            legal_basis: "consent".into(),
            consent_id: None,
            created_ms: 1_790_000_000_000,
            sources,
        };
        let rec = ArtifactRecord::sign(content, SignerRole::Person, &tool).unwrap();
        let bytes = rec.to_bytes().unwrap();
        let entry = NewLogEntry::new(&obhut_core::audit::LogEntry {
            time_ms: 1_790_000_000_000,
            actor: obhut_core::audit::Actor {
                role: obhut_core::audit::Role::Person,
                key: tool.verify_key().to_bytes(),
            },
            recording: Some(id),
            event: obhut_core::audit::Event::ArtifactRegistered {
                record: bytes.clone(),
            },
        })
        .unwrap();
        let r = ArtifactRow {
            artifact_id: id,
            group_id: group.group_id(),
            kind: kind.to_u8(),
            name: name.into(),
            consent_id: None,
            signer_key: tool.verify_key().to_bytes(),
            record: bytes,
            registered_ms: 1_790_000_000_000,
            state: ArtifactState::Live,
            changed_ms: None,
            sources: rec.content.sources,
        };
        (r, entry)
    };
    let rows = [
        row(
            thumb,
            ArtifactKind::Thumbnail,
            "front door, 12:00",
            vec![Source::Segments {
                recording_id: source,
                first: 0,
                end: 1,
            }],
        ),
        row(
            model,
            ArtifactKind::Model,
            "person detector v1",
            vec![Source::Artifact { artifact_id: thumb }],
        ),
    ];
    match backend {
        Backend::Embedded => with_index(&vault.data.join("obhut.sqlite"), |index| async move {
            put_artifacts(&index, &rows).await
        }),
        Backend::PostgresS3 => {
            with_pg_index(d, |index| async move { put_artifacts(&index, &rows).await })
        }
    }

    let vkey = log_key(&vault);
    let base = [
        "lineage",
        &model.to_string(),
        "--vault",
        &vault.url,
        "--log-key",
        &vkey,
        "--identity",
        "alice.key",
    ]
    .map(str::to_owned);
    let args: Vec<&str> = base.iter().map(String::as_str).collect();
    let out = ok(d, &args);
    assert!(out.contains("model \"person detector v1\""), "{out}");
    assert!(out.contains("thumbnail \"front door, 12:00\""), "{out}");
    assert!(out.contains("2026-"), "local times: {out}");
    assert!(
        out.contains("made from 5a5a5a5a5a5a segments 0..1"),
        "{out}"
    );
    assert!(
        out.contains("[UNKNOWN]"),
        "the source recording is not held: {out}"
    );

    let mut dot_args = args.clone();
    dot_args.extend(["--format", "dot"]);
    let dot = ok(d, &dot_args);
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(
        dot.contains(&format!("\"{thumb}\" -> \"{model}\";")),
        "{dot}"
    );
    assert!(
        dot.contains(&format!(
            "\"{source}\" -> \"{thumb}\" [label=\"segments 0..1\"];"
        )),
        "{dot}"
    );

    // A person without a role in the group (neither reader, requester
    // nor custodian) sees nothing.
    ok(
        d,
        &[
            "keygen",
            "person",
            "--name",
            "dave",
            "--out",
            "dave.key",
            "--kdf-fast",
        ],
    );
    let mut dave = args.clone();
    let i = dave.iter().position(|a| *a == "alice.key").unwrap();
    dave[i] = "dave.key";
    let refused = run(d, &dave);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("403"),
        "{}",
        text(&refused.stderr)
    );

    // A held recording is shown by its device's display name beside its
    // key: the claim the device's own key signed, served by the vault.
    support::enrol(d, &vault);
    let rid = support::ingest_clip(d, 2, "160x120");
    support::admin(d, &["set-name", "cam.key.name"]);
    let mut of_recording = args.clone();
    of_recording[1] = &rid;
    let out = ok(d, &of_recording);
    assert!(
        out.contains("recording \"recording by device bodycam-0042 ("),
        "{out}"
    );
}
