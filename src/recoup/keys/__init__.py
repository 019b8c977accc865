"""The PII key's fingerprint, kept with the data it protects (issue 17 F15), and its rotation.

The first time the PII key is used against a database, its fingerprint (an HMAC of a fixed label
under the key, which reveals nothing about the key) is stored there. From then on recoup refuses
to start with another key — ciphertexts would become unreadable and lookup hashes would stop
matching — and refuses to generate a new key when the key file has gone missing. The key is changed
only by ``recoup pii rotate-key`` (:mod:`recoup.keys.rotation`), which re-encrypts the data, retires
the old key and switches the recorded fingerprint.
"""
