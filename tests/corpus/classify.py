#!/usr/bin/env python3
"""Decides which files of a corpus directory Python `cryptography` loads, and as what.

Usage: classify.py DIR...  Prints one line per file that cryptography loads:
    KIND<TAB>PASSWORD<TAB>PATH
KIND is certificate, crl, request or pkcs12; PASSWORD is "-" for none, otherwise the password
that opened the PKCS#12 file (pyca's vectors use "cryptography", NIST's PKITS files "password";
an empty password is printed as "<empty>"). Files cryptography does not load are not printed:
the judge of "a real file" is cryptography, not qvca.
"""
import os
import warnings
import sys

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

PASSWORDS = [None, b"cryptography", b"password", b""]


def loads_pkcs12(data):
    for password in PASSWORDS:
        try:
            pkcs12.load_pkcs12(data, password)
        except Exception:
            continue
        if password is None:
            return "-"
        return password.decode() if password else "<empty>"
    return None


def classify(data):
    pem = b"-----BEGIN" in data
    tries = []
    if pem:
        tries = [
            ("certificate", lambda d: x509.load_pem_x509_certificates(d)),
            ("crl", x509.load_pem_x509_crl),
            ("request", x509.load_pem_x509_csr),
        ]
    else:
        tries = [
            ("certificate", x509.load_der_x509_certificate),
            ("crl", x509.load_der_x509_crl),
            ("request", x509.load_der_x509_csr),
        ]
    for kind, load in tries:
        try:
            load(data)
            return kind, "-"
        except Exception:
            pass
    if not pem:
        password = loads_pkcs12(data)
        if password is not None:
            return "pkcs12", password
    return None


def main():
    warnings.simplefilter("ignore")
    for top in sys.argv[1:]:
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    data = f.read()
                found = classify(data)
                if found:
                    print(f"{found[0]}\t{found[1]}\t{path}")


if __name__ == "__main__":
    main()
