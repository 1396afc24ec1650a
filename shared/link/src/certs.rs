//! Generates the operator's private CA and the two leaf certificates. Pure:
//! returns PEM text; the binaries write it to disk with tight permissions.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM text of a CA and of the server (gateway) and client (cloud) leaves.
pub struct CertBundle {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

/// A leaf for `name`, good for either end of a TLS handshake: the QUIC
/// connection's initiator is its TLS client, and with `link.direction:
/// nas-dials` the gateway initiates, so each certificate must serve both.
fn leaf(name: &str, issuer: &Issuer<'_, KeyPair>) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(vec![name.to_string()])?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A fresh CA (named after `org`) with a gateway certificate for
/// [`crate::SERVER_NAME`] and a cloud client certificate.
pub fn generate(org: &str) -> Result<CertBundle, rcgen::Error> {
    Ok(generate_many(org, 1)?.remove(0))
}

/// `n` bundles sharing one CA: the same names, other keys. What a CA that
/// signs for more than this pair looks like; the pins must tell them apart.
pub fn generate_many(org: &str, n: usize) -> Result<Vec<CertBundle>, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, format!("{org} hotcold CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);
    (0..n.max(1))
        .map(|_| {
            let (server_cert, server_key) = leaf(crate::SERVER_NAME, &issuer)?;
            let (client_cert, client_key) = leaf(crate::CLOUD_NAME, &issuer)?;
            Ok(CertBundle {
                ca_cert: ca_cert.pem(),
                ca_key: ca_key_pem.clone(),
                server_cert,
                server_key,
                client_cert,
                client_key,
            })
        })
        .collect()
}

/// A self-signed server certificate for `names` (host names or IP
/// addresses) and its key, as PEM: the HTTPS listener's.
pub fn self_signed(names: &[String]) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(names.to_vec())?;
    if let Some(n) = names.first() {
        p.distinguished_name.push(DnType::CommonName, n.clone());
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}
