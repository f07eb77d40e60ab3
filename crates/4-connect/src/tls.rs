//! TLS for server connections with rustls, following libpq's `sslmode` semantics (libpq
//! docs, "SSL Support", table "SSL Mode Descriptions").
//!
//! | sslmode | encrypted | chain checked | host name checked |
//! |---|---|---|---|
//! | disable | no | | |
//! | allow, prefer | if the server agrees | if a root file exists | no |
//! | require | yes | if a root file exists | no |
//! | verify-ca | yes | yes, root file required | no |
//! | verify-full | yes | yes, root file required | yes |
//!
//! The root file is `sslrootcert`, else `~/.postgresql/root.crt`; `sslrootcert=system` means
//! the operating system's trusted roots. Which of these a connection attempt uses, and the
//! `allow` retry, are decided in `attempt`; this module builds the rustls configuration.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{ConnParams, ConnectError};

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Try without TLS first, then with it.
    Allow,
    /// Try with TLS first, without it if the server refuses TLS.
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl FromStr for SslMode {
    type Err = ();
    fn from_str(s: &str) -> Result<SslMode, ()> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// How the server's certificate is checked, once the root file question is settled.
#[derive(Debug)]
enum Verify {
    /// Encryption only: any certificate is accepted (its handshake signature still must be
    /// valid, so the peer holds the key of the certificate it sent).
    Nothing,
    /// The chain must lead to a certificate of the root file; the name is checked only if
    /// `check_name` (verify-full).
    RootFile {
        certs: Vec<CertificateDer<'static>>,
        check_name: bool,
    },
    /// Chain to the system's roots, and host name (`sslrootcert=system`).
    System(RootCertStore),
}

/// Builds the connector for `params`. Called once per `connect`; cheap unless
/// `sslrootcert=system`, which reads the system store.
pub fn connector(params: &ConnParams) -> Result<MakeRustlsConnect, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verify = if params.sslmode == SslMode::Disable {
        Verify::Nothing
    } else {
        choose_verify(params)?
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("could not set up TLS"))?;
    let builder = match verify {
        Verify::System(roots) => builder.with_root_certificates(roots),
        Verify::RootFile { certs, check_name } => {
            let mut roots = RootCertStore::empty();
            for cert in &certs {
                roots
                    .add(cert.clone())
                    .map_err(tls_err("could not use a root certificate"))?;
            }
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(tls_err("could not use the root certificates"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(RootFile {
                    inner,
                    pinned: certs,
                    check_name,
                }))
        }
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert { provider })),
    };
    let config = match client_cert(params)? {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(tls_err("could not use the client certificate"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn tls_err<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> ConnectError {
    move |e| ConnectError::Tls {
        message: format!("{what}: {e}"),
    }
}

fn home_file(params: &ConnParams, name: &str) -> Option<PathBuf> {
    params
        .home
        .as_ref()
        .map(|h| h.join(".postgresql").join(name))
}

fn choose_verify(params: &ConnParams) -> Result<Verify, ConnectError> {
    if params.sslrootcert.as_deref() == Some("system") {
        // `resolve` already refused system roots with anything weaker than verify-full.
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(ConnectError::Tls {
                message: "could not load any trusted root certificate from the system store"
                    .to_string(),
            });
        }
        return Ok(Verify::System(roots));
    }
    let path = match &params.sslrootcert {
        Some(p) => Some(PathBuf::from(p)),
        None => home_file(params, "root.crt"),
    };
    let existing = path.as_ref().filter(|p| p.exists());
    let Some(path) = existing else {
        if params.sslmode.verifies() {
            return Err(ConnectError::MissingRootCert {
                path: path.unwrap_or_else(|| PathBuf::from("~/.postgresql/root.crt")),
            });
        }
        return Ok(Verify::Nothing);
    };
    // libpq checks the chain whenever a root file is present, whatever the sslmode.
    Ok(Verify::RootFile {
        certs: load_roots(path)?,
        check_name: params.sslmode == SslMode::VerifyFull,
    })
}

fn load_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConnectError> {
    let bad = |e: &dyn fmt::Display| ConnectError::Tls {
        message: format!(
            "could not read root certificate file \"{}\": {e}",
            path.display()
        ),
    };
    let mut roots = Vec::new();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.push(cert.map_err(|e| bad(&e))?);
    }
    if roots.is_empty() {
        return Err(bad(&"no certificates found"));
    }
    Ok(roots)
}

type ClientCert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate and key: given ones must load; the defaults under
/// `~/.postgresql` are used only if the certificate exists, as in libpq.
fn client_cert(params: &ConnParams) -> Result<Option<ClientCert>, ConnectError> {
    let cert_path = match &params.sslcert {
        Some(p) => p.clone(),
        None => match home_file(params, "postgresql.crt") {
            Some(p) if p.exists() => p,
            _ => return Ok(None),
        },
    };
    if !cert_path.exists() {
        // libpq quietly goes without a certificate when the file is absent.
        return Ok(None);
    }
    let key_path = match &params.sslkey {
        Some(p) => p.clone(),
        None => home_file(params, "postgresql.key").unwrap_or_default(),
    };
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConnectError::Tls {
            message: format!(
                "could not read certificate file \"{}\": {e}",
                cert_path.display()
            ),
        })?;
    let meta = std::fs::metadata(&key_path).map_err(|_| ConnectError::Tls {
        message: format!(
            "certificate present, but not private key file \"{}\"",
            key_path.display()
        ),
    })?;
    // libpq: 0600 or less for the owner's own file, 0640 or less if root owns it.
    let insecure = if meta.uid() == 0 {
        meta.mode() & 0o037 != 0
    } else {
        meta.mode() & 0o077 != 0
    };
    if !meta.is_file() || insecure {
        return Err(ConnectError::Tls {
            message: format!(
                "private key file \"{}\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
                key_path.display()
            ),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| ConnectError::Tls {
        message: format!(
            "could not load private key file \"{}\": {e}",
            key_path.display()
        ),
    })?;
    Ok(Some((certs, key)))
}

/// Checks a certificate against a root file, as OpenSSL does for libpq: the webpki chain
/// check, skipping the name for verify-ca and weaker modes. OpenSSL also accepts a
/// self-signed server certificate that is itself in the root file, which webpki refuses
/// when the certificate says it is a CA (`openssl req -x509` makes such certificates, and
/// PostgreSQL's docs use them); that case is checked here by hand: dates, then the name.
#[derive(Debug)]
struct RootFile {
    inner: Arc<WebPkiServerVerifier>,
    /// The root file's certificates, to recognise a server that sends one of them.
    pinned: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl ServerCertVerifier for RootFile {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            Ok(v) => Ok(v),
            // webpki checks the name last, so reaching this error means the chain is good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            Err(e) => {
                if !self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref())
                {
                    return Err(e);
                }
                check_dates(end_entity, now)?;
                if self.check_name {
                    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                }
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificate's validity period must include `now`.
fn check_dates(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    use x509_cert::der::Decode;
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).map_err(|_| bad())?;
    let validity = &parsed.tbs_certificate.validity;
    let now = now.as_secs();
    if now < validity.not_before.to_unix_duration().as_secs() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > validity.not_after.to_unix_duration().as_secs() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// sslmode=require without a root file: libpq encrypts but trusts any certificate.
#[derive(Debug)]
struct AnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnParams, ConnectRequest};

    fn params(dbname: &str, home: &Path) -> ConnParams {
        let req = ConnectRequest {
            dbname: Some(dbname.to_string()),
            user: Some("u".into()),
            ..Default::default()
        };
        let home = home.to_string_lossy().into_owned();
        let env = move |k: &str| (k == "HOME").then(|| home.clone());
        match ConnParams::resolve(&req, &env) {
            Ok(p) => p,
            Err(e) => panic!("{dbname}: {e}"),
        }
    }

    #[test]
    fn modes_round_trip() {
        for s in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(
                s.parse::<SslMode>().map(|m| m.to_string()).as_deref(),
                Ok(s)
            );
        }
        assert!("on".parse::<SslMode>().is_err());
    }

    #[test]
    fn verify_modes_need_a_root_file() {
        let home = tempfile::tempdir().expect("temp dir");
        for mode in ["verify-ca", "verify-full"] {
            let p = params(&format!("host=h sslmode={mode}"), home.path());
            let e = connector(&p).err().expect("fails");
            assert!(matches!(e, ConnectError::MissingRootCert { .. }), "{e}");
            let expected = home.path().join(".postgresql/root.crt");
            assert_eq!(
                e.to_string(),
                format!(
                    "root certificate file \"{}\" does not exist",
                    expected.display()
                )
            );
            assert!(e.hint().is_some());
        }
        for mode in ["disable", "allow", "prefer", "require"] {
            let p = params(&format!("host=h sslmode={mode}"), home.path());
            assert!(connector(&p).is_ok(), "{mode}");
        }
    }

    #[test]
    fn unreadable_root_file_is_an_error() {
        let home = tempfile::tempdir().expect("temp dir");
        let root = home.path().join("root.pem");
        std::fs::write(&root, "not a certificate\n").expect("write");
        let p = params(
            &format!("host=h sslmode=verify-ca sslrootcert={}", root.display()),
            home.path(),
        );
        let e = connector(&p).err().expect("fails");
        assert!(
            e.to_string()
                .starts_with("could not read root certificate file"),
            "{e}"
        );
    }
}
