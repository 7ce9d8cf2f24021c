#!/usr/bin/env python3
"""Makes the SecretsKey known-answer vectors independently of qvca's Rust code.

For each root key (PKCS#8 PEM) in this folder it computes, with Python's hashlib/hmac
(RFC 5869 HKDF written out) and the `cryptography` package (PKCS#8 parsing, AES-256-GCM):

  spki = SubjectPublicKeyInfo DER of the key
  kid  = hex(SHA-256(spki)[:8])
  ikm  = RSA: PKCS#1 RSAPrivateKey DER;  ECDSA: the private scalar (big-endian, curve size)
  key  = HKDF-SHA256(salt=SHA-256(spki), ikm, info=b"qvca SecretsKey v1", L=32)
  token = "qvca:v1:<kid>:" + base64url_nopad(nonce || AES-256-GCM(key, nonce, plaintext,
          aad="qvca:v1:<kid>:<context>"))  with a fixed nonce, so the vector is reproducible

and writes vectors.json. Run: python3 make_vectors.py  (needs `pip install cryptography`).
"""
import base64, hashlib, hmac, json, pathlib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

here = pathlib.Path(__file__).parent


def hkdf_sha256(salt, ikm, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


vectors = []
for pem in sorted(here.glob("*-root-key.pem")):
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(key, rsa.RSAPrivateKey):
        ikm = key.private_bytes(serialization.Encoding.DER,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        ikm = key.private_numbers().private_value.to_bytes(size, "big")
    else:
        raise SystemExit(f"{pem}: unsupported key type")
    kid = hashlib.sha256(spki).digest()[:8].hex()
    secrets_key = hkdf_sha256(hashlib.sha256(spki).digest(), ikm, b"qvca SecretsKey v1", 32)
    context = "vector-context"
    plaintext = "Provider=SQLOLEDB;Data Source=QVDB01;Password=Tr0ub4dor&3 ✓"
    nonce = bytes(range(12))
    aad = f"qvca:v1:{kid}:{context}".encode()
    sealed = AESGCM(secrets_key).encrypt(nonce, plaintext.encode(), aad)
    token = f"qvca:v1:{kid}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    vectors.append({
        "root_key": pem.name,
        "kid": kid,
        "secrets_key_hex": secrets_key.hex(),
        "context": context,
        "plaintext": plaintext,
        "token": token,
    })

(here / "vectors.json").write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
print(json.dumps(vectors, indent=2, ensure_ascii=False))
