//! Test certificates for the CLI's TLS tests, shared by `cli.rs` and
//! `serve_h2.rs`: made once per test binary with rcgen and written as PEM
//! files under the target's temporary directory.
#![allow(dead_code)] // each test binary uses some of them

/// A CA, a server certificate it signed for localhost / 127.0.0.1, and
/// a self-signed certificate nobody trusts; all as PEM files.
pub(crate) struct Pki {
    pub(crate) ca: String,
    pub(crate) cert: String,
    pub(crate) key: String,
    pub(crate) wrong_host_cert: String,
    pub(crate) wrong_host_key: String,
    /// The directory the files are in.
    pub(crate) dir: std::path::PathBuf,
}

pub(crate) fn pki() -> &'static Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("wsock-cli-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path.to_string_lossy().into_owned()
        };
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "wsock-cli test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: &[&str]| {
            let params =
                CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                    .unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (cert, key) = leaf(&["localhost", "127.0.0.1"]);
        let (wrong_cert, wrong_key) = leaf(&["example.com"]);
        Pki {
            ca: write("ca.pem", &ca.pem()),
            cert: write("cert.pem", &cert),
            key: write("key.pem", &key),
            wrong_host_cert: write("wrong-host-cert.pem", &wrong_cert),
            wrong_host_key: write("wrong-host-key.pem", &wrong_key),
            dir: dir.clone(),
        }
    })
}
