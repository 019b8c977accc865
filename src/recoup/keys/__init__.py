"""The PII key's fingerprint, kept with the data it protects (issue 17 F15).

The first time the PII key is used against a database, its fingerprint (an HMAC of a fixed label
under the key, which reveals nothing about the key) is stored there. From then on recoup refuses
to start with another key — ciphertexts would become unreadable and lookup hashes would stop
matching — and refuses to generate a new key when the key file has gone missing.
"""
