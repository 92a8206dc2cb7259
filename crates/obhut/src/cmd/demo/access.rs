//! Steps 7–10 of the demo: a logged request, two approvals, the open,
//! the records — through `obhut_client`, as `obhut request --vault`,
//! `obhut approve`, `obhut open` and `obhut audit log` run them.

use super::*;

impl Demo<'_> {
    /// Steps 7–10: a logged, scoped request; two approvals; the open; the
    /// records. Each calls what `obhut request --vault`, `obhut approve`,
    /// `obhut open` and `obhut audit log` call.
    pub(super) fn access(
        &self,
        custody: &Custody,
        vault: &RunningVault,
        clip: &Clip,
        ingested: &Ingested,
    ) -> anyhow::Result<()> {
        use obhut_core::request::{RequestContent, Scope};

        self.heading(7, "A requester asks for 10 seconds of the recording");
        let requester = PersonSecret::generate("Dana (investigator)", &mut os_rng());
        let dpo = PersonSecret::generate("data-protection officer", &mut os_rng());
        let gid = custody.group.group_id();
        self.rt.block_on(async {
            admin::add_requester(
                &vault.app.index,
                &*vault.app.clock,
                &requester.public(),
                gid,
            )
            .await?;
            admin::add_reader(
                &vault.app.index,
                &*vault.app.clock,
                &requester.public(),
                gid,
            )
            .await?;
            for c in &custody.custodians {
                admin::add_reader(&vault.app.index, &*vault.app.clock, &c.secret.public(), gid)
                    .await?;
            }
            admin::add_auditor(&vault.app.index, &*vault.app.clock, &dpo.public()).await
        })?;
        self.say(
            "   The admin registers Dana as a requester for the group (obhut admin add-requester),
   lets the custodians and Dana read its ciphertext index, and makes the data-protection
   officer an auditor. None of these roles opens anything.",
        );
        // Each person's client pins the log key and keeps its own state file.
        // What people's requests are signed for: the log key they pin.
        let vault_id = obhut_client::reader::vault_identity(&vault.app.log.verifier_key());
        let log_for = |who: &str| {
            let state = StateFile::new(self.dir.join(format!("log-state/{who}.checkpoint")));
            let (key, policy) = (vault.app.log.verifier_key(), WitnessPolicy::none());
            LogClient::new(&vault.url, key, policy, Box::new(state))
        };
        // Media segments carry media times only for a real MP4.
        let (from, to) = if clip.synthetic {
            (0, 10_000)
        } else {
            (10_000, 20_000)
        };
        let now = time::now_ms();
        let mut request_id = [0u8; 16];
        request_id.copy_from_slice(&obhut_core::rng::random_32(&mut os_rng())[..16]);
        let req = RequestContent {
            request_id,
            group_id: gid,
            generation: custody.group.generation(),
            scope: vec![Scope::Recording {
                recording_id: ingested.recording,
                media_start_ms: from,
                media_end_ms: to,
                include_metadata: false,
            }],
            purpose: "criminal investigation".into(),
            justification: "Complaint 17 says the officer used force at 00:10-00:20 of this stop."
                .into(),
            legal_basis: "§ 48 BDSG, § 161 StPO".into(),
            case_ref: "CASE-2026-0017".into(),
            recipients: vec!["public prosecutor's office Berlin".into()],
            created_utc_ms: now,
            expires_utc_ms: now + 7 * 86_400_000,
        }
        .sign(&requester)
        .context("signing the demo request")?;
        let dana_log = log_for("dana");
        let dana = AccessClient::new(Reader::new(&vault.url, vault_id, &requester.sign));
        let logged = obhut_client::access::submit(&dana, &dana_log, &req)?;
        let hash = hex::encode(req.request_hash());
        for line in request::describe(&req).lines() {
            self.say(format!("   {line}"));
        }
        self.say(format!(
            "   Signed by Dana and sent to the vault (obhut request --vault): audit-log entry #{};
   her client checked the entry is in a checkpoint signed by the vault's log key.",
            logged.log_index
        ));

        self.heading(8, "Two of the three custodians approve");
        let envelopes = custody.shares.clone();
        let mut last_approval = Instant::now();
        let approvers: Vec<_> = custody
            .custodians
            .iter()
            .zip(envelopes)
            .take(usize::from(THRESHOLD))
            .collect();
        // The first approver runs `obhut approve` a second time once the
        // other has approved: phase 2 sends its partial.
        for (round, (c, share)) in approvers.iter().chain(approvers.iter().take(1)).enumerate() {
            let envelope = files::parse(
                share,
                "the demo's share",
                "a share envelope",
                obhut_core::group::ShareEnvelope::from_bytes,
            )?;
            let client = AccessClient::new(Reader::new(&vault.url, vault_id, &c.secret.sign));
            // As `obhut approve --yes --quiet`: no prompt.
            let done = obhut_client::approve::approve_as(
                &client,
                &log_for(c.name),
                &hash,
                &custody.group,
                Share::Sealed(&envelope),
                &c.secret,
                &Unsent::new(self.dir.join(format!("log-state/{}.unsent", c.name))),
                |_| true,
            )?;
            last_approval = Instant::now();
            self.say(match (round, done.delivery) {
                (0, Delivery::Waiting { have, needed }) => format!(
                    "   {} (custodian {}) checked the request's log entry, resolved the scope from the
   device-signed records to {} segment(s) and logged a signed approval (entry #{}, inclusion
   checked). {have} of {needed} approvals are in the log, so no key part leaves yet.",
                    c.name, done.custodian, done.segments, done.log_index
                ),
                (_, Delivery::Sent) if round < approvers.len() => format!(
                    "   {} (custodian {}) did the same (entry #{}); the log now proves {} signed
   approvals of this request, so {}'s client computed a proved partial for those {} segment(s)
   only, sealed it to Dana's key and uploaded it.",
                    c.name,
                    done.custodian,
                    done.log_index,
                    THRESHOLD,
                    c.name,
                    done.segments
                ),
                (_, Delivery::Sent) => format!(
                    "   {} runs `obhut approve` again: her client proves the {} approvals in the log and
   sends her partial too.",
                    c.name, THRESHOLD
                ),
                (_, Delivery::Waiting { have, needed }) => format!(
                    "   {}: {have} of {needed} approvals logged; waiting.",
                    c.name
                ),
            });
        }

        self.heading(9, "Dana opens the scope");
        let out = self.dir.join("opened");
        let grant =
            obhut_client::open::open_as(&dana, &dana_log, &hash, &custody.group, &requester)?;
        let opened = open::write_grant(
            &Global {
                quiet: true,
                ..self.g.clone()
            },
            &dana,
            &dana_log,
            &grant,
            &out,
            None,
            // The demo compares the opened bytes with the camera's file.
            obhut_client::clip::FileLayout::Original,
        )?;
        let first_byte = last_approval.elapsed();
        let [rec] = &grant.resolved[..] else {
            return Err(fail(
                "one recording expected",
                "this is a bug in obhut; please report it",
            ));
        };
        // The request asks for no metadata, so the camera's descriptive
        // metadata (here ffmpeg's tag in `udta`) stays blanked in every
        // segment (docs/format.md §7.4): compare with the clip so blanked.
        let mut original = std::fs::read(&clip.media).context("reading the sample clip")?;
        let len = original.len() as u64;
        let plan = obhut_media::plan(&mut std::io::Cursor::new(&original), len, 2_000)
            .context("planning the sample clip")?;
        let blanks = obhut_media::metadata(&mut std::io::Cursor::new(&original), &plan)
            .context("finding the sample clip's metadata")?;
        obhut_media::blank_window(&blanks, 0, &mut original);
        let got = std::fs::read(out.join(format!("{}.media", rec.recording)))
            .context("reading the opened file")?;
        let (mut offset, mut same, mut sealed_zero) = (0usize, 0u64, true);
        for (i, r) in rec.records.iter().enumerate() {
            if r.header().fields.kind == obhut_core::segment::SegmentKind::Metadata {
                continue;
            }
            let len = usize::try_from(r.plaintext_len()).unwrap_or(usize::MAX);
            let (a, b) = (
                got.get(offset..offset + len),
                original.get(offset..offset + len),
            );
            if rec.in_scope.contains(&i) {
                if a.is_none() || a != b {
                    return Err(fail(
                        format!("segment {i} opened differs from the original"),
                        "this is a bug in obhut; please report it",
                    ));
                }
                same += r.plaintext_len();
            } else if a.is_some_and(|x| {
                // Zeros, but for a `free` box header `obhut open` lays over
                // a sealed start so that players step over it.
                let body = if x.get(4..8) == Some(b"free".as_slice()) {
                    &x[8..]
                } else {
                    x
                };
                body.iter().any(|&v| v != 0)
            }) {
                sealed_zero = false;
            }
            offset += len;
        }
        if !sealed_zero {
            return Err(fail(
                "bytes outside the scope were written",
                "this is a bug in obhut; please report it",
            ));
        }
        self.say(format!(
            "   The vault checked 2 logged approvals and released its epoch part for the scope only
   (entry #{}); Dana's client checked that entry, combined the two partials, and decrypted
   {} segment(s) into {} — {same} bytes, byte-identical to the camera's file at the same
   offsets but for its descriptive metadata ({} byte(s), not requested, blanked).
   {} segment(s) outside the scope stay sealed (zeros there). Last approval to
   decrypted scope: {:.0} ms.",
            grant.release_entry,
            opened.opened,
            self.rel(&out.join(format!("{}.media", rec.recording))),
            blanks
                .iter()
                .map(|b| b.range.end - b.range.start)
                .sum::<u64>(),
            grant.sealed(),
            first_byte.as_secs_f64() * 1000.0
        ));
        self.result(format!(
            "   opened {} segments, {same} bytes identical",
            opened.opened
        ));

        self.heading(10, "The records (obhut audit log)");
        // The `opened` report was just sequenced; let the vault integrate it
        // so the officer's checkpoint covers it.
        self.rt.block_on(vault.app.log.checkpoint_covering(
            &vault.app.index,
            opened.opened_entry,
            time::now_ms(),
        ))?;
        let dpo_client = Reader::new(&vault.url, vault_id, &dpo.sign);
        let lines: Vec<String> = obhut_client::audit::chain_of_custody(
            &log_for("dpo"),
            &dpo_client,
            ingested.recording,
        )?
        .iter()
        .map(|e| entry::describe(e, &obhut_client::names::Names::none()))
        .collect();
        self.say(
            "   Every entry about the recording, each proved included in the signed log, as the
   data-protection officer reads them (who, when, what, why, to whom):",
        );
        for l in lines {
            for part in l.lines() {
                self.say(format!("     {part}"));
            }
        }
        Ok(())
    }
}
