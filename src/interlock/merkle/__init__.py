"""Merkle tree hashing, proofs and signed checkpoints: pure functions and values over bytes.

They sit below the store, which advances the tree's frontier inside the same transaction that appends
the leaves and keeps the signed checkpoints; the audit log builds its records, proofs and checks on them.
"""
