"""The studio's signing certificate for Content Credentials: found, read and checked.

Review media are signed with an end-entity certificate that a CA of the studio issued (C2PA
refuses a self-signed one): ``--sign-cert`` (PEM: that certificate first, then the CAs above
it) and ``--sign-key`` (its private key, unencrypted PEM), else the files that
``$FACEPLATE_SIGN_CERT`` and ``$FACEPLATE_SIGN_KEY`` name. ``$FACEPLATE_SIGN_TRUST`` (PEM of
the studio's root CAs) makes a check of signed media require a certificate they issued.
Nothing is fetched from the network: no timestamp authority, no revocation lookups.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import FaceplateError

CERT_ENV = "FACEPLATE_SIGN_CERT"
KEY_ENV = "FACEPLATE_SIGN_KEY"
TRUST_ENV = "FACEPLATE_SIGN_TRUST"
_CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
# What C2PA's certificate profile asks of a signing certificate beyond a CA's signature.
_REQUIRED = ((x509.ExtendedKeyUsage, "an extended key usage (emailProtection)"),
             (x509.AuthorityKeyIdentifier, "an authority key identifier"))


class CertificateError(FaceplateError):
    """The signing certificate or key cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class SigningCertificate:
    chain: bytes  # PEM: the signing certificate, then the CAs that issued it
    key: bytes  # PEM private key of the signing certificate
    alg: str  # C2PA's name of the signature: es256, es384, es512, ps256 or ed25519
    subject: str  # who signs, as the certificate names them


def signing_certificate(cert_path: str | None = None,
                        key_path: str | None = None) -> SigningCertificate | None:
    """The certificate the paths name, else the environment's; None when neither names one."""
    cert_path = cert_path or os.environ.get(CERT_ENV)
    key_path = key_path or os.environ.get(KEY_ENV)
    if not cert_path and not key_path:
        return None
    if not cert_path or not key_path:
        raise CertificateError(f"give both the signing certificate and its key (--sign-cert and "
                               f"--sign-key, or ${CERT_ENV} and ${KEY_ENV})")
    return load_certificate(cert_path, key_path)


def load_certificate(cert_path: str, key_path: str) -> SigningCertificate:
    """Read and check a certificate chain and its key (PEM files)."""
    chain, key_pem = _read(cert_path, "signing certificate"), _read(key_path, "signing key")
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        raise CertificateError(f"{cert_path} is not a PEM certificate chain (it should hold "
                               "-----BEGIN CERTIFICATE----- blocks, the signing one first)") \
            from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CertificateError(f"{key_path} is encrypted: give the key unencrypted, readable "
                               "by the signing account only") from None
    except ValueError:
        raise CertificateError(f"{key_path} is not a PEM private key") from None
    subject = leaf.subject.rfc4514_string()
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise CertificateError(f"the key {key_path} does not belong to the certificate "
                               f"{cert_path} ({subject})")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise CertificateError(f"the certificate {cert_path} ({subject}) is valid from "
                               f"{leaf.not_valid_before_utc:%Y-%m-%d} to "
                               f"{leaf.not_valid_after_utc:%Y-%m-%d}, not today: ask the "
                               "studio for a current one")
    if leaf.issuer == leaf.subject:
        raise CertificateError(f"the certificate {cert_path} ({subject}) is self-signed: C2PA "
                               "needs one a CA issued, with that CA after it in the file")
    present = {type(e.value) for e in leaf.extensions}
    lacking = [what for kind, what in _REQUIRED if kind not in present]
    if lacking:
        raise CertificateError(f"the certificate {cert_path} ({subject}) cannot sign Content "
                               f"Credentials: it lacks {' and '.join(lacking)}")
    return SigningCertificate(chain, key_pem, _algorithm(key, key_path), subject)


def studio_trust(path: str | None = None) -> str | None:
    """The PEM root CAs signed media must chain to (``path``, else ``$FACEPLATE_SIGN_TRUST``);
    None when neither is set (then any CA's signature is accepted as valid)."""
    path = path or os.environ.get(TRUST_ENV)
    return _read(path, "trusted CA list").decode("ascii", "replace") if path else None


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CertificateError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _algorithm(key, key_path: str) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        return _CURVES[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CertificateError(f"the key {key_path} is of a kind C2PA does not sign with: use "
                           "EC P-256/P-384/P-521, RSA or Ed25519")
