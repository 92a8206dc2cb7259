//! Steps 4–6 of the demo: a sample clip, its ingest, and what the vault
//! holds of it.

use super::*;

impl Demo<'_> {
    /// Step 4: a sample clip and its sidecar.
    pub(super) fn sample_clip(&self, synthetic: bool) -> anyhow::Result<Clip> {
        self.heading(4, "A sample clip");
        let dir = self.dir.join("dock");
        mkdir(&dir)?;
        let mp4 = dir.join("clip.mp4");
        let made = if synthetic {
            Err("--synthetic-clip was given".to_owned())
        } else {
            make_mp4(&mp4)
        };
        let media = match made {
            Ok(()) => {
                let len = std::fs::metadata(&mp4).map(|m| m.len()).unwrap_or(0);
                self.say(format!(
                    "   ffmpeg made {}: a {CLIP_SECONDS} s test pattern and 440 Hz tone, 640x360 H.264 + AAC,
   a keyframe every second, {len} bytes.",
                    self.rel(&mp4)
                ));
                mp4.clone()
            }
            Err(why) => {
                let bin = dir.join("clip.bin");
                let mut bytes = vec![0u8; SYNTHETIC_BYTES];
                getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS randomness: {e}"))?;
                files::write(
                    &bin,
                    &bytes,
                    "the demo's synthetic clip",
                    false,
                    Mode::Public,
                )?;
                self.say(format!(
                    "   No MP4: {why}.
   Using a synthetic file instead: {}, {} random bytes. It is sealed and checked
   the same way, but cut into fixed byte ranges instead of at keyframes (install
   ffmpeg to see a real MP4 cut at keyframes).",
                    self.rel(&bin),
                    bytes.len()
                ));
                bin
            }
        };
        let (json, strings) = sidecar_json();
        let sidecar = media.with_extension("json");
        files::write(
            &sidecar,
            json.as_bytes(),
            "the demo's sidecar",
            false,
            Mode::Public,
        )?;
        self.say(format!(
            "   Sidecar {} ({} bytes): officer, unit, start time, a {}-point GPS track, tags.",
            self.rel(&sidecar),
            json.len(),
            GPS_TRACK.len()
        ));
        let synthetic = media != mp4;
        Ok(Clip {
            media,
            sidecar,
            strings,
            synthetic,
        })
    }

    /// Step 5: ingest with the agent, every receipt verified.
    pub(super) fn ingest(&self, device: &Device, clip: &Clip) -> anyhow::Result<Ingested> {
        self.heading(5, "Ingest: cut, seal, upload, receipts");
        let mut agent = Agent::new(&device.state, &device.secret.sign).map_err(agent_error)?;
        let mut opts = IngestOptions::default();
        // Several segments for the synthetic file too.
        opts.cut.fallback_segment_bytes = 512 << 10;
        let t0 = Instant::now();
        let out = ingest_file(self.g, &mut agent, &clip.media, &opts)?;
        let secs = t0.elapsed().as_secs_f64();
        let cut = if clip.synthetic {
            "file into byte ranges"
        } else {
            "MP4 at keyframes"
        };
        self.say(format!(
            "   Recording {} (obhut ingest): {} segments, {} bytes in {secs:.1} s.
   The agent cut the {cut} and sealed each segment straight into its upload;
   the sidecar went last, as the metadata segment. Each segment key is forgotten once sealed.
   Receipts: {} of {} verified under the vault key pinned at enrolment, so the original
   may now be deleted (obhut ingest --after delete; the demo keeps it).",
            out.recording,
            out.segments,
            clip.plaintext_len(),
            out.receipted.len(),
            out.segments
        ));
        self.result(format!("   recording {}", out.recording));
        Ok(Ingested {
            recording: out.recording,
            receipted: out.receipted,
        })
    }

    /// Step 6: the listing a reader sees, the records, and a scan of the
    /// vault's files for plaintext.
    pub(super) fn show_vault(
        &self,
        custody: &Custody,
        vault: &RunningVault,
        device: &Device,
        clip: &Clip,
        ingested: &Ingested,
    ) -> anyhow::Result<()> {
        self.heading(6, "What the vault holds");
        let reader = custody
            .custodians
            .first()
            .ok_or_else(|| fail("no custodians", "this is a bug in obhut; please report it"))?;
        self.rt.block_on(admin::add_reader(
            &vault.app.index,
            &*vault.app.clock,
            &reader.secret.public(),
            custody.group.group_id(),
        ))?;
        self.say(format!(
            "   The admin lets {0} read the group's recordings (obhut admin add-reader).
   GET /v1/recordings, signed by {0}, answers:",
            reader.name
        ));
        let vault_id = obhut_client::reader::vault_identity(&vault.app.log.verifier_key());
        let client = Reader::new(&vault.url, vault_id, &reader.secret.sign);
        let list = client.recordings()?;
        let shown = serde_json::to_string_pretty(&list).context("formatting the listing")?;
        for line in shown.lines() {
            self.say(format!("     {line}"));
        }
        let rid = ingested.recording.to_string();
        let ours = list
            .recordings
            .iter()
            .find(|r| r.recording_id == rid)
            .ok_or_else(|| {
                fail(
                    format!("the vault does not list recording {rid}"),
                    "this is a bug in obhut; please report it",
                )
            })?;
        self.say(format!(
            "   That is the whole index: ids, retention class, first capture rounded to the hour
   ({}), segment count and stored bytes ({} for {} bytes of plaintext).
   No file name, officer, place or tag.",
            time::show(ours.first_capture_hour_ms),
            ours.total_bytes,
            clip.plaintext_len()
        ));
        if !ours.complete
            || ours.device_key != hex::encode(device.secret.sign.verify_key().to_bytes())
        {
            return Err(fail(
                format!("the vault lists recording {rid} as incomplete or from another device"),
                "this is a bug in obhut; please report it",
            ));
        }

        let records = client.records(ingested.recording)?;
        let summary = obhut_core::chain::verify_chain(&records, &[custody.group.group_key()])
            .hint(
                format!("the records of recording {rid} do not verify"),
                "do not trust this vault with the footage; this is a bug or an attack",
            )?;
        let hashes: Vec<[u8; 32]> = records.iter().map(|r| r.record_hash()).collect();
        if hashes != ingested.receipted {
            return Err(fail(
                format!("the vault serves other records for {rid} than it signed receipts for"),
                "do not trust this vault with the footage; this is a bug or an attack",
            ));
        }
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for r in &records {
            let k = obhut_client::recording_dir::kind_name(r.header().fields.kind);
            match kinds.iter_mut().find(|(n, _)| *n == k) {
                Some((_, c)) => *c += 1,
                None => kinds.push((k, 1)),
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect();
        self.say(format!(
            "   GET …/records: {} records ({}), each signed by the camera,
   chained to the one before, its capsule proof valid for the pinned group, and the record
   a receipt names.",
            summary.segment_count,
            kinds.join(", ")
        ));

        let clip_bytes = std::fs::read(&clip.media)
            .with_context(|| format!("reading {}", clip.media.display()))?;
        let needles = Needles::new(clip_bytes, clip.strings.clone())?;
        let report = needles.scan(&[&vault.data, &vault.keys])?;
        let filler = match needles.filler_windows() {
            0 => String::new(),
            n => format!(" (and {n} runs of one repeated byte, not evidence, left out)"),
        };
        self.say(format!(
            "   Plaintext scan of every file under {} and {}:
     looked for every {}-byte window of the clip ({}){filler}
     and {} values from the sidecar (officer, unit, start time, GPS coordinates, tags)
     scanned {} files, {} bytes",
            self.rel(&vault.data),
            self.rel(&vault.keys),
            scan::WINDOW,
            needles.window_count(),
            needles.string_count(),
            report.files,
            report.bytes
        ));
        if !report.findings.is_empty() {
            for f in &report.findings {
                eprintln!(
                    "PLAINTEXT FOUND: {} at offset {} of {}",
                    f.what,
                    f.offset,
                    f.file.display()
                );
            }
            return Err(fail(
                format!(
                    "plaintext found in the vault's files ({} occurrence(s), listed above)",
                    report.findings.len()
                ),
                "this breaks Obhut's first promise; please report it with the list above",
            ));
        }
        if report.files == 0 || report.bytes == 0 {
            return Err(fail(
                "the vault's directories hold no files to scan",
                "this is a bug in obhut; please report it",
            ));
        }
        self.result("   no plaintext found");
        Ok(())
    }
}

/// Make the sample MP4 with ffmpeg; Err(why not) if ffmpeg is missing or fails.
fn make_mp4(path: &Path) -> Result<(), String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc=duration={CLIP_SECONDS}:size=640x360:rate=25"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={CLIP_SECONDS}"))
        .args([
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-keyint_min",
            "25",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("ffmpeg is not on PATH".to_owned())
        }
        Err(e) => Err(format!("cannot run ffmpeg: {e}")),
        Ok(o) if !o.status.success() => {
            let _ = std::fs::remove_file(path);
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("no message");
            Err(format!("ffmpeg failed ({}): {last}", o.status))
        }
        Ok(_) => Ok(()),
    }
}

/// The sample's GPS track: (seconds into the clip, latitude, longitude).
const GPS_TRACK: [(u32, &str, &str); 6] = [
    (0, "52.521918", "13.413215"),
    (5, "52.522104", "13.412760"),
    (10, "52.522297", "13.412318"),
    (15, "52.522471", "13.411862"),
    (20, "52.522650", "13.411409"),
    (25, "52.522836", "13.410952"),
];
const OFFICER: &str = "PC 4711 Erika Mustermann";
const UNIT: &str = "Abschnitt 32, Berlin-Mitte";
const TAGS: [&str; 3] = ["traffic-stop", "witness-statement", "alexanderplatz"];

/// The sidecar a dock would write beside the clip, and its values (with
/// labels) to look for in the vault.
fn sidecar_json() -> (String, Vec<(String, Vec<u8>)>) {
    let start = time::show(time::now_ms() - i64::from(CLIP_SECONDS) * 1000);
    let mut strings: Vec<(String, Vec<u8>)> = vec![
        ("the sidecar's officer".into(), OFFICER.into()),
        ("the sidecar's unit".into(), UNIT.into()),
        ("the sidecar's start time".into(), start.clone().into()),
    ];
    let mut track = Vec::new();
    for (i, (t, lat, lon)) in GPS_TRACK.iter().enumerate() {
        track.push(format!(
            "    {{\"t_s\": {t}, \"lat\": {lat}, \"lon\": {lon}}}"
        ));
        strings.push((
            format!("the sidecar's GPS latitude {i}"),
            lat.as_bytes().to_vec(),
        ));
        strings.push((
            format!("the sidecar's GPS longitude {i}"),
            lon.as_bytes().to_vec(),
        ));
    }
    for (i, tag) in TAGS.iter().enumerate() {
        strings.push((format!("the sidecar's tag {i}"), tag.as_bytes().to_vec()));
    }
    let tags: Vec<String> = TAGS.iter().map(|t| format!("\"{t}\"")).collect();
    let json = format!(
        "{{\n  \"officer\": \"{OFFICER}\",\n  \"unit\": \"{UNIT}\",\n  \"start\": \"{start}\",\n  \"gps\": [\n{}\n  ],\n  \"tags\": [{}]\n}}\n",
        track.join(",\n"),
        tags.join(", ")
    );
    (json, strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_is_json_holding_every_value_looked_for() {
        let (json, strings) = sidecar_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["officer"], OFFICER);
        assert_eq!(v["gps"].as_array().unwrap().len(), GPS_TRACK.len());
        assert_eq!(strings.len(), 3 + 2 * GPS_TRACK.len() + TAGS.len());
        for (label, s) in &strings {
            let s = std::str::from_utf8(s).unwrap();
            assert!(json.contains(s), "{label}: {s}");
            assert!(s.len() >= 9, "{label} is too short to be distinctive: {s}");
        }
    }
}
