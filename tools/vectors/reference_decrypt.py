#!/usr/bin/env python3
"""Independent implementation of cloudlocker stored-file format v1, written
from docs/format.md alone, checked against test/vectors/format-v1.json.

It shows that the specification is sufficient for a compatible encryptor and
decryptor. Not part of the Node test run (it needs Python 3 and the
`cryptography` package):

    python3 tools/vectors/reference_decrypt.py [test/vectors/format-v1.json]
"""
import hashlib
import hmac
import json
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = bytes.fromhex("434c4b52000d0a1a")
HEADER_SIZE = 96
CHUNK_SIZE = 65536
TAG_SIZE = 16
STORED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
MAX_CHUNK_COUNT = 2**32


class FormatError(Exception):
    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt if salt else bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def key_id(master):
    return hkdf_sha256(master, b"", b"cloudlocker v1 key id", 16)


def file_keys(master, salt):
    return (
        hkdf_sha256(master, salt, b"cloudlocker v1 header", 32),
        hkdf_sha256(master, salt, b"cloudlocker v1 payload", 32),
    )


def nonce(index, final):
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def plaintext_size(stored_size):
    if stored_size < HEADER_SIZE + TAG_SIZE:
        raise FormatError("INTEGRITY", "too short")
    body = stored_size - HEADER_SIZE
    n = -(-body // STORED_CHUNK_SIZE)
    last = body - (n - 1) * STORED_CHUNK_SIZE
    if n > MAX_CHUNK_COUNT or (n > 1 and last < TAG_SIZE + 1):
        raise FormatError("INTEGRITY", "impossible size")
    return body - TAG_SIZE * n, n


def encrypt(master, salt, plaintext):
    header_mac_key, payload_key = file_keys(master, salt)
    header = MAGIC + b"\x01" + b"\x00\x00\x00" + struct.pack(">I", CHUNK_SIZE) + salt + key_id(master)
    header += hmac.new(header_mac_key, header, hashlib.sha256).digest()
    n = max(1, -(-len(plaintext) // CHUNK_SIZE))
    aead = AESGCM(payload_key)
    chunks = [
        aead.encrypt(nonce(i, i == n - 1), plaintext[i * CHUNK_SIZE:(i + 1) * CHUNK_SIZE], None)
        for i in range(n)
    ]
    return header + b"".join(chunks)


def decrypt(master, stored):
    if len(stored) < HEADER_SIZE:
        raise FormatError("INTEGRITY", "no complete header")
    header = stored[:HEADER_SIZE]
    if header[0:8] != MAGIC or header[8] != 1 or header[9:12] != b"\x00\x00\x00" or header[12:16] != b"\x00\x01\x00\x00":
        raise FormatError("INTEGRITY", "not a v1 header")
    if header[48:64] != key_id(master):
        raise FormatError("KEY_MISMATCH", "another key")
    header_mac_key, payload_key = file_keys(master, header[16:48])
    if not hmac.compare_digest(hmac.new(header_mac_key, header[:64], hashlib.sha256).digest(), header[64:96]):
        raise FormatError("INTEGRITY", "header MAC")
    size, n = plaintext_size(len(stored))
    aead = AESGCM(payload_key)
    out = []
    for i in range(n):
        start = HEADER_SIZE + i * STORED_CHUNK_SIZE
        end = len(stored) if i == n - 1 else start + STORED_CHUNK_SIZE
        try:
            out.append(aead.decrypt(nonce(i, i == n - 1), stored[start:end], None))
        except InvalidTag:
            raise FormatError("INTEGRITY", f"chunk {i}") from None
    plaintext = b"".join(out)
    assert len(plaintext) == size
    return plaintext


def stream_bytes(seed, length):
    out = b""
    i = 0
    while len(out) < length:
        out += hashlib.sha256(seed.encode() + struct.pack(">I", i)).digest()
        i += 1
    return out[:length]


def mutate(stored, mutations, other):
    b = bytearray(stored)
    for m in mutations:
        op = m["op"]
        if op == "xor":
            b[m["offset"]] ^= m["mask"]
        elif op == "set":
            b[m["offset"]] = m["value"]
        elif op == "truncate":
            del b[m["length"]:]
        elif op == "append":
            b += bytes.fromhex(m["hex"])
        elif op == "delete":
            del b[m["offset"]:m["offset"] + m["length"]]
        elif op == "insert-copy":
            b[m["at"]:m["at"]] = b[m["from"]:m["from"] + m["length"]]
        elif op == "swap":
            a, c, n = m["a"], m["b"], m["length"]
            b[a:a + n], b[c:c + n] = b[c:c + n], b[a:a + n]
        elif op == "overwrite-from":
            b[m["at"]:m["at"] + m["length"]] = other(m["vector"])[m["from"]:m["from"] + m["length"]]
        else:
            raise ValueError(op)
    return bytes(b)


def main(path):
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    keys = {name: bytes.fromhex(k["masterKey"]) for name, k in vectors["keys"].items()}
    for name, k in vectors["keys"].items():
        assert key_id(keys[name]).hex() == k["keyId"], name
    stored_by_name = {}
    for v in vectors["knownAnswer"]:
        plaintext = stream_bytes(v["plaintext"]["seed"], v["plaintext"]["length"])
        assert hashlib.sha256(plaintext).hexdigest() == v["plaintext"]["sha256"], v["name"]
        stored = encrypt(keys[v["key"]], bytes.fromhex(v["salt"]), plaintext)
        assert len(stored) == v["stored"]["length"], v["name"]
        assert hashlib.sha256(stored).hexdigest() == v["stored"]["sha256"], v["name"]
        assert decrypt(keys[v["key"]], stored) == plaintext, v["name"]
        stored_by_name[v["name"]] = stored
        print(f"ok   known answer {v['name']}")
    for v in vectors["failures"]:
        damaged = mutate(stored_by_name[v["base"]], v["mutations"], stored_by_name.__getitem__)
        assert hashlib.sha256(damaged).hexdigest() == v["stored"]["sha256"], v["name"]
        try:
            decrypt(keys[v["decryptWith"]], damaged)
        except FormatError as err:
            assert err.reason == v["expectedError"], (v["name"], err.reason)
            print(f"ok   failure {v['name']} -> {err.reason}")
            continue
        raise AssertionError(f"{v['name']} decrypted")
    print("all vectors agree")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/vectors/format-v1.json")
