//! Steps 1–3 of the demo: the custody group, the vault, the camera.

use super::*;

impl Demo<'_> {
    /// Step 1: custodians' identities; the dealer ceremony; k signatures.
    pub(super) fn create_custody(&self) -> anyhow::Result<Custody> {
        self.heading(1, "Custodians and a 2-of-3 custody group");
        let dir = self.dir.join("custodians");
        mkdir(&dir)?;
        let mut custodians = Vec::new();
        let mut people: Vec<PublicIdentity> = Vec::new();
        for name in CUSTODIANS {
            let secret = PersonSecret::generate(&format!("{name} (custodian)"), &mut os_rng());
            let key = dir.join(format!("{name}.key"));
            let pub_path = write_demo_key(
                &key,
                Content::Person,
                &secret.to_secret_bytes(),
                &secret.public().to_bytes(),
            )?;
            // As `custody init` does: the dealer reads the public files.
            people.push(files::parse(
                &pub_path,
                "the demo's public identity",
                "a person's public identity",
                PublicIdentity::from_bytes,
            )?);
            self.say(format!(
                "   {name:<5}  {:<20}  fingerprint {}…",
                self.rel(&key),
                short(&secret.public().fingerprint().to_string())
            ));
            custodians.push(Custodian { name, secret, key });
        }
        self.say(format!(
            "   Each identity (obhut keygen person) is an Ed25519 signing key and an X-Wing
   (post-quantum) decryption key, locked with Argon2id ({} MiB) under a random demo
   passphrase stored beside it (NAME.pass). Real custodians choose their own passphrases
   and keep them away from their key files.",
            KDF.m_kib / 1024
        ));

        let dealt = custody::deal_to_dir(
            GROUP_NAME,
            THRESHOLD,
            &people,
            &self.dir.join("custody"),
            false,
        )?;
        self.say(format!(
            "   Dealer ceremony (obhut custody init): group \"{GROUP_NAME}\" {}",
            dealt.descriptor.group_id(),
        ));
        self.say(format!(
            "   Any {THRESHOLD} of the {} must approve to open footage. Each share is sealed to its
   custodian; the group secret is forgotten.",
            CUSTODIANS.len()
        ));
        for (c, share) in custodians
            .iter()
            .zip(&dealt.share_paths)
            .take(usize::from(THRESHOLD))
        {
            let (descriptor, envelope) = custody::read_for_signing(&dealt.group_path, share)?;
            let signed = custody::sign_and_write(
                &dealt.group_path,
                share,
                &c.key,
                descriptor,
                &envelope,
                &c.secret,
            )?;
            self.say(format!(
                "   {} checked share {} against the group's commitments and signed (obhut custody sign): {} of {}",
                c.name, signed.index, signed.valid, signed.threshold
            ));
        }
        let group = load::pinned_group(&dealt.group_path, "the demo's group descriptor")?;
        let fingerprint = descriptor_fingerprint(&group);
        self.say(format!(
            "   {} now pins. Group fingerprint (the custodians publish it; devices pin it):",
            self.rel(&dealt.group_path),
        ));
        self.result(format!("   {fingerprint}"));
        Ok(Custody {
            custodians,
            group,
            shares: dealt.share_paths.clone(),
            group_path: dealt.group_path,
            fingerprint,
        })
    }

    /// Step 2: the vault, in this process, as `obhut serve` runs it.
    pub(super) fn start_vault(&self) -> anyhow::Result<RunningVault> {
        self.heading(2, "A vault on the embedded store");
        let data = self.dir.join("vault/data");
        let keys = self.dir.join("vault/keys");
        let config = ServerConfig::from_layers(FileConfig {
            data: Some(data.clone()),
            keys: Some(keys.clone()),
            listen: Some("127.0.0.1:0".into()),
            ..FileConfig::default()
        })
        .context("the demo's vault configuration")?;
        if self.g.verbose > 0 {
            crate::util::logging::init_logging(self.g);
        }
        let vault = self
            .rt
            .block_on(Vault::open(config, Start::Init))
            .map_err(vault_error)?;
        let url = format!("http://{}", vault.addr());
        let app = vault.app().clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let run = vault.run(async move {
            // A dropped sender (the demo failed) stops the vault too.
            let _ = stop.await;
        });
        let task = self.rt.spawn(async move { run.await.map_err(vault_error) });
        let running = RunningVault {
            url,
            data,
            keys,
            app,
            shutdown,
            task,
        };
        self.say(format!(
            "   {}, served from this process by the code of `obhut serve`",
            running.url
        ));
        self.say(format!(
            "   data: {} (SQLite index, blobs)  keys: {} (receipt key, retention-epoch keys)",
            self.rel(&running.data),
            self.rel(&running.keys)
        ));
        let readyz = format!("{}/readyz", running.url);
        let (status, _) = reader::get_plain(&readyz)?;
        if status != 200 {
            return Err(fail(
                format!("GET {readyz} answered {status}: the vault is not ready"),
                "run again with -v to see the vault's log",
            ));
        }
        self.say("   GET /readyz: 200 (index and blob store answer)");
        Ok(running)
    }

    /// Step 3: a camera key, a token from the admin, enrolment pinning the
    /// group by its fingerprint.
    pub(super) fn enrol_device(
        &self,
        custody: &Custody,
        vault: &RunningVault,
    ) -> anyhow::Result<Device> {
        self.heading(3, "A camera enrols with the vault");
        let dir = self.dir.join("device");
        mkdir(&dir)?;
        let secret = DeviceSecret::generate(DEVICE_NAME, &mut os_rng());
        let key = dir.join("cam.key");
        write_demo_key(
            &key,
            Content::Device,
            &secret.to_secret_bytes(),
            &secret.public().to_bytes(),
        )?;
        self.say(format!(
            "   Camera \"{DEVICE_NAME}\": {} (obhut keygen device), device id {}…",
            self.rel(&key),
            short(&hex::encode(secret.sign.verify_key().to_bytes()))
        ));
        let token = Zeroizing::new(self.rt.block_on(admin::create_enrol_token(
            &vault.app.index,
            &*vault.app.clock,
            &custody.group,
            CLASS,
        ))?);
        self.say(format!(
            "   The admin made a one-time enrolment token for the group and class {CLASS}, valid 24 h
   (obhut admin enrol-token; the vault keeps only its hash; the token is a secret, not shown)."
        ));
        let state = StateDir::open_locked(dir.join("state")).map_err(agent_error)?;
        let enrolled = obhut_agent::enrol::enrol(
            &state,
            &vault.url,
            &token,
            &secret.sign,
            &key,
            &custody.fingerprint,
        )
        .map_err(enrol_error)?;
        drop(token);
        self.say(format!(
            "   The camera presented it (obhut enrol --group-fingerprint {}…) and got the group's
   descriptor; it pinned group {} only after checking
   that fingerprint and the signatures of custodians {:?}. It also pinned the vault's
   receipt key {}…",
            short(&custody.fingerprint.to_string()),
            enrolled.group,
            enrolled.signers,
            short(&hex::encode(enrolled.vault_key.to_bytes()))
        ));
        Ok(Device {
            secret,
            pass: key.with_extension("pass"),
            state,
        })
    }
}
