//! A test PKI generated with rcgen: a CA, server certificates (valid,
//! expired, for the wrong host, revoked) with the CA's revocation list, and
//! client certificates. Shared with the
//! adapters' TLS tests, which include this file with `#[path]`.
#![allow(dead_code, unreachable_pub)]

use std::sync::LazyLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber, date_time_ymd,
};
use wsock_tls::rustls::pki_types::CertificateDer;
use wsock_tls::{ClientTlsConfig, Pem, ServerTlsConfig, TlsAcceptor};

/// A certificate chain (leaf only) and its key, PEM.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Identity {
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new(
            Pem::bytes(self.cert_pem.clone()),
            Pem::bytes(self.key_pem.clone()),
        )
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.server_config().build().expect("server config")
    }
}

pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    /// localhost + 127.0.0.1 + ::1, signed by the CA.
    pub server: Identity,
    /// localhost, signed by the CA, expired in 2021.
    pub expired: Identity,
    /// example.com only, signed by the CA.
    pub wrong_host: Identity,
    /// Like `server` (localhost + 127.0.0.1 + ::1), but listed in `crl_pem`.
    pub revoked: Identity,
    /// The CA's certificate revocation list (PEM, `X509 CRL`): revokes
    /// `revoked` and nothing else.
    pub crl_pem: String,
    /// A client certificate (clientAuth), signed by the CA.
    pub client: Identity,
    /// A client certificate from another CA.
    pub foreign_client: Identity,
    /// That other CA (PEM): it signed `foreign_client` and nothing else.
    pub other_ca_pem: String,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    expired: bool,
) -> Identity {
    leaf_with_serial(issuer, names, purpose, expired, None)
}

fn leaf_with_serial(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    expired: bool,
    serial: Option<SerialNumber>,
) -> Identity {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![purpose];
    params.serial_number = serial;
    if expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

pub static PKI: LazyLock<Pki> = LazyLock::new(|| {
    let ca = new_ca("wsock test CA");
    let other_ca = new_ca("someone else's CA");
    let server_names = ["localhost", "127.0.0.1", "::1"];
    let revoked_serial = SerialNumber::from(0x5EED_u64);
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2024, 1, 1),
        next_update: date_time_ymd(2099, 1, 1),
        crl_number: SerialNumber::from(1_u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: revoked_serial.clone(),
            revocation_time: date_time_ymd(2024, 1, 1),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server: leaf(
            &ca,
            &server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        ),
        expired: leaf(
            &ca,
            &server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            true,
        ),
        wrong_host: leaf(
            &ca,
            &["example.com"],
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        ),
        revoked: leaf_with_serial(
            &ca,
            &server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
            Some(revoked_serial),
        ),
        crl_pem: crl.pem().unwrap(),
        client: leaf(
            &ca,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        ),
        foreign_client: leaf(
            &other_ca,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        ),
        other_ca_pem: other_ca.pem(),
    }
});

pub fn ca_pem() -> Pem {
    Pem::bytes(PKI.ca_pem.clone())
}

/// The CA's revocation list, which revokes `PKI.revoked`.
pub fn crl_pem() -> Pem {
    Pem::bytes(PKI.crl_pem.clone())
}

/// A client that trusts only the test CA.
pub fn trusting_client() -> ClientTlsConfig {
    ClientTlsConfig::new()
        .webpki_roots(false)
        .add_root_certificates(ca_pem())
}
